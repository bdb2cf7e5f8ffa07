/**
 * The re-timing of `vfun replay-trace`, pure: a trace and a device profile in,
 * one predicted latency per call out (replay-trace.ts reads the files and
 * writes the report). Each call's recorded latency (get - set) splits into the
 * service's compute time (done - busy) and the rest, the channel (set -> busy
 * and done -> get). The prediction keeps the channel and replaces the compute
 * time by the device model's time for the same call (simulator/model.ts:
 * transfer in + launch + compute + transfer out + jitter, with the call's own
 * in_bytes, out_bytes and work), on the profile's entry for the call's own
 * function (its `fn`, else the header's; `fn` forces one for every call). An
 * ERROR call stays an error: its recorded time is kept as the prediction.
 */
import { ValidationError } from '../errors.js';
import { callCost, drawJitterNs } from '../../simulator/model.js';
import { kernelUnit } from '../../simulator/kernels.js';
import { functionProfile, type DeviceProfile, type FunctionProfile } from '../../simulator/profile.js';
import { createRng } from '../../simulator/rng.js';
import type { TraceV1, TraceV1Call, TraceV1Header } from './trace-format.js';

/** Summary of a latency distribution, µs (rounded to ns). */
export interface Percentiles {
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly min: number;
}

/** One call re-timed on one (device, launch) combination. */
export interface ReplayCall {
  /** The device profile's name. */
  readonly device: string;
  /** The launch cost the call was re-timed with, µs. */
  readonly launch_us: number;
  readonly i: number;
  /** The profile's function the call was re-timed on. */
  readonly fn: string;
  readonly recorded_us: number;
  readonly service_us: number;
  readonly channel_us: number;
  readonly device_us: number;
  readonly predicted_us: number;
  readonly in_bytes: number;
  readonly out_bytes: number;
  readonly work: number;
  readonly status: 'DONE' | 'ERROR';
}

/** What one prediction re-times the calls with. */
export interface RetimeOptions {
  /** Re-time every call on this function of the profile (default: each call's own). */
  readonly fn?: string;
  /** Override the launch cost of every function of the profile, µs. */
  readonly launchMicros?: number;
  /** Seed of the device jitter: the same seed, the same predictions. */
  readonly seed: number;
  /** Names the trace in refusals. */
  readonly source: string;
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Mean, min, max and the 50th, 90th and 99th percentiles (nearest rank) of `xs`. */
export function percentiles(xs: readonly number[]): Percentiles {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? NaN;
  return { mean: r3(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)), p50: r3(at(0.5)), p90: r3(at(0.9)), p99: r3(at(0.99)), max: r3(s[s.length - 1] ?? NaN), min: r3(s[0] ?? NaN) };
}

/**
 * The work of call `c` in the device function's unit: the call's own `work`,
 * else the header's, else the call's in_bytes for a function that counts bytes
 * (crc32, sha256); refused naming the call's line when none says.
 */
export function callWork(header: TraceV1Header, c: TraceV1Call, unit: 'bytes' | 'items' | 'ops', source: string): number {
  const w = c.work ?? header.work ?? (unit === 'bytes' ? c.in_bytes : undefined);
  if (w === undefined) throw new ValidationError('trace', `${source}: line ${c.i + 2}: work: missing, and the header has no work either (the device function counts ${unit}; docs/traces.md)`);
  return w;
}

/** The profile's functions, for refusals. */
const functionList = (p: DeviceProfile): string => Object.keys(p.functions).join(', ');

/**
 * The profile's entry that re-times call `c` (index `k`; null: the trace has
 * no calls and the header's function is meant), the launch overridden when
 * `o.launchMicros` says; refused naming the call's line and the function.
 */
export function functionFor(profile: DeviceProfile, header: TraceV1Header, c: TraceV1Call | null, o: Omit<RetimeOptions, 'seed'>): { name: string; fp: FunctionProfile } {
  const name = o.fn ?? c?.fn ?? header.fn;
  const fp = functionProfile(profile, name);
  if (fp === undefined) {
    if (o.fn !== undefined) throw new ValidationError('fn', `profile '${profile.name}' has no function '${name}' (it has ${functionList(profile)})`);
    const where = c === null ? 'line 1: fn' : `line ${c.i + 2}: fn${c.fn === undefined ? " (the header's)" : ''}`;
    throw new ValidationError('trace', `${o.source}: ${where}: profile '${profile.name}' has no function '${name}' (it has ${functionList(profile)}); choose one with --fn`);
  }
  return { name, fp: o.launchMicros === undefined ? fp : { ...fp, launchMicros: o.launchMicros } };
}

/**
 * Every call of `trace` re-timed on `profile` (see the module comment). The
 * jitter is drawn for every call in order from one generator seeded with
 * `o.seed`, so the same seed gives the same predictions, whatever else is
 * re-timed in the same run.
 */
export function retime(trace: TraceV1, profile: DeviceProfile, o: RetimeOptions): ReplayCall[] {
  const rng = createRng(o.seed);
  const cache = new Map<string | undefined, { name: string; fp: FunctionProfile }>();
  return trace.calls.map((c) => {
    const key = o.fn ?? c.fn;
    const f = cache.get(key) ?? functionFor(profile, trace.header, c, o);
    cache.set(key, f);
    const recorded = (c.get_ns - c.set_ns) / 1000;
    const service = c.busy_ns !== null && c.done_ns !== null ? (c.done_ns - c.busy_ns) / 1000 : 0;
    const channel = Math.max(0, recorded - service);
    const work = callWork(trace.header, c, kernelUnit(f.fp.kernel), o.source);
    const base = callCost(f.fp, c.in_bytes, c.out_bytes, work).totalNs;
    const jitter = drawJitterNs(base, f.fp.jitter, rng); // drawn for every call: the same seed keeps later calls' draws aligned
    const failed = c.status === 'ERROR';
    const device = failed ? service : (base + jitter) / 1000;
    return {
      device: profile.name,
      launch_us: f.fp.launchMicros,
      i: c.i,
      fn: f.name,
      recorded_us: r3(recorded),
      service_us: r3(service),
      channel_us: r3(channel),
      device_us: r3(device),
      predicted_us: r3(failed ? recorded : channel + device),
      in_bytes: c.in_bytes,
      out_bytes: c.out_bytes,
      work,
      status: c.status,
    };
  });
}

/** Every (device, launch) pair, devices outermost; no launch given: each device once with its profile's own. */
export function combinations<D>(devices: readonly D[], launches: readonly number[]): { device: D; launchMicros?: number }[] {
  return devices.flatMap((device) => (launches.length === 0 ? [{ device }] : launches.map((launchMicros) => ({ device, launchMicros }))));
}

/** Whether positive values span more than a decade (max > 10 · min): a log axis shows them better. */
export function spansDecade(xs: readonly number[]): boolean {
  if (xs.length === 0) return false;
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of xs) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  return lo > 0 && hi > 10 * lo;
}

/** Points of the empirical CDF of `xs` for series `series` (at most about 400, and the last). */
export function cdfPoints(xs: readonly number[], series: string): { latency_us: number; fraction: number; series: string }[] {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return [];
  const step = Math.max(1, Math.floor(s.length / 400));
  const pts: { latency_us: number; fraction: number; series: string }[] = [];
  for (let k = 0; k < s.length; k += step) pts.push({ latency_us: s[k]!, fraction: (k + 1) / s.length, series });
  pts.push({ latency_us: s[s.length - 1]!, fraction: 1, series });
  return pts;
}
