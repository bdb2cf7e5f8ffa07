/**
 * The service process as vFunD sees it: started with its control file and
 * sealed region, sandboxed, stopped cleanly, and never able to make vFunD
 * wait on it (a tenant that SIGSTOPs its own service).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServiceProcess } from '../../src/actors/service-process.js';
import { ControlFile } from '../../src/dataplane/control-file.js';
import { closeFdRegion, createMemfdRegion } from '../../src/dataplane/region-fds.js';
import { connect } from '../../src/guest/connect.js';
import { processAlive, processStopped } from '../../src/util/process.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vfun-svcproc-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function start(name: string, stopTimeoutMs?: number) {
  const region = createMemfdRegion(4096, name);
  const control = ControlFile.create(join(dir, `${name}.control`));
  const failures: string[] = [];
  const svc = await startServiceProcess(
    { region, driver: 'crc32', control, ...(stopTimeoutMs !== undefined && { stopTimeoutMs }) },
    { restarting: () => undefined, failed: (detail) => failures.push(detail) },
  );
  return { region, control, svc, failures };
}

describe('a service process', () => {
  it('runs in a process of its own, sandboxed, counts in the control file, stops cleanly', async () => {
    const { region, control, svc, failures } = await start('clean');
    expect(svc.pid).not.toBe(process.pid);
    expect(svc.sandboxed).toBe(true);
    const client = connect(region);
    for (let i = 0; i < 25; i++) client.call(new Uint8Array([i]));
    client.close();
    expect(control.stats().calls).toBe(25);
    expect((await svc.stop()).calls).toBe(25);
    expect(await svc.exited).toEqual({ code: 0, signal: null });
    expect(failures).toEqual([]);
    control.close();
    closeFdRegion(region);
  });

  it('a service its tenant stopped (SIGSTOP) is killed at once on stop, not waited for; its counters are kept', async () => {
    // A stop timeout longer than the test's: only noticing the stopped process ends this stop in time.
    const { region, control, svc, failures } = await start('stopped', 600_000);
    const client = connect(region);
    for (let i = 0; i < 7; i++) client.call(new Uint8Array([i]));
    client.close();
    process.kill(svc.pid, 'SIGSTOP');
    await expect.poll(() => processStopped(svc.pid), { timeout: 30_000 }).toBe(true); // the signal has landed
    expect((await svc.stop()).calls).toBe(7);
    expect(await svc.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(processAlive(svc.pid)).toBe(false);
    expect(failures).toEqual([]); // a stop vFunD asked for is not a failure
    control.close();
    closeFdRegion(region);
  });
});
