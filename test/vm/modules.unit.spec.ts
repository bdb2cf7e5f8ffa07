import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError, VirtFunError } from '../../src/errors.js';
import {
  bzImageRelease,
  cachedDebianKernel,
  debianKernel,
  kernelFromPath,
  moduleDepends,
  moduleName,
  pickImage,
  readModinfo,
  resolveModules,
} from '../../src/vm/index.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vfun-mods-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

let n = 0;
/** A modules directory of synthetic .ko files: just the NUL-separated strings a .modinfo section holds. */
async function modulesDir(deps: Record<string, string[]>, opts: { builtin?: string[]; sub?: (m: string) => string } = {}): Promise<string> {
  const dir = join(work, `m${n++}`, 'lib', 'modules', '9.9.9');
  for (const [m, d] of Object.entries(deps)) {
    const sub = join(dir, 'kernel', opts.sub?.(m) ?? 'drivers');
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, `${m}.ko`), modinfoBlob({ license: 'GPL', depends: d.join(','), name: moduleName(m) }));
  }
  await mkdir(join(dir, 'kernel'), { recursive: true });
  if (opts.builtin) await writeFile(join(dir, 'modules.builtin'), opts.builtin.map((b) => `kernel/drivers/${b}.ko\n`).join(''));
  return dir;
}

function modinfoBlob(fields: Record<string, string>): Buffer {
  return Buffer.from('\0' + Object.entries(fields).map(([k, v]) => `${k}=${v}\0`).join(''), 'latin1');
}

/**
 * A minimal ELF64 little-endian relocatable file with sections .modinfo,
 * .decoy (holding a misleading depends= string) and .shstrtab.
 */
