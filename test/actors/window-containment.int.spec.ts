/**
 * Containment of a VM tenant's ivshmem window: the file its QEMU maps is the
 * tenant's (chowned to it when tenants have identities), so the tenant can
 * truncate or grow it. vFunD (this test process) never maps it: it writes it
 * with pwrite. While two of the VM tenant's slots are served and a process
 * tenant (sealed memfd region) keeps a call loop going, the window is cut or
 * grown for real: vFunD stays up, the services whose pages are gone die of
 * SIGBUS and their instances are released with that cause journaled, the
 * other tenant's loop sees no error and keeps progressing, and the VM
 * tenant's next activation is refused (naming why) while an instance still
 * holds a slot, and works again once none does: vFunD re-initialises the
 * window in place (same inode). Guests are processes of their own
 * (the VM's guest maps the window file as its QEMU would).
 */
import { truncateSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, toSnapshot, windowPlans } from '../../src/actors/config.js';
import { replayJournal } from '../../src/actors/replay.js';
import { FileRuntime, type HostRegion } from '../../src/actors/runtime-files.js';
import { VFunD } from '../../src/actors/vfund.js';
import { isFdRegion } from '../../src/dataplane/region-fds.js';
import { isWindowRegion, type WindowRegion } from '../../src/dataplane/region-window.js';
import type { Envelope } from '../../src/events/envelope.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { callLoop } from '../support/call-loop.js';
import { LineProcess } from '../support/line-process.js';
import { counterIds, steppingClock } from './helpers.js';

let base: string;
const cleanup: (() => Promise<void>)[] = [];
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'vfun-wincontain-'));
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

type Result = { ok?: string; error?: string; thrown?: string; message?: string };
const SECRETS = { vm: 'secret-of-the-vm-tenant', b: 'secret-of-process-tenant-b' } as const;
const WINDOW_BYTES = 1 << 20;
const config = parseConfig({
  tenants: [
    { id: 'vm', secret: SECRETS.vm, maxInstances: 3, ivshmem: { windowBytes: WINDOW_BYTES } },
    { id: 'b', secret: SECRETS.b, maxInstances: 2 },
  ],
  functions: [{ name: 'crc', kinds: { sw: { slots: 8, driver: 'crc32' } } }],
  regionCapacity: 4096,
});
// 63 slots of 16 KiB from 16 KiB: slot 0 is [16384, 32768), slot 1 [32768, 49152).
const SLOT1_AT = 32768;
const CRC_0102 = '9242ccb6'; // CRC-32 of 01 02, little-endian
const crc = (hex: string) => [['call', hex]];

async function host() {
  const root = await mkdtemp(join(base, 'r-'));
  const journal = new MemoryJournal();
  const runtime = await FileRuntime.create({ root, windows: windowPlans(config) });
  const d = await VFunD.start<HostRegion>({ journal, runtime, config: toSnapshot(config), host: 'h', clock: steppingClock(), ids: counterIds(`w${Math.random().toString(36).slice(2, 6)}`) });
  cleanup.push(async () => {
    await d.stop();
    await runtime.close();
  });
  const events = async (): Promise<Envelope[]> => {
    const out: Envelope[] = [];
    for await (const e of journal.read()) out.push(e);
    return out;
  };
  const window = runtime.windows.get('vm')!;
  return { d, runtime, journal, events, window };
}

type Host = Awaited<ReturnType<typeof host>>;

/** Negotiate and activate; the answer, as a guest would get it. */
async function activate(d: Host['d'], tenant: 'vm' | 'b', app: string) {
  const creds = { tenant, credential: SECRETS[tenant] };
  const n = await d.negotiate({ ...creds, app, fn: 'crc', kind: 'sw' });
  if (!n.ok) throw new Error(n.detail);
  return { creds, instance: n.instance, answer: await d.activate({ ...creds, instance: n.instance }) };
}

