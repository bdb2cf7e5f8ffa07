import { describe, expect, it } from 'vitest';
import { DriverInputError } from '../../src/drivers/driver.js';
import {
  DeviceResetError,
  DeviceTimeoutError,
  LoadFailedError,
  NoFreeSlotError,
  NotLoadedError,
  SimDevice,
  SlotBusyError,
  SlotReleasedError,
  StaleHandleError,
  UnknownFunctionError,
  VirtualClock,
  callCost,
  type DeviceEvent,
  type DeviceProfile,
} from '../../simulator/index.js';
import { expected, testProfile, u32le } from './helpers.js';

/** The test profile without jitter: times are exact. */
function exactProfile(): DeviceProfile {
  const p = testProfile();
  const functions = Object.fromEntries(
    Object.entries(p.functions).map(([k, f]) => [k, { ...f, jitter: { kind: 'uniform', fraction: 0 } as const }]),
  );
  return { ...p, functions };
}

function setup(profile = exactProfile(), seed = 1) {
  const clock = new VirtualClock();
  const device = new SimDevice({ profile, clock, seed });
  return { clock, device };
}

const kinds = (events: readonly DeviceEvent[]) => events.map((e) => e.kind);

describe('SimDevice: loads and calls', () => {
  it('load takes loadMs; a call takes transfer in + launch + compute + transfer out; the result is exact', async () => {
    const { clock, device } = setup();
    const h = await clock.run(device.load('auto', 'crc32'));
    expect(h).toMatchObject({ slot: 0, fn: 'crc32', kernel: 'crc32' });
    expect(clock.now()).toBe(5_000_000);
    expect(device.capacity()).toEqual({ slots: 2, free: 1, loaded: ['crc32', null] });

    const input = new Uint8Array(10_000).map((_, i) => i * 7);
    const out = new Uint8Array(16);
    const r = await clock.run(device.call(h, input, out));
    // 10 000 B · 0.1 ns + 20 µs + 10 000 B / 1 GB/s + 4 B · 0.1 ns = 1000 + 20000 + 10000 + 1
    expect(r.endedAt - r.startedAt).toBe(31_001);
    expect(callCost(exactProfile().functions.crc32!, 10_000, 4, 10_000).totalNs).toBe(31_001);
    expect(r.bytes).toBe(4);
    expect(out.subarray(0, 4)).toEqual(expected('crc32', input));
    expect(kinds(device.timeline)).toEqual(['load-start', 'load-done', 'call-accepted', 'call-start', 'call-done']);
  });

  it('factorial/fibonacci throughput counts loop items (n)', async () => {
    const { clock, device } = setup();
    const h = await clock.run(device.load(1, 'fibonacci'));
    const out = new Uint8Array(8);
    const r = await clock.run(device.call(h, u32le(93), out));
    // 4 B in (0.4 → 1 ns) + 10 µs + 93 / 3e8 s (310 ns) + 8 B out (0.8 → 1 ns)
    expect(r.endedAt - r.startedAt).toBe(1 + 10_000 + 310 + 1);
    expect(new DataView(out.buffer).getBigUint64(0, true)).toBe(12200160415121876738n);
  });

  it('calls on one slot are queued and complete in order, one at a time', async () => {
    const { clock, device } = setup();
    const h = await clock.run(device.load('auto', 'sha256'));
    const inputs = [5_000, 10, 2_000].map((n) => new Uint8Array(n).fill(n & 0xff));
    const outs = inputs.map(() => new Uint8Array(32));
    const results = await clock.run(Promise.all(inputs.map((i, k) => device.call(h, i, outs[k]!))));
    for (let k = 0; k < results.length; k++) {
      expect(outs[k]).toEqual(expected('sha256', inputs[k]!));
      if (k > 0) expect(results[k]!.startedAt).toBe(results[k - 1]!.endedAt);
      expect(results[k]!.acceptedAt).toBe(results[0]!.acceptedAt);
    }
  });

  it('refuses what it cannot do, naming the reason', async () => {
    const { clock, device } = setup();
    await expect(device.load('auto', 'md5')).rejects.toBeInstanceOf(UnknownFunctionError);
    const a = device.load(0, 'crc32');
    await expect(device.load(0, 'sha256')).rejects.toBeInstanceOf(SlotBusyError);
    await expect(device.call(0, new Uint8Array(1), new Uint8Array(4))).rejects.toBeInstanceOf(NotLoadedError);
    const b = device.load('auto', 'sha256');
    await expect(device.load('auto', 'crc32')).rejects.toBeInstanceOf(NoFreeSlotError);
    const [ha] = await clock.run(Promise.all([a, b]));
    await expect(device.call(ha!, new Uint8Array(1), new Uint8Array(2))).rejects.toBeInstanceOf(DriverInputError);
    await expect(device.call(ha!, new Uint8Array(1), new Uint8Array(4), { deadlineMicros: 0 })).rejects.toMatchObject({
      deviceCode: 'BAD_DEADLINE',
    });
    await device.release(ha!);
    await expect(device.call(ha!, new Uint8Array(1), new Uint8Array(4))).rejects.toBeInstanceOf(StaleHandleError);
    await expect(device.release(ha!)).rejects.toBeInstanceOf(StaleHandleError);
    expect(device.timeline.filter((e) => e.kind === 'rejected').map((e) => e.detail.code)).toEqual([
      'UNKNOWN_FUNCTION',
      'SLOT_BUSY',
      'NOT_LOADED',
      'NO_FREE_SLOT',
      'BAD_INPUT',
      'BAD_DEADLINE',
      'STALE_HANDLE',
      'STALE_HANDLE',
    ]);
  });

  it('release fails pending work, frees the slot at once, and leaves nothing queued', async () => {
    const { clock, device } = setup();
    const h = await clock.run(device.load('auto', 'sha256'));
    const calls = [1, 2, 3].map(() => device.call(h, new Uint8Array(100_000), new Uint8Array(32)));
    await clock.advance(100_000);
    await device.release(h);
    expect(device.inspect(0)).toEqual({ slot: 0, state: 'free', fn: null, holder: null, queued: 0, running: null });
    for (const c of calls) await expect(c).rejects.toBeInstanceOf(SlotReleasedError);
    expect(clock.pending).toBe(0);
    const loading = device.load(1, 'crc32');
    await device.release(1);
    await expect(loading).rejects.toBeInstanceOf(SlotReleasedError);
    expect(device.freeSlots()).toEqual([0, 1]);
  });
});

