/**
 * A running vFunD says what it holds: `Daemon.status()` against a real daemon (startDaemon, as
 * `vfun up` runs it), with a guest calling through the shared-memory channel: the instance, its
 * phase, its calls and errors as the service counted them, slots, quotas, journal and uptime.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/actors/config.js';
import { startDaemon, type Daemon } from '../../src/daemon/index.js';
import { ControlClient } from '../../src/guest/control-client.js';
import { connect } from '../../src/guest/connect.js';
import { BOUNDS_NS, countOf, quantileNs } from '../../src/dataplane/latency-histogram.js';
import type { LatencyHistogram } from '../../src/daemon/status.js';

/** p50 and p99 of a histogram: counted, within the buckets' range, p50 ≤ p99, the sum within count × [0, last bound]. */
function expectPlausible(h: LatencyHistogram | null, calls: number): void {
  expect(h).not.toBeNull();
  expect(countOf(h!)).toBe(calls);
  const p50 = quantileNs(h!, 0.5)!;
  const p99 = quantileNs(h!, 0.99)!;
  expect(p50).toBeGreaterThan(0);
  expect(p50).toBeLessThanOrEqual(p99);
  expect(p99).toBeLessThanOrEqual(BOUNDS_NS[BOUNDS_NS.length - 1]!);
  expect(h!.sumNs).toBeGreaterThan(0);
  // A crc32 of two bytes is served in well under 10 ms (the first call included).
  expect(h!.sumNs / calls).toBeLessThan(10e6);
}

const SECRET = 'the status tenant secret, 16+ characters';

describe('Daemon.status() of a running vFunD', () => {
  let dir: string;
  let daemon: Daemon;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-status-'));
    const config = parseConfig({
      tenants: [
        { id: 'acme', secret: SECRET, maxInstances: 3 },
        { id: 'idle', secret: `${SECRET} idle`, maxInstances: 1 },
      ],
      functions: [{ name: 'crc32', kinds: { sw: { slots: 2, driver: 'crc32' } } }],
    });
    const root = join(dir, 'root');
    daemon = await startDaemon({ config, root, journal: `file:${join(root, 'admin', 'journal.ndjson')}`, log: () => undefined });
  });

  afterAll(async () => {
    await daemon?.stop('test over');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('shows the instance with the calls its service answered, the slots and quotas in use, and the journal', async () => {
    const before = daemon.status();
    expect(before.instances).toEqual([]);
    expect(before.tenants).toEqual([
      { id: 'acme', instances: 0, maxInstances: 3, disabled: false, draining: false },
      { id: 'idle', instances: 0, maxInstances: 1, disabled: false, draining: false },
    ]);

    const c = await ControlClient.connect(daemon.sockets.acme!);
    const creds = { tenant: 'acme', credential: SECRET };
    const n = await c.negotiate({ ...creds, app: 'app', fn: 'crc32', kind: 'sw' });
    if (!n.ok) throw new Error(n.detail);
    const a = await c.activate({ ...creds, instance: n.instance });
    if (!a.ok) throw new Error(a.detail);
    const client = connect(a.region);
    for (let i = 0; i < 250; i++) client.call(new Uint8Array([i & 0xff, 1]));
    // The service times a call just after publishing its answer: the last one may land a moment later.
    await vi.waitFor(() => expect(countOf(daemon.status().instances[0]!.latency!)).toBe(250));

    const s = daemon.status();
    expect(s.pid).toBe(process.pid);
    expect(s.accepting).toBe(true);
    expect(s.uptimeMs).toBeGreaterThanOrEqual(0);
    expect(Date.parse(s.startedAt)).toBeLessThanOrEqual(Date.now());
    expect(s.instances).toHaveLength(1);
    const i = s.instances[0]!;
    expect(i).toMatchObject({ id: n.instance, tenant: 'acme', app: 'app', fn: 'crc32', kind: 'sw', phase: 'computation', calls: 250, errors: 0 });
    expectPlausible(i.latency, 250);
    expect(i.servicePid).toBeGreaterThan(0);
    expect(i.servicePid).not.toBe(process.pid);
    expect(i.ageMs).not.toBeNull();
    // The guest is the process at the other end of the control connection (SO_PEERCRED): this one.
    expect(i.guest).toEqual({ pid: process.pid, uid: process.getuid!() });
    expect(s.slots).toEqual([{ fn: 'crc32', kind: 'sw', inUse: 1, slots: 2, device: null }]);
    expect(s.tenants[0]).toEqual({ id: 'acme', instances: 1, maxInstances: 3, disabled: false, draining: false });
    expect(s.totals).toEqual([{ tenant: 'acme', fn: 'crc32', kind: 'sw', calls: 250, errors: 0, latency: i.latency }]);
    expect(s.journal).toMatchObject({ backend: 'file', available: true, outboxDepth: 0 });
    expect(s.journal.head).toBeGreaterThanOrEqual(3); // started, acked, activation started + acked

    client.close();
    const r = await c.release({ ...creds, instance: n.instance });
    expect(r.ok).toBe(true);
    c.close();
    const after = daemon.status();
    expect(after.instances).toEqual([]);
    expect(after.slots[0]!.inUse).toBe(0);
    // The released instance's calls stay in the totals (counters never go back), with its final histogram.
    expect(after.totals).toMatchObject([{ tenant: 'acme', fn: 'crc32', kind: 'sw', calls: 250, errors: 0 }]);
    expectPlausible(after.totals[0]!.latency, 250);
    expect(after.totals[0]!.latency!.sumNs).toBeGreaterThanOrEqual(i.latency!.sumNs);
  });

  it("totals add a released instance's final histogram to the live ones", async () => {
    const c = await ControlClient.connect(daemon.sockets.acme!);
    const creds = { tenant: 'acme', credential: SECRET };
    const open = async (app: string): Promise<{ instance: string; client: ReturnType<typeof connect> }> => {
      const n = await c.negotiate({ ...creds, app, fn: 'crc32', kind: 'sw' });
      if (!n.ok) throw new Error(n.detail);
      const a = await c.activate({ ...creds, instance: n.instance });
      if (!a.ok) throw new Error(a.detail);
      return { instance: n.instance, client: connect(a.region) };
    };
    const first = await open('billing');
    const second = await open('reports');
    for (let k = 0; k < 100; k++) first.client.call(new Uint8Array([k & 0xff]));
    for (let k = 0; k < 40; k++) second.client.call(new Uint8Array([k & 0xff, 2]));
    await vi.waitFor(() => expect(daemon.status().instances.map((x) => (x.latency === null ? 0 : countOf(x.latency)))).toEqual([100, 40]));
    first.client.close();
    expect((await c.release({ ...creds, instance: first.instance })).ok).toBe(true);

    const s = daemon.status();
    expect(s.instances.map((x) => [x.id, x.calls])).toEqual([[second.instance, 40]]);
    expectPlausible(s.instances[0]!.latency, 40);
    // 250 from the instance released before, 100 from the one released now, 40 live.
    expect(s.totals).toMatchObject([{ tenant: 'acme', fn: 'crc32', kind: 'sw', calls: 390, errors: 0 }]);
    expectPlausible(s.totals[0]!.latency, 390);

    second.client.close();
    expect((await c.release({ ...creds, instance: second.instance })).ok).toBe(true);
    c.close();
    expectPlausible(daemon.status().totals[0]!.latency, 390);
  });
});
