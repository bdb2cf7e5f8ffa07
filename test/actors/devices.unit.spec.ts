/**
 * Devices that can be unavailable (a WebGPU adapter): vFunD journals what its
 * probe found, nacks hardware negotiations on an unavailable device with
 * `device-unavailable` (the guest falls back), journals each instance's
 * failover once and each cross-check mismatch — and replaying the journal
 * reproduces every one of those decisions and the live state.
 */
import { describe, expect, vi } from 'vitest';
import { fc, it } from '@fast-check/vitest';
import { VFunD } from '../../src/actors/vfund.js';
import { VFunction } from '../../src/guest/vfunction.js';
import { replayJournal } from '../../src/actors/replay.js';
import { parseConfig, toSnapshot } from '../../src/actors/config.js';
import { snapshotOf, stateOfSnapshot } from '../../src/actors/snapshot.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import type { ActivationSpec, InstanceRuntime, RuntimeFactory } from '../../src/actors/runtime.js';
import type { DeviceProbed } from '../../src/events/catalogue.js';
import type { AdapterIdentity, DriverNotice } from '../../src/domain/types.js';
import type { Envelope } from '../../src/events/envelope.js';
import { counterIds, steppingClock } from './helpers.js';
import { capacityOf } from '../../src/daemon/status.js';
import { checkActivation, checkNotice, MAX_NOTICES_PER_INSTANCE, NOTICE_DETAIL_MAX } from '../../src/actors/driver-notices.js';

const SECRET = 'gpu-tenant-secret-0001';
const ADAPTER: AdapterIdentity = { vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe: Mesa 25', software: true };

const config = toSnapshot(parseConfig({
  tenants: [{ id: 't1', secret: SECRET, maxInstances: 8 }],
  functions: [
    { name: 'saxpy', kinds: { hw: { device: 'gpu0' }, sw: { slots: 8, driver: 'saxpy' } } },
    { name: 'crc32', kinds: { sw: { slots: 8, driver: 'crc32' } } },
  ],
  regionCapacity: 4096,
  devices: [{ name: 'gpu0', type: 'webgpu', slots: 2, crossCheck: 10 }],
}));

/** A runtime whose driver reports an adapter at activation and whose notices the test sends. */
class GpuRuntime implements RuntimeFactory<null> {
  readonly notify = new Map<string, (n: DriverNotice) => void>();
  /** Make every hardware activation fail as a GPU driver that finds no device would. */
  failHardware = false;
  async activate(spec: ActivationSpec): Promise<InstanceRuntime<null>> {
    const stats = { calls: 0, errors: {} };
    const hw = spec.kind === 'hw';
    if (hw && this.failHardware) throw new Error(`driver '${spec.driver}' init failed: no WebGPU adapter`);
    return {
      region: null,
      stats: () => stats,
      stop: async () => {
        this.notify.delete(spec.instance);
        return stats;
      },
      onFailure: () => undefined,
      onRestart: () => undefined,
      ...(hw && { activation: { device: 'webgpu', adapter: ADAPTER, prepareMs: 12.5 } }),
      onNotice: (l) => {
        this.notify.set(spec.instance, l);
      },
    };
  }
}

type Op =
  | { op: 'open'; app: number; kind: 'hw' | 'sw' }
  | { op: 'release'; app: number }
  | { op: 'lose'; app: number }
  | { op: 'mismatch'; app: number; call: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('open' as const), app: fc.nat(4), kind: fc.constantFrom('hw' as const, 'sw' as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('release' as const), app: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('lose' as const), app: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('mismatch' as const), app: fc.nat(4), call: fc.integer({ min: 1, max: 1000 }) }) },
);

const probeArb: fc.Arbitrary<DeviceProbed['data']> = fc.oneof(
  fc.constant({ device: 'gpu0', available: true, adapter: ADAPTER, detail: 'llvmpipe: Mesa 25' }),
  fc.constant({ device: 'gpu0', available: false, detail: 'no WebGPU adapter' }),
);

async function envelopes(journal: MemoryJournal): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for await (const e of journal.read()) out.push(e);
  return out;
}

