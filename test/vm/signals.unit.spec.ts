/**
 * guardVms (src/vm/signals.ts): the program's signal handling while it runs VMs. Each case runs
 * in a child process (a signal or an exit would end the test runner), which boots a stand-in QEMU.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processAlive } from '../../src/util/process.js';

const GUARD = new URL('../../src/vm/signals.ts', import.meta.url).pathname;
const QEMU = new URL('../../src/vm/qemu.ts', import.meta.url).pathname;

let work: string;
let spec: { kernel: string; initrd: string; ports: [] };
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vfun-vmsig-'));
  await writeFile(join(work, 'vmlinuz'), 'k');
  await writeFile(join(work, 'initrd.gz'), 'i');
  spec = { kernel: join(work, 'vmlinuz'), initrd: join(work, 'initrd.gz'), ports: [] };
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A stand-in QEMU that records its pid, boots and then waits; returns its path and pid file. */
async function fakeQemu(name: string): Promise<{ qemu: string; pidFile: string }> {
  const qemu = join(work, `qemu-${name}`);
  const pidFile = join(work, `${name}.pid`);
  await writeFile(qemu, `#!/bin/sh\necho $$ > ${pidFile}; echo VFUN-VM-BOOT; exec sleep 30\n`);
  await chmod(qemu, 0o755);
  return { qemu, pidFile };
}

/**
 * Run `body` (an ES module's code with `guardVms`, `runVm`, `processAlive`, `spec`, `qemu`, `booted`, `qemuPid` in scope)
 * in a child; resolve once it printed `booted` (its QEMU is up), with the child and QEMU's pid.
 */
async function child(name: string, body: string) {
  const { qemu, pidFile } = await fakeQemu(name);
  const code = `
    import { readFileSync } from 'node:fs';
    import { guardVms } from ${JSON.stringify(GUARD)};
    import { runVm } from ${JSON.stringify(QEMU)};
    import { processAlive } from ${JSON.stringify(new URL('../../src/util/process.ts', import.meta.url).pathname)};
    const spec = ${JSON.stringify(spec)};
    const qemu = ${JSON.stringify(qemu)};
    const booted = (l) => { if (l === 'VFUN-VM-BOOT') console.log('booted'); };
    const qemuPid = () => Number(readFileSync(${JSON.stringify(pidFile)}, 'utf8'));
    ${body}
  `;
  const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (c, s) => resolve({ code: c, signal: s })));
  await new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', () => stdout.includes('booted') && resolve());
    void exit.then(() => reject(new Error(`child exited early: ${stdout} ${stderr}`)));
  });
  const qemuPid = Number(await readFile(pidFile, 'utf8'));
  return { proc, exit, qemuPid, output: () => ({ stdout, stderr }) };
}

/** Gone once the kernel has delivered the kill and the process is reaped: wait for that, however long a busy machine takes. */
async function gone(pid: number): Promise<void> {
  while (processAlive(pid)) await new Promise((r) => setTimeout(r, 5));
}

describe('guardVms', () => {
  // Without a handler of its own the program dies of the signal, after QEMU was killed. SIGKILL cannot be
  // handled: QEMU runs under `setpriv --pdeathsig KILL` (util-linux) so the kernel kills it when its parent dies.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGKILL'] as const) {
    it(`kills QEMU when the program gets ${signal}, then the program dies of it`, async () => {
      const c = await child(`die-${signal}`, `guardVms(); runVm(spec, { accel: 'tcg', qemu, onLine: booted });`);
      expect(processAlive(c.qemuPid)).toBe(true);
      c.proc.kill(signal);
      expect((await c.exit).signal).toBe(signal);
      await gone(c.qemuPid);
    });
  }

  it("with the program's own handler: QEMU is killed, the handler runs (aborting the run), the program ends as it chooses", async () => {
    const c = await child(
      'handler',
      `const abort = new AbortController();
       const unguard = guardVms((signal) => { console.log('handler ' + signal); abort.abort(); });
       runVm(spec, { accel: 'tcg', qemu, onLine: booted, signal: abort.signal }).catch((e) => {
         unguard();
         console.log('run ' + e.reason);
         process.exitCode = 130;
       });`,
    );
    c.proc.kill('SIGTERM');
    expect(await c.exit).toEqual({ code: 130, signal: null });
    expect(c.output().stdout).toContain('handler SIGTERM');
    expect(c.output().stdout).toContain('run interrupted');
    await gone(c.qemuPid);
  });

  it('kills QEMU when the program exits while it runs (before the program is gone)', async () => {
    // The exit handler added after the guard's runs after it, while this process is still alive (so
    // the parent-death signal has not fired yet): QEMU must already be dead then.
    const c = await child(
      'exit',
      `guardVms();
       runVm(spec, { accel: 'tcg', qemu, onLine: (l) => { booted(l); if (l === 'VFUN-VM-BOOT') setTimeout(() => process.exit(0), 50); } });
       process.on('exit', () => {
         const pid = qemuPid();
         const t = Date.now();
         while (processAlive(pid) && Date.now() - t < 5000);
         console.log(processAlive(pid) ? 'qemu alive at exit' : 'qemu dead at exit');
       });`,
    );
    expect(await c.exit).toEqual({ code: 0, signal: null });
    expect(c.output().stdout).toContain('qemu dead at exit');
    await gone(c.qemuPid);
  });

  it('its undo removes every handler it installed', async () => {
    const c = await child(
      'undo',
      `const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'exit'];
       const count = () => events.map((e) => process.listenerCount(e));
       const before = count();
       const undo = guardVms();
       const during = count();
       undo();
       console.log('counts ' + JSON.stringify([before, during, count()]));
       runVm(spec, { accel: 'tcg', qemu, onLine: (l) => { booted(l); if (l === 'VFUN-VM-BOOT') process.kill(process.pid, 'SIGTERM'); } });`,
    );
    expect((await c.exit).signal).toBe('SIGTERM');
    const [before, during, after] = JSON.parse(/counts (.*)/.exec(c.output().stdout)![1]!) as number[][];
    expect(during).toEqual(before!.map((n) => n + 1)); // one handler for each signal and for exit
    expect(after).toEqual(before);
    await gone(c.qemuPid); // by its parent-death signal: nothing of the guard was left to kill it
  });
});