function elfModule(modinfo: Buffer, decoy: Buffer): Buffer {
  const shstrtab = Buffer.from('\0.modinfo\0.decoy\0.shstrtab\0', 'latin1');
  const names = { modinfo: 1, decoy: 10, shstrtab: 17 };
  const dataOff = 64;
  const decoyOff = dataOff;
  const modinfoOff = decoyOff + decoy.length;
  const strOff = modinfoOff + modinfo.length;
  const shoff = Math.ceil((strOff + shstrtab.length) / 8) * 8;
  const b = Buffer.alloc(shoff + 4 * 64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2; // ELFCLASS64
  b[5] = 1; // little-endian
  b[6] = 1;
  b.writeUInt16LE(1, 0x10); // ET_REL
  b.writeUInt16LE(62, 0x12); // x86-64
  b.writeUInt32LE(1, 0x14);
  b.writeBigUInt64LE(BigInt(shoff), 0x28);
  b.writeUInt16LE(64, 0x34);
  b.writeUInt16LE(64, 0x3a);
  b.writeUInt16LE(4, 0x3c);
  b.writeUInt16LE(3, 0x3e);
  decoy.copy(b, decoyOff);
  modinfo.copy(b, modinfoOff);
  shstrtab.copy(b, strOff);
  const section = (i: number, name: number, type: number, off: number, size: number) => {
    const o = shoff + i * 64;
    b.writeUInt32LE(name, o);
    b.writeUInt32LE(type, o + 4);
    b.writeBigUInt64LE(BigInt(off), o + 0x18);
    b.writeBigUInt64LE(BigInt(size), o + 0x20);
  };
  section(1, names.decoy, 1, decoyOff, decoy.length);
  section(2, names.modinfo, 1, modinfoOff, modinfo.length);
  section(3, names.shstrtab, 3, strOff, shstrtab.length);
  return b;
}

describe('module metadata', () => {
  it('moduleName treats - and _ alike and drops .ko suffixes', () => {
    expect(moduleName('virtio-pci')).toBe('virtio_pci');
    expect(moduleName('virtio-rng.ko')).toBe('virtio_rng');
    expect(moduleName('x-y.ko.gz')).toBe('x_y');
  });

  it('reads depends= from the ELF .modinfo section, not from other sections', () => {
    const ko = elfModule(modinfoBlob({ depends: 'virtio_ring,virtio-pci-modern-dev', name: 'm' }), modinfoBlob({ depends: 'decoy' }));
    expect(moduleDepends(ko)).toEqual(['virtio_ring', 'virtio_pci_modern_dev']);
    expect(readModinfo(ko).get('name')).toEqual(['m']);
  });

  it('scans a non-ELF blob; empty depends= means none', () => {
    expect(moduleDepends(modinfoBlob({ depends: '' }))).toEqual([]);
    expect(moduleDepends(modinfoBlob({ license: 'GPL' }))).toEqual([]);
    expect(moduleDepends(modinfoBlob({ depends: 'a,b' }))).toEqual(['a', 'b']);
  });
});

describe('resolveModules', () => {
  it('orders dependencies first, each module once, for several requested names', async () => {
    const dir = await modulesDir({
      virtio_ring: [],
      virtio: ['virtio_ring'],
      virtio_console: ['virtio', 'virtio_ring'],
      virtio_pci_modern_dev: [],
      virtio_pci_legacy_dev: [],
      virtio_pci: ['virtio_ring', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio'],
    });
    const got = await resolveModules(dir, ['virtio_console', 'virtio-pci', 'virtio']);
    expect(got.map((m) => m.name)).toEqual(['virtio_ring', 'virtio', 'virtio_console', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci']);
    expect(got.every((m) => m.path.startsWith(join(dir, 'kernel')) && m.path.endsWith(`${m.name}.ko`))).toBe(true);
  });

  it('finds modules anywhere under kernel/ whatever their - or _ spelling', async () => {
    const dir = await modulesDir({ 'virtio-rng': ['virtio_ring'], virtio_ring: [] }, { sub: (m) => (m === 'virtio_ring' ? 'drivers/virtio' : 'drivers/char/hw_random') });
    const got = await resolveModules(dir, ['virtio_rng']);
    expect(got.map((m) => m.name)).toEqual(['virtio_ring', 'virtio_rng']);
    expect(got[1]!.path).toContain('drivers/char/hw_random/virtio-rng.ko');
  });

  it('names a missing module and who needed it', async () => {
    const dir = await modulesDir({ a: ['b'], b: ['gone'] });
    await expect(resolveModules(dir, ['a'])).rejects.toThrow(/kernel module gone \(needed by b\) not found/);
    await expect(resolveModules(dir, ['nothere'])).rejects.toThrow(/kernel module nothere not found/);
  });

  it('skips built-in modules and refuses cycles', async () => {
    const dir = await modulesDir({ a: ['virtio'], c1: ['c2'], c2: ['c1'] }, { builtin: ['virtio'] });
    expect((await resolveModules(dir, ['a', 'virtio'])).map((m) => m.name)).toEqual(['a']);
    await expect(resolveModules(dir, ['c1'])).rejects.toThrow(/depends on itself/);
  });

  it('reads .ko.gz and refuses .ko.xz by name', async () => {
    const dir = await modulesDir({ plain: ['zipped'] });
    await writeFile(join(dir, 'kernel', 'drivers', 'zipped.ko.gz'), gzipSync(modinfoBlob({ depends: 'xzed' })));
    await writeFile(join(dir, 'kernel', 'drivers', 'xzed.ko.xz'), 'not really xz');
    await expect(resolveModules(dir, ['plain'])).rejects.toThrow(/xzed\.ko\.xz: xz\/zstd-compressed modules are not supported/);
  });

  const dag = fc.integer({ min: 1, max: 12 }).chain((count) =>
    fc.tuple(
      // module i may depend only on modules with a smaller index: acyclic
      fc.tuple(...Array.from({ length: count }, (_, i) => fc.subarray(Array.from({ length: i }, (_, j) => j)))),
      fc.subarray(Array.from({ length: count }, (_, j) => j), { minLength: 1 }),
    ),
  );
  test.prop([dag], { numRuns: 25 })('any acyclic graph: the closure of the request, each once, every module after its dependencies', async ([deps, wanted]) => {
    const name = (i: number) => `mod_${i}`;
    const dir = await modulesDir(Object.fromEntries(deps.map((d, i) => [name(i), d.map(name)])));
    const got = (await resolveModules(dir, wanted.map(name))).map((m) => m.name);
    const closure = new Set<string>();
    const add = (i: number): void => {
      if (closure.has(name(i))) return;
      closure.add(name(i));
      deps[i]!.forEach(add);
    };
    wanted.forEach(add);
    expect(new Set(got)).toEqual(closure);
    expect(got.length).toBe(closure.size);
    deps.forEach((d, i) => {
      if (!closure.has(name(i))) return;
      for (const j of d) expect(got.indexOf(name(j))).toBeLessThan(got.indexOf(name(i)));
    });
  });
});

// ---------------------------------------------------------------------------
// kernel.ts: Debian packages through a stand-in apt-get (offline), explicit kernels.

/** Bytes that look like the start of an x86 bzImage whose version string starts with `release`. */
function fakeBzImage(release: string): Buffer {
  const b = Buffer.alloc(0x1000);
  b.write('HdrS', 0x202, 'latin1');
  b.writeUInt16LE(0x300, 0x20e); // version string at 0x200 + 0x300
  b.write(`${release} (debian-kernel@lists.debian.org) #1 SMP\0`, 0x500, 'latin1');
  return b;
}

describe('kernel', () => {
  let debs: string;
  let fakeBin: string;
  let calls: string;
  const savedPath = process.env.PATH;

  beforeAll(async () => {
    debs = join(work, 'debs');
    fakeBin = join(work, 'fakebin');
    calls = join(work, 'apt-calls');
    await mkdir(debs, { recursive: true });
    await mkdir(fakeBin, { recursive: true });
    const build = async (pkg: string, version: string, control: string, files: Record<string, Buffer | string>) => {
      const root = join(work, 'deb-src', pkg);
      await mkdir(join(root, 'DEBIAN'), { recursive: true });
      await writeFile(join(root, 'DEBIAN', 'control'), `Package: ${pkg}\nVersion: ${version}\nArchitecture: amd64\nMaintainer: t <t@example.org>\nDescription: test\n${control}`);
      for (const [p, data] of Object.entries(files)) {
        await mkdir(join(root, p, '..'), { recursive: true });
        await writeFile(join(root, p), data);
      }
      execFileSync('dpkg-deb', ['--build', '-Zgzip', root, join(debs, `${pkg}_${version}_amd64.deb`)], { stdio: 'ignore' });
    };
    await build('linux-image-9.9.9-fake', '9.9.9-1', '', {
      'boot/vmlinuz-9.9.9-fake': fakeBzImage('9.9.9-fake'),
      'lib/modules/9.9.9-fake/kernel/drivers/virtio/virtio_ring.ko': modinfoBlob({ depends: '' }),
    });
    await build('linux-image-fake-meta', '9.9.9-1', 'Depends: linux-image-9.9.9-fake (= 9.9.9-1) | linux-image-other\n', {});
    await build('linux-image-nothing', '1', 'Depends: libc6\n', {});
    // apt-get download <pkg>: copy the .deb into the cwd after a pause (so concurrent callers overlap).
    await writeFile(
      join(fakeBin, 'apt-get'),
      `#!/bin/sh\nfor a; do pkg=$a; done\necho "$pkg" >> ${calls}\nsleep 0.2\nfor f in ${debs}/"$pkg"_*.deb; do\n  [ -e "$f" ] || { echo "E: Unable to locate package $pkg" >&2; exit 100; }\n  cp "$f" .\ndone\n`,
    );
    await chmod(join(fakeBin, 'apt-get'), 0o755);
    process.env.PATH = `${fakeBin}:${savedPath ?? '/usr/bin:/bin'}`;
  });
  afterAll(() => {
    process.env.PATH = savedPath;
  });

  const aptCalls = async () => (await readFile(calls, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');

  it('follows a metapackage to its image, unpacks it, and reuses the cache without apt-get', async () => {
    const cacheDir = join(work, 'cache1');
    const log: string[] = [];
    const k = await debianKernel({ cacheDir, package: 'linux-image-fake-meta', log: (l) => log.push(l) });
    expect(k.release).toBe('9.9.9-fake');
    expect(k.vmlinuz).toBe(join(cacheDir, 'linux-image-9.9.9-fake_9.9.9-1', 'boot', 'vmlinuz-9.9.9-fake'));
    expect(k.modulesDir).toBe(join(cacheDir, 'linux-image-9.9.9-fake_9.9.9-1', 'lib', 'modules', '9.9.9-fake'));
    expect(log.join('\n')).toMatch(/metapackage for linux-image-9\.9\.9-fake/);
    expect((await resolveModules(k.modulesDir!, ['virtio_ring'])).map((m) => m.name)).toEqual(['virtio_ring']);

    const before = (await aptCalls()).length;
    await expect(debianKernel({ cacheDir, package: 'linux-image-fake-meta' })).resolves.toEqual(k);
    expect((await aptCalls()).length).toBe(before);
    await expect(cachedDebianKernel({ cacheDir, package: 'linux-image-fake-meta' })).resolves.toEqual(k);
    // No temp directories or .debs left behind.
    expect((await readdir(cacheDir)).sort()).toEqual(['linux-image-9.9.9-fake_9.9.9-1', 'linux-image-fake-meta.json']);
  });

  it('two processes racing on an empty cache both get the same whole tree', async () => {
    const cacheDir = join(work, 'cache-race');
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => debianKernel({ cacheDir, package: 'linux-image-fake-meta' })));
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect((await readdir(cacheDir)).sort()).toEqual(['linux-image-9.9.9-fake_9.9.9-1', 'linux-image-fake-meta.json']);
  });

  it('says how to go on when the package is unknown or holds no kernel', async () => {
    const unknown = await debianKernel({ cacheDir: join(work, 'c2'), package: 'linux-image-missing' }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(VirtFunError);
    expect((unknown as Error).message).toMatch(/apt-get download linux-image-missing failed \(unknown package: run `apt-get update` first\?\).*or pass --kernel/);
    await expect(debianKernel({ cacheDir: join(work, 'c3'), package: 'linux-image-nothing' })).rejects.toThrow(/depends on no linux-image-\* package.*--kernel/);
    await expect(debianKernel({ cacheDir: join(work, 'c4'), package: 'Bad Name' })).rejects.toBeInstanceOf(ValidationError);
  });

  it('says to install apt-get or pass --kernel when apt-get is missing', async () => {
    process.env.PATH = join(work, 'empty-path');
    try {
      await expect(debianKernel({ cacheDir: join(work, 'c5') })).rejects.toThrow(/apt-get not found: .*or pass --kernel/);
    } finally {
      process.env.PATH = `${fakeBin}:${savedPath ?? '/usr/bin:/bin'}`;
    }
  });

  it('pickImage takes the first linux-image-* alternative', () => {
    expect(pickImage('linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)')).toBe('linux-image-6.1.0-56-cloud-amd64');
    expect(pickImage('initramfs-tools | linux-initramfs-tool, linux-image-x:amd64 (>= 1)')).toBe('linux-image-x');
    expect(pickImage('libc6')).toBeUndefined();
  });

  it('kernelFromPath reads the release from the bzImage header and checks the modules directory', async () => {
    const vmlinuz = join(work, 'vmlinuz-custom');
    await writeFile(vmlinuz, fakeBzImage('7.7.7-custom'));
    expect(bzImageRelease(await readFile(vmlinuz))).toBe('7.7.7-custom');
    const mods = await modulesDir({ a: [] });
    await expect(kernelFromPath(vmlinuz, mods)).resolves.toEqual({ release: '7.7.7-custom', vmlinuz, modulesDir: mods });
    await expect(kernelFromPath(vmlinuz)).resolves.toEqual({ release: '7.7.7-custom', vmlinuz });
    await expect(kernelFromPath(vmlinuz, work)).rejects.toThrow(/has no kernel\/ directory/);
    const text = join(work, 'not-a-kernel');
    await writeFile(text, 'hello');
    await expect(kernelFromPath(text)).rejects.toThrow(/not an x86 kernel image/);
    await expect(kernelFromPath(join(work, 'absent'))).rejects.toBeInstanceOf(ValidationError);
  });
});
