/**
 * A driver that crashes its worker or hangs is restarted with backoff, on the
 * same region: the guest gets an error for the call in flight, later calls
 * work, every restart is journaled; past the limit vFunD releases the instance.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { VFunD } from '../../src/actors/vfund.js';
import { FileRuntime } from '../../src/actors/runtime-files.js';
import { parseConfig, toSnapshot } from '../../src/actors/config.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import type { HostRegion } from '../../src/actors/runtime-files.js';
import { isFdRegion } from '../../src/dataplane/region-fds.js';
import type { Envelope } from '../../src/events/envelope.js';
import { replayJournal } from '../../src/actors/replay.js';
import { LineProcess } from '../support/line-process.js';
import { countOf } from '../../src/dataplane/latency-histogram.js';
import { counterIds, steppingClock } from './helpers.js';

// The guest is another process, as in production: a guest blocked in a call must not block vFunD.
let root: string;
const cleanup: (() => Promise<void>)[] = [];
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vfun-sup-'));
});
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
type Result = { ok?: string; error?: string; thrown?: string; message?: string };

const SECRET = 'supervision-test-secret';
const config = toSnapshot(
  parseConfig({ tenants: [{ id: 't', secret: SECRET, maxInstances: 2 }], functions: [{ name: 'crashy', kinds: { sw: { slots: 2, driver: 'crc32' } } }] }),
);
// The configuration names a registered driver; the runtime builds the test driver 'crashy' from its module instead.
config.functions[0]!.kinds.sw!.driver satisfies string;

async function setup(policy = { maxRestarts: 3, windowMs: 60_000, backoffMs: 20, maxBackoffMs: 200, callDeadlineMs: 500 }) {
  const journal = new MemoryJournal();
  const runtime = await FileRuntime.create({
    root: await mkdtemp(join(root, 'r-')),
    driverModule: new URL('../dataplane/fixtures/test-drivers.ts', import.meta.url),
    policy,
  });
  const cfg = { ...config, functions: [{ name: 'crashy', kinds: { sw: { slots: 2, driver: 'crashy' } } }] };
  const d = await VFunD.start<HostRegion>({ journal, runtime, config: cfg, host: 'h', clock: steppingClock(), ids: counterIds() });
  const creds = { tenant: 't', credential: SECRET };
  const n = await d.negotiate({ ...creds, app: 'a', fn: 'crashy', kind: 'sw' });
  if (!n.ok) throw new Error(n.detail);
  const a = await d.activate({ ...creds, instance: n.instance });
  if (!a.ok) throw new Error(a.detail);
  const events = async () => {
    const out: Envelope[] = [];
    for await (const e of journal.read()) out.push(e);
    return out;
  };
  if (!isFdRegion(a.region)) throw new Error('expected a sealed-memory region');
  const guest = new LineProcess(new URL('../dataplane/fixtures/guest-proc.ts', import.meta.url), ['fd:3,4', 'hybrid', '3000'], [a.region.dataoutFd, a.region.datainFd]);
  await guest.ready;
  cleanup.push(async () => {
    await guest.close();
    await d.stop();
    await runtime.close();
  });
  const call = async (...bytes: number[]): Promise<Result> =>
    (await guest.request<{ results: Result[] }>({ ops: [['call', Buffer.from(bytes).toString('hex')]] })).results[0]!;
  const rst = async (): Promise<Result> => (await guest.request<{ results: Result[] }>({ ops: [['rst']] })).results[0]!;
  return { d, creds, instance: n.instance, call, rst, events };
}

describe('service supervision', () => {
  it('a crash: the call in flight gets DRIVER_FAULT, the restarted service serves the next calls', async () => {
    const { d, creds, instance, call, events } = await setup();
    const ok = await call(1, 2, 3);
    expect(ok.ok).toMatch(/^[0-9a-f]{8}$/);
    expect(await call(0xff)).toEqual({ error: 'DRIVER_FAULT' });
    expect(await call(1, 2, 3)).toEqual(ok);
    const types = (await events()).map((e) => e.type);
    expect(types).toContain('service.restarted');
    // The latency histogram lives in the control area: the restarted service keeps counting where
    // the crashed one stopped (the call it answered for its predecessor is counted, not timed).
    await vi.waitFor(() => expect(countOf(d.runtimeOf(instance)!.latency!()!)).toBe(2));
    const latency = d.runtimeOf(instance)!.latency!()!;
    expect(countOf(latency)).toBe(2);
    expect(latency.sumNs).toBeGreaterThan(0);
    const stats = await d.release({ ...creds, instance });
    expect(stats).toMatchObject({ ok: true, stats: { calls: 3, errors: { DRIVER_FAULT: 1 } } });
    expect((await replayJournal(await events())).divergence).toBeNull();
  });

  it('a hang past the call deadline: the service is terminated and restarted', async () => {
    const { call, events } = await setup();
    expect(await call(0xfe)).toEqual({ error: 'DRIVER_FAULT' });
    expect((await call(9)).ok).toMatch(/^[0-9a-f]{8}$/);
    const restart = (await events()).find((e) => e.type === 'service.restarted');
    expect(restart?.data).toMatchObject({ attempt: 1, detail: expect.stringContaining('deadline of 500 ms') });
  });

  it('a reset that hangs past the call deadline is bounded the same way: the RST gets DRIVER_FAULT', async () => {
    const { call, rst, events } = await setup();
    expect((await call(0xfa)).ok).toMatch(/^[0-9a-f]{8}$/); // the next reset() hangs
    expect(await rst()).toEqual({ error: 'DRIVER_FAULT' }); // not the guest's own timeout (3 s)
    expect((await call(9)).ok).toMatch(/^[0-9a-f]{8}$/);
    const restart = (await events()).find((e) => e.type === 'service.restarted');
    expect(restart?.data).toMatchObject({ attempt: 1, detail: expect.stringContaining('deadline of 500 ms') });
  });

  it('too many restarts: vFunD journals service.failed and releases the instance', async () => {
    const { d, instance, call, events } = await setup({ maxRestarts: 2, windowMs: 60_000, backoffMs: 10, maxBackoffMs: 50, callDeadlineMs: 500 });
    expect(await call(0xff)).toEqual({ error: 'DRIVER_FAULT' });
    expect(await call(0xff)).toEqual({ error: 'DRIVER_FAULT' });
    await call(0xff).catch(() => undefined); // the third crash: no service any more, the guest's call fails
    await expect.poll(() => d.snapshot.instances[instance], { timeout: 5000 }).toBeUndefined();
    const types = (await events()).map((e) => e.type);
    expect(types.filter((t) => t === 'service.restarted')).toHaveLength(2);
    expect(types.slice(-2)).toEqual(['service.failed', 'instance.released']);
  });
});