/** A VM tenant's instance and its guest: a process that maps the window as the VM's QEMU does. */
async function vmInstance(h: Host, app: string) {
  const { creds, instance, answer } = await activate(h.d, 'vm', app);
  if (!answer.ok) throw new Error(answer.detail);
  if (!isWindowRegion(answer.region)) throw new Error('expected a window slot');
  const guest = new LineProcess(new URL('../dataplane/fixtures/window-guest-proc.ts', import.meta.url), [h.window.path, instance, '30000']);
  await guest.ready;
  cleanup.push(() => guest.close());
  const calls = async (ops: string[][]): Promise<Result[]> => (await guest.request<{ results: Result[] }>({ ops })).results;
  return { creds, instance, region: answer.region as WindowRegion, guest, calls };
}

/** The process tenant's instance: sealed memory, its guest a process that inherited the two descriptors. */
async function processInstance(h: Host) {
  const { instance, answer } = await activate(h.d, 'b', 'app');
  if (!answer.ok) throw new Error(answer.detail);
  if (!isFdRegion(answer.region)) throw new Error('expected a sealed-memory region');
  const guest = new LineProcess(new URL('../dataplane/fixtures/guest-proc.ts', import.meta.url), ['fd:3,4', 'hybrid', '30000'], [answer.region.dataoutFd, answer.region.datainFd]);
  await guest.ready;
  cleanup.push(() => guest.close());
  return { instance, calls: async (ops: string[][]): Promise<Result[]> => (await guest.request<{ results: Result[] }>({ ops })).results };
}

/** Two VM slots served (each guest called through its own), and the process tenant's loop going. */
async function scene() {
  const h = await host();
  const v1 = await vmInstance(h, 'app1');
  const v2 = await vmInstance(h, 'app2');
  expect([v1.region.slot, v2.region.slot]).toEqual([0, 1]);
  for (const v of [v1, v2]) expect(await v.calls(crc('0102'))).toEqual([{ ok: CRC_0102 }]);
  const b = await processInstance(h);
  const loop = callLoop(b.calls);
  cleanup.push(() => loop.stop().catch(() => undefined));
  await loop.progressed();
  return { h, v1, v2, b, loop, inode: (await stat(h.window.path)).ino };
}

const about = (e: Envelope): string | undefined => (e.data as { instance?: string }).instance;

/** The failure events of `instance`, once both are journaled. */
async function failureOf(h: Host, instance: string) {
  await expect.poll(async () => (await h.events()).some((e) => e.type === 'instance.released' && about(e) === instance), { timeout: 30_000 }).toBe(true);
  const evs = (await h.events()).filter((e) => (e.type === 'service.failed' || e.type === 'instance.released') && about(e) === instance);
  return evs.map((e) => ({ type: e.type, tenant: e.tenant, data: e.data }));
}

const sigbus = (instance: string) => [
  {
    type: 'service.failed',
    tenant: 'vm',
    data: { instance, detail: expect.stringMatching(/killed by SIGBUS \(a bus error: memory it mapped shrank under it\)/), cause: { code: null, signal: 'SIGBUS' } },
  },
  { type: 'instance.released', tenant: 'vm', data: { instance, reason: 'failure', stats: expect.anything() } },
];

