/**
 * A real guest: Debian's cloud kernel (downloaded once into a cache shared by
 * test files and runs), a busybox initramfs, QEMU under TCG with an ivshmem
 * window and a virtio-serial port. Not skipped when QEMU is missing: runVm
 * then fails with the command that installs it (CI installs it).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildInitramfs, debianKernel, EXIT_MARKER, INSMOD_FAILED_MARKER, runVm, type GuestKernel } from '../../src/vm/index.js';

const CACHE = process.env.VIRTFUN_VM_CACHE ?? join(tmpdir(), 'virtfun-vm-cache');
const WINDOW_BYTES = 4 << 20;

let work: string;
let kernel: GuestKernel;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vfun-boot-'));
  kernel = await debianKernel({ cacheDir: CACHE });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A Unix socket listener standing in for the host end of a port: everything received, and when the peer closed. */
async function listen(path: string): Promise<{ server: Server; received: () => string; closed: Promise<void> }> {
  let data = '';
  let onClosed!: () => void;
  const closed = new Promise<void>((resolve) => (onClosed = resolve));
  const server = createServer((sock) => {
    sock.on('data', (d: Buffer) => (data += d.toString()));
    sock.on('close', onClosed);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  return { server, received: () => data, closed };
}

describe('a real guest under TCG', () => {
  it('boots, finds the ivshmem window and the named port, reads and writes the window, writes to the port, exits 0', async () => {
    const magic = randomBytes(4).readUInt32LE(0) | 1;
    const reply = (magic ^ 0xa5a5a5a5) >>> 0;
    const hex = (n: number) => `0x${n.toString(16).toUpperCase().padStart(8, '0')}`;

    const windowPath = join(work, 'window.shm');
    const fh = await open(windowPath, 'w+');
    await fh.truncate(WINDOW_BYTES);
    const m = Buffer.alloc(4);
    m.writeUInt32LE(magic >>> 0);
    await fh.write(m, 0, 4, 0);
    await fh.close();

    const control = await listen(join(work, 'control.sock'));
    const initrd = join(work, 'initrd.gz');
    await buildInitramfs({
      out: initrd,
      kernel,
      modules: ['virtio_console', 'virtio_pci'],
      files: [],
      payload: `
dev=
for d in /sys/bus/pci/devices/*; do
  [ "$(cat $d/vendor):$(cat $d/device)" = "0x1af4:0x1110" ] && dev=$d
done
[ -n "$dev" ] || { echo "no ivshmem device"; exit 10; }
set -- $(sed -n 3p $dev/resource)
echo "TEST-BAR2 $1 $2"
echo "TEST-MAGIC $(devmem $1 32)"
devmem $(( $1 + 4 )) 32 ${hex(reply)}
port=$(vfun_port vfun.control) || exit 11
echo "TEST-PORT $port"
echo "hello from the guest on $port" > $port
exit 0
`,
    });

    const run = await runVm(
      {
        kernel: kernel.vmlinuz,
        initrd,
        window: { path: windowPath, bytes: WINDOW_BYTES },
        ports: [{ name: 'vfun.control', socketPath: join(work, 'control.sock') }],
      },
      { accel: 'tcg', timeoutMs: 45_000 },
    );
    await Promise.race([control.closed, new Promise((r) => setTimeout(r, 2000))]);
    control.server.close();

    const text = run.lines.join('\n');
    expect(run.accel, text).toBe('tcg');
    expect(text).not.toContain(INSMOD_FAILED_MARKER);
    expect(run.exitStatus, text).toBe(0);
    expect(run.lines).toContain(`${EXIT_MARKER} 0`);

    // The device's BAR2 is the window: its size, the host's magic read in the guest, the guest's reply in the file.
    const bar = /^TEST-BAR2 (0x[0-9a-f]+) (0x[0-9a-f]+)$/.exec(run.lines.find((l) => l.startsWith('TEST-BAR2 ')) ?? '');
    expect(bar, text).not.toBeNull();
    expect(Number(BigInt(bar![2]!) - BigInt(bar![1]!) + 1n)).toBe(WINDOW_BYTES);
    expect(run.lines).toContain(`TEST-MAGIC ${hex(magic >>> 0)}`);
    expect((await readFile(windowPath)).readUInt32LE(4)).toBe(reply);

    expect(run.lines).toContain('TEST-PORT /dev/vport0p1');
    expect(control.received()).toBe('hello from the guest on /dev/vport0p1\n');
    expect(run.bootMs).toBeGreaterThan(0);
    expect(run.bootMs).toBeLessThan(run.durationMs);
  });
});
