/**
 * A scheduled model over the VirtualClock: several "instances" load, call,
 * reload and release at generated virtual times while faults are injected.
 * `runWorkload` drives a device through one workload and records what every
 * instance saw; the specs check the invariants on that record.
 */
import { fc } from '@fast-check/vitest';
import {
  NotLoadedError,
  SimDevice,
  SimDeviceError,
  VirtualClock,
  kernelUnit,
  type CallResult,
  type DeviceEvent,
  type FaultKind,
  type FaultProbabilities,
  type JitterSpec,
  type KernelName,
  type SlotHandle,
} from '../../simulator/index.js';
import { testProfile, u32le } from './helpers.js';

export const INSTANCES = 4;
const MAX_SLOTS = 3;

export type Body =
  | { op: 'load'; fn: KernelName; slot: number | 'auto' }
  | { op: 'call'; sizes: number[]; deadlineMicros: number; thenRelease: boolean }
  | { op: 'release' }
  | { op: 'reload' }
  | { op: 'reset' }
  | { op: 'fault'; kind: FaultKind; slot: number | undefined; probability: number | undefined; laterMicros: number };

export interface Action {
  /** Virtual time of the action, µs. */
  at: number;
  inst: number;
  body: Body;
}

export interface Workload {
  seed: number;
  slots: number;
  faults: FaultProbabilities;
  jitter: JitterSpec;
  actions: Action[];
}

const fnArb = fc.constantFrom<KernelName>('crc32', 'sha256', 'factorial', 'fibonacci');
const bodyArb: fc.Arbitrary<Body> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('load' as const), fn: fnArb, slot: fc.oneof(fc.constant('auto' as const), fc.integer({ min: 0, max: MAX_SLOTS - 1 })) }) },
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant('call' as const),
      sizes: fc.array(fc.integer({ min: 0, max: 20_000 }), { minLength: 1, maxLength: 3 }),
      deadlineMicros: fc.integer({ min: 20, max: 3_000 }),
      thenRelease: fc.integer({ min: 0, max: 19 }).map((x) => x === 0),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('release' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('reload' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('reset' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('fault' as const),
      kind: fc.constantFrom<FaultKind>('load-failure', 'hang', 'wrong-result', 'reset'),
      slot: fc.option(fc.integer({ min: 0, max: MAX_SLOTS - 1 }), { nil: undefined }),
      probability: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
      laterMicros: fc.integer({ min: 0, max: 20_000 }),
    }),
  },
);

export const workloadArb: fc.Arbitrary<Workload> = fc.record({
  seed: fc.integer(),
  slots: fc.integer({ min: 1, max: MAX_SLOTS }),
  faults: fc.record({
    loadFailure: fc.constantFrom(0, 0.2),
    hang: fc.constantFrom(0, 0.1),
    wrongResult: fc.constantFrom(0, 0.2),
    reset: fc.constantFrom(0, 0.03),
  }),
  jitter: fc.oneof(
    fc.constant<JitterSpec>({ kind: 'uniform', fraction: 0 }),
    fc.constant<JitterSpec>({ kind: 'uniform', fraction: 0.2 }),
    fc.constant<JitterSpec>({ kind: 'lognormal', fraction: 0.1, sigma: 0.5 }),
  ),
  actions: fc.array(
    fc.record({ at: fc.integer({ min: 0, max: 40_000 }), inst: fc.integer({ min: 0, max: INSTANCES - 1 }), body: bodyArb }),
    { minLength: 10, maxLength: 60 },
  ),
});

export interface CallRecord {
  inst: number;
  handle: SlotHandle;
  kernel: KernelName;
  input: Uint8Array;
  out: Uint8Array;
  issuedAt: number;
  deadlineNs: number;
  settledAt?: number;
  result?: CallResult;
  error?: unknown;
}

export interface Run {
  device: SimDevice;
  clock: VirtualClock;
  timeline: DeviceEvent[];
  calls: CallRecord[];
  /** Invariant violations seen while running (checked at action and load times). */
  violations: string[];
  /** Outcome of every call: result or error code, for determinism comparisons. */
  outcomes: unknown[];
}

/** Input of a call of `size` to `kernel`: a payload for CRC32/SHA-256, n for the loop kernels. */
export function inputFor(kernel: KernelName, size: number): Uint8Array {
  if (kernelUnit(kernel) === 'items') return u32le(size % 5_000);
  return new Uint8Array(size).map((_, i) => (i * 31 + size) & 0xff);
}