describe('SimDevice: faults', () => {
  it('load-failure: the load rejects after its time and the slot is free again', async () => {
    const { clock, device } = setup();
    device.injectFault({ kind: 'load-failure', slot: 0 });
    await expect(clock.run(device.load('auto', 'crc32'))).rejects.toBeInstanceOf(LoadFailedError);
    expect(clock.now()).toBe(5_000_000);
    expect(device.freeSlots()).toEqual([0, 1]);
    await clock.run(device.load('auto', 'crc32')); // one-shot: the next load works
  });

  it('hang: the call never completes and fails with a timeout at its deadline; the next call runs', async () => {
    const { clock, device } = setup();
    const h = await clock.run(device.load('auto', 'crc32'));
    device.injectFault({ kind: 'hang' });
    const t0 = clock.now();
    const hung = device.call(h, new Uint8Array(10), new Uint8Array(4), { deadlineMicros: 500 });
    const next = device.call(h, new Uint8Array(10), new Uint8Array(4), { deadlineMicros: 1_000 });
    await expect(clock.run(hung)).rejects.toBeInstanceOf(DeviceTimeoutError);
    expect(clock.now()).toBe(t0 + 500_000);
    const r = await clock.run(next);
    expect(r.startedAt).toBe(t0 + 500_000);
  });

  it('a slow call also times out (deadline from acceptance, queueing included)', async () => {
    const { clock, device } = setup();
    const h = await clock.run(device.load('auto', 'sha256'));
    const p = device.call(h, new Uint8Array(1_000_000), new Uint8Array(32), { deadlineMicros: 100 });
    await expect(clock.run(p)).rejects.toMatchObject({ deviceCode: 'TIMEOUT', slot: 0 });
  });

  it('wrong-result: the call completes with flipped bits, and the timeline says so', async () => {
    const { clock, device } = setup();
    const h = await clock.run(device.load('auto', 'crc32'));
    device.injectFault({ kind: 'wrong-result', fn: 'crc32' });
    const input = new Uint8Array([1, 2, 3]);
    const out = new Uint8Array(4);
    const r = await clock.run(device.call(h, input, out));
    expect(out).not.toEqual(expected('crc32', input));
    expect(device.timeline.some((e) => e.kind === 'fault' && e.detail.fault === 'wrong-result' && e.detail.call === r.callId)).toBe(true);
    await clock.run(device.call(h, input, out));
    expect(out).toEqual(expected('crc32', input));
  });

  it('reset: bitstreams are lost, in-flight calls and loads fail, holders keep their slots and reload', async () => {
    const { clock, device } = setup();
    const h = await clock.run(device.load(0, 'sha256'));
    const inflight = device.call(h, new Uint8Array(1_000_000), new Uint8Array(32));
    const loading = expect(device.load(1, 'crc32')).rejects.toBeInstanceOf(DeviceResetError);
    device.injectFault({ kind: 'reset', at: clock.now() + 1_000 });
    await expect(clock.run(inflight)).rejects.toBeInstanceOf(DeviceResetError);
    await loading;
    expect(device.inspect(0)).toMatchObject({ state: 'unloaded', holder: h.id, queued: 0, running: null });
    expect(device.inspect(1).state).toBe('free');
    expect(device.capacity()).toEqual({ slots: 2, free: 1, loaded: [null, null] });
    await expect(device.call(h, new Uint8Array(1), new Uint8Array(32))).rejects.toBeInstanceOf(NotLoadedError);
    await clock.run(device.reload(h));
    const out = new Uint8Array(32);
    await clock.run(device.call(h, new Uint8Array([9]), out));
    expect(out).toEqual(expected('sha256', new Uint8Array([9])));
  });

  it('profile fault probabilities apply to every operation; removeFault/clearFaults disarm', async () => {
    const { clock, device } = setup({ ...exactProfile(), faults: { hang: 1 } });
    const h = await clock.run(device.load('auto', 'crc32'));
    await expect(clock.run(device.call(h, new Uint8Array(1), new Uint8Array(4), { deadlineMicros: 50 }))).rejects.toBeInstanceOf(
      DeviceTimeoutError,
    );
    device.clearFaults();
    const id = device.injectFault({ kind: 'hang', probability: 1 });
    expect(device.removeFault(id)).toBe(true);
    await clock.run(device.call(h, new Uint8Array(1), new Uint8Array(4)));
  });

  it('onEvent sees every event as the timeline records it; close fails what is pending', async () => {
    const { clock, device } = setup();
    const seen: DeviceEvent[] = [];
    const off = device.onEvent((e) => seen.push(e));
    const h = await clock.run(device.load('auto', 'crc32'));
    const pending = device.call(h, new Uint8Array(1), new Uint8Array(4));
    await device.close();
    off();
    await expect(pending).rejects.toMatchObject({ deviceCode: 'CLOSED' });
    await expect(device.load('auto', 'crc32')).rejects.toMatchObject({ deviceCode: 'CLOSED' });
    expect(seen).toEqual(device.timeline.slice(0, seen.length));
    expect(seen.at(-1)?.kind).toBe('closed');
    expect(clock.pending).toBe(0);
  });
});
