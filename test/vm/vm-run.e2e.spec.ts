/**
 * The paper's scenario for real: an application inside a QEMU virtual machine
 * (TCG, so it runs wherever QEMU is installed) negotiates, activates,
 * computes and releases factorial, fibonacci and CRC32 through vFunD on the
 * host: control over a virtio-serial port wired to the tenant's control
 * socket, data through its slots of the ivshmem window. The guest checks
 * every result itself; the journal shows the VM tenant's events in order and
 * its chain verifies.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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

function waitForOutput(child: ChildProcess, stream: 'stdout' | 'stderr', text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes(text)) {
        child[stream]!.off('data', onData);
        resolve();
      }
    };
    child[stream]!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited (${code}) before '${text}': ${out.slice(-2000)}`)));
  });
}

describe('vfun vm run --attach: a running VM outlives a vFunD restart', () => {
  let root: string;
  const daemons: ChildProcess[] = [];
  const config = {
    tenants: [{ id: 'vm1', secret: 'the-vm1-tenant-secret-for-attach', maxInstances: 4, ivshmem: { windowBytes: 1 << 20 } }],
    functions: ['factorial', 'fibonacci', 'crc32'].map((name) => ({ name, kinds: { sw: { slots: 4, driver: name } } })),
    regionCapacity: 4096,
  };
  const up = async (): Promise<ChildProcess> => {
    const d = spawn(process.execPath, [CLI, 'up', '--config', join(root, 'config.json'), '--root', root], { stdio: ['ignore', 'pipe', 'inherit'] });
    daemons.push(d);
    await waitForOutput(d, 'stdout', 'ready');
    return d;
  };
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'vfun-vmattach-'));
    await writeFile(join(root, 'config.json'), JSON.stringify(config));
  });
  afterAll(async () => {
    for (const d of daemons) d.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  });

  it('the guest runs the four phases, vFunD restarts under it, and the guest runs them again', async () => {
    const first = await up();
    const vm = spawn(
      process.execPath,
      [CLI, 'vm', 'run', '--attach', '--config', join(root, 'config.json'), '--root', root, '--accel', 'tcg', '--cache', CACHE, '--timeout', '240', '--json',
        // A line of garbage into the control port first: refused and journaled, and its answer, left
        // in the port, is skipped by the C client (no nonce of its own).
        '--guest-cmd', 'printf "not json\\n" > "$(vfun_port vfun.control)"; vfun-guest --check; sleep 6; vfun-guest --check'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    vm.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => vm.once('exit', resolve));
    await waitForOutput(vm, 'stderr', '{"vfun":"done"');
    first.kill('SIGTERM');
    await new Promise((r) => first.once('exit', r));
    await up();
    expect(await exited).toBe(0);
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as { ok: boolean; exitStatus: number; reports: Report[] };
    expect(result).toMatchObject({ ok: true, exitStatus: 0 });
    expect(result.reports.filter((r) => r.vfun === 'done').map((r) => r.ok)).toEqual([true, true]);
    const { stdout: audit } = await exec(process.execPath, [CLI, 'audit', '--root', root, '--format', 'ndjson']);
    const types = audit.trim().split('\n').map((l) => (JSON.parse(l) as { type: string; tenant: string | null }))
      .filter((e) => e.tenant === 'vm1' || e.type.startsWith('vfund.'))
      .map((e) => e.type);
    const refused = audit.trim().split('\n').map((l) => JSON.parse(l) as { type: string; tenant: string | null; data: { reason?: string; detail?: string } })
      .filter((e) => e.type === 'request.refused');
    expect(refused).toEqual([expect.objectContaining({ tenant: 'vm1', data: expect.objectContaining({ reason: 'malformed', detail: 'request is not valid JSON' }) })]);
    const restart = types.indexOf('vfund.stopped');
    expect(types.slice(restart, restart + 2)).toEqual(['vfund.stopped', 'vfund.started']);
    const round = (xs: string[]) => xs.filter((t) => t === 'instance.released').length;
    expect(round(types.slice(0, restart))).toBe(3);
    expect(round(types.slice(restart))).toBe(3);
    expect((await exec(process.execPath, [CLI, 'audit', 'verify', '--root', root])).stdout).toContain('hash chain verified');
  }, 300_000);
});

describe('vfun vm run interrupted (Ctrl-C)', () => {
  it('kills QEMU, stops vFunD (journaled), removes the initramfs that holds the secret, exits 130', async () => {
    const root = await mkdtemp(join(tmpdir(), 'vfun-vmint-'));
    const tmp = await mkdtemp(join(tmpdir(), 'vfun-vmint-tmp-'));
    try {
      const vm = spawn(process.execPath, [CLI, 'vm', 'run', '--accel', 'tcg', '--root', root, '--cache', CACHE, '--guest-cmd', 'echo guest-waiting; sleep 60'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, TMPDIR: tmp },
      });
      const exited = new Promise<number | null>((resolve) => vm.once('exit', (code) => resolve(code)));
      await waitForOutput(vm, 'stdout', 'guest| guest-waiting');
      const { readdir } = await import('node:fs/promises');
      expect((await readdir(tmp)).some((f) => f.startsWith('vfun-vm-'))).toBe(true); // the initramfs is there while the VM runs
      vm.kill('SIGINT');
      expect(await exited).toBe(130);
      expect((await readdir(tmp)).filter((f) => f.startsWith('vfun-vm-'))).toEqual([]);
      expect(await readdir(join(root, 'admin'))).not.toContain('vfund.pid');
      const { stdout } = await exec(process.execPath, [CLI, 'audit', '--root', root, '--type', 'vfund.*', '--format', 'ndjson']);
      expect(stdout.trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type)).toEqual(['vfund.started', 'vfund.stopped']);
    } finally {
      await rm(root, { recursive: true, force: true });
      await rm(tmp, { recursive: true, force: true });
    }
  }, 120_000);
});
