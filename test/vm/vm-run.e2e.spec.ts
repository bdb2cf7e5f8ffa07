/**
 * The paper's scenario for real: an application inside a QEMU virtual machine
 * (TCG, so it runs wherever QEMU is installed) negotiates, activates,
 * computes and releases factorial, fibonacci and CRC32 through vFunD on the
 * host: control over a virtio-serial port wired to the tenant's control
 * socket, data through its slots of the ivshmem window. The guest checks
 * every result itself; the journal shows the VM tenant's events in order and
 * its chain verifies.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const CACHE = process.env.VIRTFUN_VM_CACHE ?? join(tmpdir(), 'virtfun-vm-cache');

interface Report {
  vfun: string;
  fn?: string;
  phase?: string;
  ok?: boolean;
  failures?: number;
}

describe('vfun vm run (QEMU, TCG)', () => {
  let root: string;
  let result: { ok: boolean; accel: string; exitStatus: number; tenant: string; tenantEvents: string[]; chainVerified: boolean; reports: Report[] };
  let stderr: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'vfun-vmrun-'));
    const r = await exec(process.execPath, [CLI, 'vm', 'run', '--accel', 'tcg', '--root', root, '--cache', CACHE, '--timeout', '240', '--json'], {
      maxBuffer: 64 * 1024 * 1024,
    }).catch((e: { stdout: string; stderr: string; message: string }) => {
      throw new Error(`vfun vm run failed: ${e.message}\n${e.stderr}\n${e.stdout}`);
    });
    stderr = r.stderr;
    result = JSON.parse(r.stdout.trim().split('\n').pop()!);
  }, 300_000);
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('boots under TCG and the guest passes every check it runs inside the VM', () => {
    expect(stderr).toContain('guest| ');
    expect(result).toMatchObject({ ok: true, accel: 'tcg', exitStatus: 0, tenant: 'vm', chainVerified: true });
    const checks = result.reports.filter((r) => r.vfun === 'check');
    expect(checks.map((c) => c.fn).sort()).toEqual(['activate-unknown', 'crc32', 'factorial', 'fibonacci']); // and an unknown instance refused
    expect(checks.every((c) => c.ok === true)).toBe(true);
    for (const fn of ['factorial', 'fibonacci', 'crc32']) {
      const phases = result.reports.filter((r) => r.vfun === 'phase' && r.fn === fn);
      expect(phases.map((p) => `${p.phase}:${p.ok}`)).toEqual(['negotiate:true', 'activate:true', 'attach:true', 'release:true']);
    }
    expect(result.reports.at(-1)).toMatchObject({ vfun: 'done', ok: true, failures: 0 });
  });

  it("journals the VM tenant's four phases in order for each function, released by the guest itself", async () => {
    const { stdout } = await exec(process.execPath, [CLI, 'audit', '--root', root, '--tenant', 'vm', '--format', 'ndjson']);
    const events = stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; fn: string | null; instance: string | null; data: { reason?: string } });
    for (const fn of ['factorial', 'fibonacci', 'crc32']) {
      const mine = events.filter((e) => e.fn === fn && e.instance !== null);
      expect(mine.map((e) => e.type)).toEqual(['negotiation.acked', 'activation.started', 'activation.acked', 'instance.released']);
      expect(mine.at(-1)!.data.reason).toBe('client'); // by the guest's own release, not by the lease or the shutdown
      expect(new Set(mine.map((e) => e.instance)).size).toBe(1);
    }
    const { stdout: verify } = await exec(process.execPath, [CLI, 'audit', 'verify', '--root', root]);
    expect(verify).toContain('hash chain verified');
  });
});
