/**
 * Debian's real cloud kernel, fetched with `apt-get download` (network, 27 MB)
 * into the cache the VM tests share ($VIRTFUN_VM_CACHE, else
 * $TMPDIR/virtfun-vm-cache) when it is not there yet. The same code against
 * a stand-in apt-get and synthetic packages, offline, is in modules.unit.spec.ts.
 */
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { debianKernel, kernelFromPath, moduleDepends, resolveModules } from '../../src/vm/index.js';

const CACHE = process.env.VIRTFUN_VM_CACHE ?? join(tmpdir(), 'virtfun-vm-cache');

describe("Debian's cloud kernel", () => {
  it('(fetched into the cache when missing): virtio_console and virtio_pci load order', async () => {
    const kernel = await debianKernel({ cacheDir: CACHE });
    const got = await resolveModules(kernel.modulesDir!, ['virtio_console', 'virtio_pci']);
    const names = got.map((m) => m.name);
    expect(names.slice(-1)).toEqual(['virtio_pci']);
    for (const m of ['virtio_ring', 'virtio', 'virtio_console', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev']) expect(names).toContain(m);
    // Every module after the modules it depends on (whichever order the kernel's own dependencies
    // leave free: virtio and virtio_ring depend on each other in some releases, not in others).
    for (const m of got)
      for (const dep of moduleDepends(await readFile(m.path))) expect(names.indexOf(dep), `${dep} before ${m.name}`).toBeLessThan(names.indexOf(m.name));
    expect(moduleDepends(await readFile(got.find((m) => m.name === 'virtio_pci')!.path)).sort()).toEqual(
      ['virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_ring'],
    );
  });

  it('kernelFromPath reads the release it was fetched as', async () => {
    const k = await debianKernel({ cacheDir: CACHE });
    await expect(kernelFromPath(k.vmlinuz, k.modulesDir)).resolves.toEqual(k);
  });
});