describe('WebGPU devices in the configuration', () => {
  const base = { tenants: [{ id: 't1', secret: SECRET, maxInstances: 2 }] };
  it('journals the device with its contexts as slots and names each function’s driver, with its cross-check', () => {
    expect(config.devices).toEqual([{ name: 'gpu0', type: 'webgpu', slots: 2, crossCheck: 10 }]);
    expect(config.functions[0]!.kinds.hw).toEqual({ slots: 2, driver: 'webgpu:saxpy?crossCheck=10', device: 'gpu0' });
    const plain = toSnapshot(parseConfig({ ...base, functions: [{ name: 'matmul', kinds: { hw: { device: 'g' } } }], devices: [{ name: 'g', type: 'webgpu' }] }));
    expect(plain.functions[0]!.kinds.hw).toEqual({ slots: 4, driver: 'webgpu:matmul', device: 'g' });
  });

  it('refuses what a WebGPU device cannot do, naming the field', () => {
    const devices = [{ name: 'g', type: 'webgpu' }];
    expect(() => parseConfig({ ...base, functions: [{ name: 'sha256', kinds: { hw: { device: 'g' } } }], devices })).toThrow(/functions\.0\.name: WebGPU device 'g' has no function 'sha256'; it runs: saxpy, matmul, crc32-batch/);
    expect(() => parseConfig({ ...base, functions: [{ name: 'saxpy', kinds: { hw: { device: 'g' } } }], devices: [{ name: 'g', type: 'webgpu', slots: 0 }] })).toThrow(/devices\.0\.slots/);
    expect(() => parseConfig({ ...base, functions: [{ name: 'saxpy', kinds: { hw: { device: 'g' } } }], devices: [{ name: 'g', type: 'webgpu', crosscheck: 5 }] })).toThrow(/crosscheck: unknown key \(did you mean 'crossCheck'\?\)/);
    expect(() => parseConfig({ ...base, functions: [{ name: 'saxpy', kinds: { hw: { device: 'g' } } }], devices: [...devices, ...devices] })).toThrow(/devices\.1: duplicate name 'g'/);
    const saxpyOn = (device: object, hw: object = { device: 'g' }) => () => parseConfig({ ...base, functions: [{ name: 'saxpy', kinds: { hw } }], devices: [device] });
    expect(saxpyOn({ name: 'g', type: 'webgpu', profile: 'alveo-u250' })).toThrow(/devices\.0\.profile: a webgpu device follows no simulator profile/);
    expect(saxpyOn({ name: 'g', type: 'WebGPU' })).toThrow(/devices\.0\.type: must be 'webgpu'/);
    expect(saxpyOn({ name: 'g' })).toThrow(/devices\.0\.profile: required for a simulated FPGA \(or give type: 'webgpu'/);
    expect(saxpyOn({ name: 'g', profile: 'alveo-u250', slots: 2 })).toThrow(/devices\.0\.slots: only for a webgpu device/);
    expect(saxpyOn({ name: 'g', type: 'webgpu', slots: 65 })).toThrow(/devices\.0\.slots/);
    expect(saxpyOn({ name: 'g', type: 'webgpu', slots: 4 }, { device: 'g', slots: 100 })).toThrow(/functions\.0\.kinds\.hw\.slots: 100 is more than the 4 slots of device 'g'/);
    // A GPU driver named directly would bypass the device: no probe, no slots of it, no failover journaled.
    expect(() => parseConfig({ ...base, functions: [{ name: 'saxpy', kinds: { hw: { slots: 2, driver: 'webgpu:saxpy' } } }] })).toThrow(/functions\.0\.kinds\.hw\.driver: 'webgpu:saxpy' runs on a GPU: declare a device of type webgpu/);
    expect(() => parseConfig({ ...base, functions: [{ name: 'matmul', kinds: { sw: { slots: 2, driver: 'webgpu:matmul' } } }] })).toThrow(/kinds\.sw\.driver: 'webgpu:matmul' runs on a GPU/);
  });
});

describe('what a service says of its driver is checked before it is journaled', () => {
  it.prop([fc.anything()])('checkNotice and checkActivation take anything without throwing; what they keep is well formed', (raw) => {
    const n = checkNotice(raw);
    if (n !== null) {
      expect(n.detail.length).toBeLessThanOrEqual(NOTICE_DETAIL_MAX + 1);
      if (n.type === 'mismatch') expect(Number.isSafeInteger(n.call) && n.call >= 1).toBe(true);
    }
    const a = checkActivation(raw);
    if (a !== undefined) expect(Number.isFinite(a.prepareMs) && a.prepareMs >= 0).toBe(true);
  });

  it('keeps a well-formed notice and activation, clipping long strings; refuses the malformed', () => {
    expect(checkNotice({ type: 'mismatch', call: 3, detail: 'x'.repeat(10_000) })).toEqual({ type: 'mismatch', call: 3, detail: `${'x'.repeat(NOTICE_DETAIL_MAX)}…` });
    expect(checkNotice({ type: 'failover', detail: 'lost' })).toEqual({ type: 'failover', detail: 'lost' });
    for (const bad of [null, 'failover', { type: 'failover' }, { type: 'mismatch', call: 0, detail: '' }, { type: 'mismatch', call: 1.5, detail: '' }, { type: 'other', detail: '' }]) expect(checkNotice(bad)).toBeNull();
    expect(checkActivation({ device: 'webgpu', adapter: ADAPTER, prepareMs: 1 })).toEqual({ device: 'webgpu', adapter: ADAPTER, prepareMs: 1 });
    for (const bad of [{ device: 'webgpu', adapter: ADAPTER, prepareMs: -1 }, { device: 'webgpu', adapter: { ...ADAPTER, software: 'yes' }, prepareMs: 1 }, { device: 'webgpu', prepareMs: 1 }, { device: 'webgpu', adapter: ADAPTER, prepareMs: Infinity }]) {
      expect(checkActivation(bad)).toBeUndefined();
    }
  });

  it(`a service that floods notices (more than ${MAX_NOTICES_PER_INSTANCE}) is faulty: its instance is reclaimed, the journal holds at most that many`, async () => {
    const journal = new MemoryJournal();
    const runtime = new GpuRuntime();
    const d = await VFunD.start({ journal, runtime, config, host: 'h', clock: steppingClock(), ids: counterIds(), probeDevices: async () => [{ device: 'gpu0', available: true, adapter: ADAPTER, detail: 'ok' }] });
    const creds = { tenant: 't1', credential: SECRET };
    const n = await d.negotiate({ ...creds, app: 'x', fn: 'saxpy', kind: 'hw' });
    if (!n.ok) throw new Error(n.detail);
    await d.activate({ ...creds, instance: n.instance });
    const send = runtime.notify.get(n.instance)!;
    send({ type: 'mismatch', call: 1, detail: 'x' });
    send({ bogus: true } as unknown as DriverNotice); // dropped, but counted
    for (let i = 0; i < 500; i++) send({ type: 'mismatch', call: i + 2, detail: 'flood' });
    await d.settled();
    const envs = await envelopes(journal);
    expect(envs.filter((e) => e.type === 'crosscheck.mismatch').length).toBe(MAX_NOTICES_PER_INSTANCE - 1);
    expect(envs.find((e) => e.type === 'service.failed')?.data).toMatchObject({ instance: n.instance, detail: expect.stringContaining('driver notices: treated as faulty') });
    expect(d.snapshot.instances[n.instance]).toBeUndefined();
    await d.stop();
    expect((await replayJournal(await envelopes(journal))).divergence).toBeNull();
  });
});

describe('devices that can be unavailable', () => {
  it.prop([fc.array(probeArb, { minLength: 1, maxLength: 6 }), fc.array(opArb, { maxLength: 30 })], { numRuns: 150 })('nack while unavailable, failover once per instance and a new probe, replay reproduces it all', async (probes, ops) => {
    const journal = new MemoryJournal();
    const runtime = new GpuRuntime();
    // The probes answer in turn (at start, then after each loss), the last one for good.
    let probed = 0;
    const nextProbe = (): DeviceProbed['data'] => probes[Math.min(probed++, probes.length - 1)]!;
    const d = await VFunD.start({ journal, runtime, config, host: 'h', clock: steppingClock(), ids: counterIds(), probeDevices: async () => [nextProbe()] });
    const settle = async () => {
      for (let i = 0; i < 3; i++) {
        await d.settled();
        await new Promise((r) => setImmediate(r));
      }
    };
    const creds = { tenant: 't1', credential: SECRET };
    const held = new Map<number, { instance: string; kind: 'hw' | 'sw' }>();
    let available = probes[0]!.available;
    let failovers = 0;
    let mismatches = 0;
    const failedOver = new Set<string>();
    for (const o of ops) {
      const h = held.get(o.app);
      if (o.op === 'open') {
        if (h) continue;
        const hwInUse = [...held.values()].filter((x) => x.kind === 'hw').length;
        const n = await d.negotiate({ ...creds, app: `a${o.app}`, fn: 'saxpy', kind: o.kind });
        if (o.kind === 'hw' && !available) {
          expect(n).toMatchObject({ ok: false, reason: 'device-unavailable' });
          continue;
        }
        if (o.kind === 'hw' && hwInUse >= 2) {
          expect(n).toMatchObject({ ok: false, reason: 'no-capacity' });
          continue;
        }
        expect(n.ok).toBe(true);
        if (!n.ok) continue;
        const a = await d.activate({ ...creds, instance: n.instance });
        expect(a.ok).toBe(true);
        held.set(o.app, { instance: n.instance, kind: o.kind });
      } else if (h && o.op === 'release') {
        expect((await d.release({ ...creds, instance: h.instance })).ok).toBe(true);
        held.delete(o.app);
      } else if (h && o.op === 'lose') {
        runtime.notify.get(h.instance)?.({ type: 'failover', detail: 'the device was lost' });
        await settle();
        if (h.kind === 'hw' && !failedOver.has(h.instance)) {
          failedOver.add(h.instance);
          failovers++;
          available = probes[Math.min(failovers, probes.length - 1)]!.available; // what the probe after the loss found
        }
      } else if (h && o.op === 'mismatch') {
        runtime.notify.get(h.instance)?.({ type: 'mismatch', call: o.call, detail: 'element 0 differs' });
        await d.settled();
        if (h.kind === 'hw') mismatches++;
      }
    }
    await d.stop();
    const envs = await envelopes(journal);
    const types = envs.map((e) => e.type);
    expect(types.filter((t) => t === 'device.probed')).toHaveLength(1 + failovers);
    expect(probed).toBe(1 + failovers);
    expect(types.filter((t) => t === 'device.failover')).toHaveLength(failovers);
    expect(types.filter((t) => t === 'crosscheck.mismatch')).toHaveLength(mismatches);
    // Every hw activation journals the adapter it was prepared on; sw ones journal none.
    for (const e of envs) {
      if (e.type !== 'activation.acked') continue;
      const kind = envs.find((x) => x.type === 'negotiation.acked' && x.instance === e.instance)!.data as { kind: string };
      expect(e.data.driver === undefined).toBe(kind.kind === 'sw');
    }
    const r = await replayJournal(envs);
    expect(r.divergence).toBeNull();
    expect(r.state).toEqual(d.snapshot);
    expect(stateOfSnapshot(snapshotOf(r.state, 1))).toEqual(r.state);
  });

  it('a WebGPU device nobody probed is unavailable; a VM tenant gets no instance on a software adapter, a real GPU it may', async () => {
    const vmConfig = toSnapshot(parseConfig({
      tenants: [{ id: 'vm1', secret: SECRET, maxInstances: 4, ivshmem: {} }],
      functions: [{ name: 'saxpy', kinds: { hw: { device: 'gpu0' }, sw: { slots: 4, driver: 'saxpy' } } }],
      devices: [{ name: 'gpu0', type: 'webgpu' }],
    }));
    const creds = { tenant: 'vm1', credential: SECRET };
    const unprobed = await VFunD.start({ journal: new MemoryJournal(), runtime: new GpuRuntime(), config: vmConfig, host: 'h', clock: steppingClock(), ids: counterIds(), probeDevices: async () => [] });
    expect(await unprobed.negotiate({ ...creds, app: 'a', fn: 'saxpy', kind: 'hw' })).toMatchObject({ ok: false, reason: 'device-unavailable', detail: 'device gpu0: not probed yet' });
    await unprobed.stop();
    const lavapipe = await VFunD.start({ journal: new MemoryJournal(), runtime: new GpuRuntime(), config: vmConfig, host: 'h', clock: steppingClock(), ids: counterIds(), probeDevices: async () => [{ device: 'gpu0', available: true, adapter: ADAPTER, detail: 'ok' }] });
    expect(await lavapipe.negotiate({ ...creds, app: 'a', fn: 'saxpy', kind: 'hw' })).toMatchObject({ ok: false, reason: 'device-unavailable', detail: expect.stringMatching(/tenant 'vm1' is a VM: its GPU services keep the full sandbox \(no ftruncate\)/) });
    await lavapipe.stop();
    const gpu = await VFunD.start({ journal: new MemoryJournal(), runtime: new GpuRuntime(), config: vmConfig, host: 'h', clock: steppingClock(), ids: counterIds(), probeDevices: async () => [{ device: 'gpu0', available: true, adapter: { ...ADAPTER, vendor: 'amd', architecture: 'rdna-3', software: false }, detail: 'ok' }] });
    expect((await gpu.negotiate({ ...creds, app: 'a', fn: 'saxpy', kind: 'hw' })).ok).toBe(true);
    await gpu.stop();
  });

  it('a guest whose hardware fails to activate (its driver found no device) gets the software version', async () => {
    const runtime = new GpuRuntime();
    runtime.failHardware = true;
    const journal = new MemoryJournal();
    const d = await VFunD.start({ journal, runtime, config, host: 'h', clock: steppingClock(), ids: counterIds(), probeDevices: async () => [{ device: 'gpu0', available: true, adapter: ADAPTER, detail: 'ok' }] });
    const channel = { call: (b: Uint8Array) => b, set: () => undefined, get: () => new Uint8Array(0), rst: () => undefined };
    const open = (fallback?: boolean) => VFunction.open(d, () => channel, { tenant: 't1', credential: SECRET, app: `a${String(fallback)}`, fn: 'saxpy', kind: 'hw', ...(fallback !== undefined && { fallback }) });
    const vf = await open();
    expect({ kind: vf.kind, fellBack: vf.fellBack }).toEqual({ kind: 'sw', fellBack: true });
    await expect(open(false)).rejects.toMatchObject({ phase: 'activation', reason: 'driver-failed' });
    const types = (await envelopes(journal)).map((e) => `${e.type}${e.type === 'negotiation.acked' ? `:${(e.data as { kind: string }).kind}` : ''}`);
    expect(types.slice(types.indexOf('device.probed') + 1, types.indexOf('device.probed') + 6)).toEqual(['negotiation.acked:hw', 'activation.started', 'activation.nacked', 'negotiation.acked:sw', 'activation.started']);
    await d.stop();
  });

  it('a lost device is probed again: unavailable while its adapter is gone; a new run probes anew', async () => {
    const journal = new MemoryJournal();
    const runtime = new GpuRuntime();
    const creds = { tenant: 't1', credential: SECRET };
    const available: DeviceProbed['data'] = { device: 'gpu0', available: true, adapter: ADAPTER, detail: 'ok' };
    const gone: DeviceProbed['data'] = { device: 'gpu0', available: false, detail: 'no WebGPU adapter' };
    const answers = [available, gone];
    const d1 = await VFunD.start({ journal, runtime, config, host: 'h', clock: steppingClock(), ids: counterIds('a'), probeDevices: async () => [answers.shift()!] });
    const n = await d1.negotiate({ ...creds, app: 'x', fn: 'saxpy', kind: 'hw' });
    expect(n.ok).toBe(true);
    if (!n.ok) return;
    await d1.activate({ ...creds, instance: n.instance });
    runtime.notify.get(n.instance)!({ type: 'failover', detail: 'lost' });
    runtime.notify.get(n.instance)!({ type: 'mismatch', call: 3, detail: 'differs' });
    await vi.waitFor(() => expect(answers).toEqual([]));
    await d1.settled();
    expect(await d1.negotiate({ ...creds, app: 'y', fn: 'saxpy', kind: 'hw' })).toMatchObject({ ok: false, reason: 'device-unavailable', detail: 'device gpu0: no WebGPU adapter' });
    // What `vfun status` and the metrics show of it.
    expect(capacityOf(d1.snapshot).devices).toEqual([{ name: 'gpu0', type: 'webgpu', available: false, detail: 'no WebGPU adapter', inUse: 1, slots: 2 }]);
    await d1.stop();
    const d2 = await VFunD.start({ journal, runtime, config, host: 'h', clock: steppingClock(Date.UTC(2026, 1, 1)), ids: counterIds('b'), probeDevices: async () => [available] });
    expect((await d2.negotiate({ ...creds, app: 'y', fn: 'saxpy', kind: 'hw' })).ok).toBe(true);
    await d2.stop();
    expect((await replayJournal(await envelopes(journal))).divergence).toBeNull();
  });
});
