/**
 * Containment: regions are sealed memory no one can resize, and every
 * instance's service runs in a service process of its own, so a fault of one
 * tenant (a native crash of its driver) costs that instance only. vFunD (this test
 * process) lives on, journals the cause (the signal), writes the tombstone
 * (the guest learns at once that no answer will come), and another tenant's
 * call loop sees no error and keeps progressing. (Counters after a vFunD
 * crash: test/daemon/recovery.e2e.spec.ts.)
 */
import { ftruncateSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VFunD } from '../../src/actors/vfund.js';
import { FileRuntime, type HostRegion } from '../../src/actors/runtime-files.js';
import { parseConfig, toSnapshot } from '../../src/actors/config.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { isFdRegion, type FdRegion } from '../../src/dataplane/region-fds.js';
import type { Envelope } from '../../src/events/envelope.js';
import { replayJournal } from '../../src/actors/replay.js';
import { callLoop } from '../support/call-loop.js';
import { LineProcess } from '../support/line-process.js';
import { counterIds, steppingClock } from './helpers.js';

let base: string;
const cleanup: (() => Promise<void>)[] = [];
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'vfun-contain-'));
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

type Result = { ok?: string; error?: string; thrown?: string; message?: string };
const SECRETS = { a: 'secret-of-attacker-a', b: 'secret-of-honest-b' } as const;
const config = {
  ...toSnapshot(
    parseConfig({
      tenants: [
        { id: 'a', secret: SECRETS.a, maxInstances: 2 },
        { id: 'b', secret: SECRETS.b, maxInstances: 2 },
      ],
      functions: [{ name: 'crc', kinds: { sw: { slots: 4, driver: 'crc32' } } }],
    }),
  ),
};
// The test drivers' module builds 'crashy' (CRC-32 unless told to crash); the configuration names it.
const cfg = { ...config, functions: [{ name: 'crc', kinds: { sw: { slots: 4, driver: 'crashy' } } }] };
const driverModule = new URL('../dataplane/fixtures/test-drivers.ts', import.meta.url);

async function host(root: string, journal = new MemoryJournal()) {
  const runtime = await FileRuntime.create({ root, driverModule });
  const d = await VFunD.start<HostRegion>({ journal, runtime, config: cfg, host: 'h', clock: steppingClock(), ids: counterIds(`i${Math.random().toString(36).slice(2, 6)}`) });
  const events = async (): Promise<Envelope[]> => {
    const out: Envelope[] = [];
    for await (const e of journal.read()) out.push(e);
    return out;
  };
  return { d, runtime, journal, events };
}

async function instance(d: VFunD<HostRegion>, tenant: 'a' | 'b') {
  const creds = { tenant, credential: SECRETS[tenant] };
  const n = await d.negotiate({ ...creds, app: 'app', fn: 'crc', kind: 'sw' });
  if (!n.ok) throw new Error(n.detail);
  const a = await d.activate({ ...creds, instance: n.instance });
  if (!a.ok) throw new Error(a.detail);
  if (!isFdRegion(a.region)) throw new Error('expected a sealed-memory region');
  const guest = new LineProcess(new URL('../dataplane/fixtures/guest-proc.ts', import.meta.url), ['fd:3,4', 'hybrid', '30000'], [a.region.dataoutFd, a.region.datainFd]);
  await guest.ready;
  cleanup.push(() => guest.close());
  const calls = async (ops: string[][]): Promise<Result[]> => (await guest.request<{ results: Result[] }>({ ops })).results;
  return { creds, instance: n.instance, region: a.region as FdRegion, guest, calls };
}

describe('one tenant’s fault stays that tenant’s', () => {
  it('a region cannot be resized by anyone who holds it: truncate and grow are refused, every service goes on', async () => {
    const root = await mkdtemp(join(base, 'r-'));
    const { d, runtime, events } = await host(root);
    cleanup.push(async () => {
      await d.stop();
      await runtime.close();
    });
    const a = await instance(d, 'a');
    const b = await instance(d, 'b');
    expect((await a.calls([['call', '0102']]))[0]!.ok).toMatch(/^[0-9a-f]{8}$/);
    const loop = callLoop(b.calls);
    await loop.progressed();

    // The attack a tenant could make on a region file it must open read-write: shrink it under the mapping
    // (a SIGBUS for whoever maps it), or grow it. The descriptors are the ones its guest received.
    for (const fd of [a.region.dataoutFd, a.region.datainFd]) {
      for (const size of [0, 100, 1 << 20]) expect(() => ftruncateSync(fd, size)).toThrow(expect.objectContaining({ code: 'EPERM' }));
    }
    expect((await a.calls([['call', '0102']]))[0]!.ok).toMatch(/^[0-9a-f]{8}$/);
    await loop.progressed(); // the other tenant goes on
    await loop.stop();
    expect(loop.tally.bad).toEqual([]);
    expect(d.snapshot.instances[a.instance]?.lifecycle.value).toBe('computation');
    expect((await events()).filter((e) => e.type === 'service.failed')).toEqual([]);
  });

  it('a driver that crashes its whole process: the guest in the call gets CHANNEL_CLOSED, the cause is journaled', async () => {
    const root = await mkdtemp(join(base, 'r-'));
    const { d, runtime, events } = await host(root);
    cleanup.push(async () => {
      await d.stop();
      await runtime.close();
    });
    const a = await instance(d, 'a');
    const b = await instance(d, 'b');
    const loop = callLoop(b.calls);
    await loop.progressed();
    // 0xfd: the driver kills its own process with SIGABRT mid-call (as a native abort would). The guest's timeout is 30 s: a CHANNEL_CLOSED is the tombstone (or
    // the dead pid), never the timeout.
    const [r] = await a.calls([['call', 'fd']]);
    expect(r).toMatchObject({ thrown: 'CHANNEL_CLOSED' });
    await expect.poll(async () => (await events()).find((e) => e.type === 'service.failed')?.data, { timeout: 30_000 }).toMatchObject({
      instance: a.instance,
      cause: { signal: 'SIGABRT' },
    });
    await loop.progressed();
    await loop.stop();
    expect(loop.tally.bad).toEqual([]);
  });

});