export async function runWorkload(w: Workload): Promise<Run> {
  const clock = new VirtualClock();
  const device = new SimDevice({ profile: testProfile({ slots: w.slots, faults: w.faults }, w.jitter), clock, seed: w.seed });
  const insts = Array.from({ length: INSTANCES }, () => ({ holding: null as SlotHandle | null, loading: false, reloading: false }));
  const calls: CallRecord[] = [];
  const violations: string[] = [];

  /** A slot is believed held by at most one instance, and the device agrees on the holder. */
  const checkHolders = (when: string): void => {
    const seen = new Map<number, number>();
    insts.forEach((s, i) => {
      if (s.holding === null) return;
      const other = seen.get(s.holding.slot);
      if (other !== undefined) violations.push(`${when}: slot ${s.holding.slot} held by instances ${other} and ${i}`);
      seen.set(s.holding.slot, i);
      const holder = device.inspect(s.holding.slot).holder;
      if (holder !== s.holding.id) violations.push(`${when}: device says slot ${s.holding.slot} is held by ${holder}, not ${s.holding.id}`);
    });
  };

  const release = (me: (typeof insts)[number]): void => {
    const h = me.holding;
    if (h === null) return;
    me.holding = null;
    void device.release(h);
    // synchronous: once release returns (outside a device handler) the slot is free and empty
    const info = device.inspect(h.slot);
    if (info.state !== 'free' || info.holder !== null || info.queued !== 0 || info.running !== null) {
      violations.push(`after release of ${h.id}: ${JSON.stringify(info)}`);
    }
  };

  const reload = (me: (typeof insts)[number]): void => {
    const h = me.holding;
    if (h === null) return;
    me.reloading = true;
    device.reload(h).then(
      () => {
        me.reloading = false;
      },
      (e: unknown) => {
        me.reloading = false;
        if (!(e instanceof SimDeviceError)) violations.push(`reload failed with ${String(e)}`);
      },
    );
  };

  const act = (a: Action): void => {
    const me = insts[a.inst]!;
    const b = a.body;
    checkHolders(`t=${clock.now()} before ${b.op}`);
    switch (b.op) {
      case 'load': {
        if (me.holding !== null || me.loading) return;
        me.loading = true;
        device.load(b.slot, b.fn).then(
          (h) => {
            me.loading = false;
            me.holding = h;
            checkHolders(`t=${clock.now()} after load of ${h.id}`);
          },
          (e: unknown) => {
            me.loading = false;
            if (!(e instanceof SimDeviceError)) violations.push(`load failed with ${String(e)}`);
          },
        );
        return;
      }
      case 'call': {
        const h = me.holding;
        if (h === null) return;
        for (const size of b.sizes) {
          const rec: CallRecord = {
            inst: a.inst,
            handle: h,
            kernel: h.kernel,
            input: inputFor(h.kernel, size),
            out: new Uint8Array(32),
            issuedAt: clock.now(),
            deadlineNs: b.deadlineMicros * 1_000,
          };
          calls.push(rec);
          device.call(h, rec.input, rec.out, { deadlineMicros: b.deadlineMicros }).then(
            (r) => {
              rec.result = r;
              rec.settledAt = clock.now();
            },
            (e: unknown) => {
              rec.error = e;
              rec.settledAt = clock.now();
              // an instance that finds its bitstream lost (device reset) reloads it, as the driver's reset() does
              if (e instanceof NotLoadedError && me.holding === h && !me.reloading) reload(me);
            },
          );
        }
        if (b.thenRelease) release(me); // at the same instant, with the calls in flight
        return;
      }
      case 'release':
        release(me);
        return;
      case 'reload':
        reload(me);
        return;
      case 'reset':
        void device.reset();
        return;
      case 'fault':
        device.injectFault({
          kind: b.kind,
          ...(b.slot === undefined ? {} : { slot: b.slot }),
          ...(b.probability === undefined ? {} : { probability: b.probability }),
          ...(b.kind === 'reset' && b.probability === undefined ? { at: clock.now() + b.laterMicros * 1_000 } : {}),
        });
        return;
    }
  };

  for (const a of w.actions) clock.schedule(a.at * 1_000, () => act(a));
  await clock.runUntilIdle();
  // wind down: every instance gives its slot back
  for (const s of insts) if (s.holding !== null) await device.release(s.holding);
  await clock.runUntilIdle();

  const outcomes = calls.map((c) =>
    c.result !== undefined ? { ...c.result, out: [...c.out] } : { error: c.error instanceof SimDeviceError ? c.error.deviceCode : String(c.error) },
  );
  return { device, clock, timeline: device.timeline, calls, violations, outcomes };
}
