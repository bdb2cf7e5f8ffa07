/**
 * The TypeScript guest library inside a QEMU VM (TCG): `vfun vm run
 * --with-node` puts the host's node, the compiled guest library and what it
 * imports in the initramfs; examples/vm-guest.ts then negotiates, activates,
 * computes and releases factorial (200 calls), fibonacci and CRC32 over the
 * virtio-serial port and the ivshmem window, using only ControlClient,
 * VFunction, connect and the VM device finders. The journal shows the VM
 * tenant's four phases per function, released by the guest, and verifies.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const DIST = join(import.meta.dirname, '../../dist');
const CLI = join(DIST, 'src/cli/main.js');
const CACHE = process.env.VIRTFUN_VM_CACHE ?? join(tmpdir(), 'virtfun-vm-cache');
const CALLS = 200;

interface Report {
  vfun: string;
  fn?: string;
  phase?: string;
  ok?: boolean;
  calls?: number;
  lang?: string;
  n?: number;
  median_us?: number;
  p99_us?: number;
  failures?: number;
}

describe('vfun vm run --with-node (QEMU, TCG): the Node guest library in the VM', () => {
  let root: string;
  let result: { ok: boolean; accel: string; exitStatus: number; tenant: string; tenantEvents: string[]; chainVerified: boolean; reports: Report[] };
  let stderr: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'vfun-vmnode-'));
    const r = await exec(
      process.execPath,
      [CLI, 'vm', 'run', '--with-node', '--accel', 'tcg', '--root', root, '--cache', CACHE, '--timeout', '120', '--json',
        '--guest-cmd', `node /opt/virtfun/dist/examples/vm-guest.js --calls ${CALLS}`],
      { maxBuffer: 64 * 1024 * 1024 },
    ).catch((e: { stdout: string; stderr: string; message: string }) => {
      throw new Error(`vfun vm run --with-node failed: ${e.message}\n${e.stderr}\n${e.stdout}`);
    });
    stderr = r.stderr;
    result = JSON.parse(r.stdout.trim().split('\n').pop()!);
  }, 150_000);
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('runs node in the guest, which passes every check and exits 0', () => {
    expect(stderr).toMatch(/vfun: with node: \S+node, \d+ libraries, \d+ files of dist, packages .*xstate/);
    expect(result).toMatchObject({ ok: true, accel: 'tcg', exitStatus: 0, tenant: 'vm', chainVerified: true });
    expect(result.reports[0]).toMatchObject({ vfun: 'start', lang: 'node', node: process.version });
    const checks = result.reports.filter((r) => r.vfun === 'check');
    expect(checks).toEqual([
      { vfun: 'check', fn: 'factorial', calls: CALLS, ok: true },
      { vfun: 'check', fn: 'fibonacci', calls: 1, ok: true },
      { vfun: 'check', fn: 'crc32', calls: 1, ok: true },
    ]);
    for (const fn of ['factorial', 'fibonacci', 'crc32']) {
      const phases = result.reports.filter((r) => r.vfun === 'phase' && r.fn === fn);
      expect(phases.map((p) => `${p.phase}:${p.ok}`)).toEqual(['negotiate:true', 'activate:true', 'release:true']);
      expect(phases.at(-1)!.calls).toBe(fn === 'factorial' ? CALLS : 1); // vFunD's count, as the release answered it
    }
    const bench = result.reports.find((r) => r.vfun === 'bench')!;
    expect(bench).toMatchObject({ path: 'ivshmem', lang: 'node', fn: 'factorial', n: CALLS });
    expect(bench.median_us).toBeGreaterThan(0);
    expect(bench.p99_us).toBeGreaterThanOrEqual(bench.median_us!);
    expect(result.reports.filter((r) => r.vfun === 'error')).toEqual([]);
    expect(result.reports.at(-1)).toMatchObject({ vfun: 'done', ok: true, failures: 0 });
  });

  it("journals the VM tenant's four phases per function, released by the guest, and the chain verifies", async () => {
    expect(result.tenantEvents.filter((t) => t === 'instance.released')).toHaveLength(3);
    const { stdout } = await exec(process.execPath, [CLI, 'audit', '--root', root, '--tenant', 'vm', '--format', 'ndjson']);
    const events = stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; fn: string | null; instance: string | null; data: { reason?: string; stats?: { calls?: number } } });
    for (const fn of ['factorial', 'fibonacci', 'crc32']) {
      const mine = events.filter((e) => e.fn === fn && e.instance !== null);
      expect(mine.map((e) => e.type)).toEqual(['negotiation.acked', 'activation.started', 'activation.acked', 'instance.released']);
      expect(mine.at(-1)!.data.reason).toBe('client');
      expect(new Set(mine.map((e) => e.instance)).size).toBe(1);
    }
    const { stdout: verify } = await exec(process.execPath, [CLI, 'audit', 'verify', '--root', root]);
    expect(verify).toContain('hash chain verified');
  });

  it('refuses a node that is not an ELF binary (a version manager shim) before anything starts', async () => {
    const { nodeGuestFiles } = (await import(join(DIST, 'src/vm/node-files.js'))) as typeof import('../../src/vm/node-files.js');
    const shim = join(root, 'node-shim');
    await writeFile(shim, '#!/bin/sh\nexec /usr/bin/node "$@"\n');
    await chmod(shim, 0o755);
    await expect(nodeGuestFiles({ nodePath: shim })).rejects.toMatchObject({ code: 'VM', message: expect.stringContaining('is not an ELF binary') });
  });
});
