/**
 * `vfun bench paper --vm` through the built CLI, at a tiny size under TCG (so it runs wherever
 * QEMU is installed): one VM boot runs guest-host (the VM tenant's slot of vFunD's ivshmem window)
 * and guest-net (TCP through the guest's virtio-net) for both functions; host-host runs on the
 * host. results.json carries the VM's label, both columns have every run, and vFunD's journal of
 * the run verifies and shows the VM tenant's four phases for each function.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PaperResults } from '../../src/paper/results.js';

const exec = promisify(execFile);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const CACHE = process.env.VIRTFUN_VM_CACHE ?? join(tmpdir(), 'virtfun-vm-cache');

describe('vfun bench paper --vm (QEMU, TCG)', () => {
  let work: string;
  let out: string;
  let results: PaperResults;
  let md: string;
  let stderr = '';
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'vfun-paper-vm-'));
    out = join(work, 'results');
    ({ stderr } = await exec(
      process.execPath,
      [CLI, 'bench', 'paper', '--vm', '--accel', 'tcg', '--cache', CACHE, '--quick', '--instances', '5Kx20,500x200', '--runs', '2', '--no-fpga', '--no-progress', '-o', out, '--timeout', '120'],
      { maxBuffer: 16 * 1024 * 1024 },
    ).catch((e: { stdout: string; stderr: string; message: string }) => {
      throw new Error(`bench paper --vm failed: ${e.message}\n${e.stderr}\n${e.stdout}`);
    }));
    results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as PaperResults;
    md = await readFile(join(out, 'results.md'), 'utf8');
  }, 180_000);
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('labels the run as a TCG (emulated) VM, in results.json and results.md', () => {
    expect(results.meta.vm).toMatchObject({ accel: 'tcg', emulated: true, journal: join('vfund', 'journal.ndjson'), chainVerified: true });
    expect(results.meta.vm!.bootMs).toBeGreaterThan(0);
    expect(md).toMatch(/^> \*\*Warning:\*\* the guest-host and guest-net columns ran in a QEMU guest under TCG/m);
    // ... and the terminal says it too, after the ratio table.
    expect(stderr).toMatch(/^warning: the guest-host and guest-net columns ran in a QEMU guest under TCG/m);
    expect(stderr).toMatch(/^warning: --quick .*not comparable with the paper/m);
  });

  it('has every run of guest-host and guest-net (from the VM) and of host-host, for both functions', () => {
    expect(results.domains).toEqual(['host-host', 'guest-host', 'guest-net']);
    for (const fn of ['factorial', 'fibonacci'] as const)
      for (const domain of results.domains)
        for (const instance of ['5K x 20', '500 x 200']) {
          const runs = results.raw.filter((r) => r.fn === fn && r.domain === domain && r.instance === instance);
          expect(runs.map((r) => r.run).sort(), `${fn} ${domain} ${instance}`).toEqual([0, 1]);
          expect(runs.every((r) => r.seconds > 0)).toBe(true);
        }
    expect(results.ratios.every((r) => r.gh_hh !== null && r.gn_gh !== null)).toBe(true);
  });

  it("journals the VM tenant's four phases for each function, released by the guest, and the chain verifies", async () => {
    const root = join(out, 'vfund');
    const { stdout } = await exec(process.execPath, [CLI, 'audit', '--journal', `file:${join(root, 'journal.ndjson')}`, '--tenant', 'paper-vm', '--format', 'ndjson']);
    const events = stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; fn: string | null; instance: string | null; data: { reason?: string } });
    for (const fn of ['paper-factorial', 'paper-fibonacci']) {
      const mine = events.filter((e) => e.fn === fn && e.instance !== null);
      expect(mine.map((e) => e.type)).toEqual(['negotiation.acked', 'activation.started', 'activation.acked', 'instance.released']);
      expect(mine.at(-1)!.data.reason).toBe('client');
    }
    const { stdout: verify } = await exec(process.execPath, [CLI, 'audit', 'verify', '--journal', `file:${join(root, 'journal.ndjson')}`]);
    expect(verify).toContain('hash chain verified');
  });

  it('on SIGINT kills the VM, unwinds (no temporary files left, the secret with them) and exits 130 without results', async () => {
    const tmp = join(work, 'tmp');
    await mkdir(tmp);
    const child = spawn(
      process.execPath,
      [CLI, 'bench', 'paper', '--vm', '--accel', 'tcg', '--cache', CACHE, '--quick', '--instances', '500x100000', '--runs', '3', '--no-fpga', '-o', join(work, 'interrupted'), '--timeout', '120'],
      { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        // The guest is running the paper's loop: the VM is up, vFunD holds its tenant.
        if (stderr.includes('in the VM')) resolve();
      });
      void exited.then(() => reject(new Error(`bench paper ended before the VM ran: ${stderr}`)));
    });
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain('SIGINT: stopping the VM and vFunD');
    expect(stderr).toMatch(/interrupted .*no results were written/);
    expect(await readdir(tmp)).toEqual([]);
    await expect(readFile(join(work, 'interrupted', 'results.json'))).rejects.toThrow(/ENOENT/);
  }, 120_000);
});