describe('a VM tenant that resizes its own window costs only itself', () => {
  it('truncated to nothing under two served slots: both services die of SIGBUS, reclaimed with the cause journaled; the other tenant sees nothing; the window is re-initialised in place for the next activation', async () => {
    const { h, v1, v2, b, loop, inode } = await scene();

    truncateSync(h.window.path, 0); // what the tenant's QEMU user can do to the file

    for (const v of [v1, v2]) expect(await failureOf(h, v.instance)).toEqual(sigbus(v.instance));
    // The VM's own memory is gone too: its guest (QEMU, here) dies of SIGBUS at its next look.
    await expect(v1.calls(crc('0102'))).rejects.toThrow(/child exited \(SIGBUS\)/);
    await loop.progressed(); // the process tenant goes on, unaware

    // vFunD is up and answers the VM tenant again: no slot is held, so the window is written whole again in place.
    const v3 = await vmInstance(h, 'app3');
    expect(v3.region.slot).toBe(0);
    expect(h.window.reinitialisations).toBe(1);
    const st = await stat(h.window.path);
    expect([st.ino, st.size]).toEqual([inode, WINDOW_BYTES]);
    expect(await v3.calls(crc('0102'))).toEqual([{ ok: CRC_0102 }]);

    await loop.progressed();
    await loop.stop();
    expect(loop.tally.bad).toEqual([]);
    expect(h.d.snapshot.instances[b.instance]?.lifecycle.value).toBe('computation');
    expect(Object.keys(h.d.snapshot.instances).sort()).toEqual([b.instance, v3.instance].sort());
    expect((await replayJournal(await h.events())).divergence).toBeNull();
  });

  it('cut through its second slot: that service dies, the first keeps serving; new activations are refused, naming why, until the first is released', async () => {
    const { h, v1, v2, loop, inode } = await scene();

    truncateSync(h.window.path, SLOT1_AT); // slot 0 (and the header and table) stay whole, slot 1 is gone

    expect(await failureOf(h, v2.instance)).toEqual(sigbus(v2.instance));
    expect(await v1.calls(crc('0102'))).toEqual([{ ok: CRC_0102 }]); // untouched slot, untouched service
    expect((await h.events()).filter((e) => e.type === 'service.failed').map(about)).toEqual([v2.instance]);

    const refused = await activate(h.d, 'vm', 'app3');
    expect(refused.answer).toEqual({
      ok: false,
      reason: 'driver-failed',
      detail: expect.stringMatching(
        /is 32768 bytes, its layout needs 1048576: it was truncated \(only its tenant's QEMU user can resize it\); no new slot while 1 instance\(s\) still hold one; once they are released vFunD re-initialises it in place/,
      ),
    });
    expect((await h.events()).find((e) => e.type === 'activation.nacked')?.data).toMatchObject({ instance: refused.instance, detail: refused.answer.ok ? '' : refused.answer.detail });
    await loop.progressed();

    expect(await h.d.release({ ...v1.creds, instance: v1.instance })).toMatchObject({ ok: true, stats: { calls: 2 } });
    const v4 = await vmInstance(h, 'app4');
    expect(h.window.reinitialisations).toBe(1);
    expect((await stat(h.window.path)).ino).toBe(inode);
    expect(await v4.calls(crc('0102'))).toEqual([{ ok: CRC_0102 }]);

    await loop.progressed();
    await loop.stop();
    expect(loop.tally.bad).toEqual([]);
    expect((await replayJournal(await h.events())).divergence).toBeNull();
  });

  it('grown to a (sparse) GiB under two served slots: nothing dies, both keep serving, the next activation works and the file is left as grown', async () => {
    const { h, v1, v2, loop, inode } = await scene();

    truncateSync(h.window.path, 1 << 30);

    for (const v of [v1, v2]) expect(await v.calls(crc('0102'))).toEqual([{ ok: CRC_0102 }]);
    const v3 = await vmInstance(h, 'app3');
    expect(await v3.calls(crc('0102'))).toEqual([{ ok: CRC_0102 }]);
    await loop.progressed();
    await loop.stop();
    expect(loop.tally.bad).toEqual([]);
    expect(h.window.reinitialisations).toBe(0);
    const st = await stat(h.window.path);
    expect([st.ino, st.size]).toEqual([inode, 1 << 30]);
    expect((await h.events()).filter((e) => e.type === 'service.failed')).toEqual([]);
    for (const v of [v1, v2, v3]) expect(h.d.snapshot.instances[v.instance]?.lifecycle.value).toBe('computation');
  });
});
