/**
 * `vfun replay-trace`: re-time a recorded trace on a simulated device. Each
 * call's recorded latency (get - set) splits into the service's compute time
 * (done - busy) and the rest, the channel (set -> busy and done -> get). The
 * prediction keeps the channel and replaces the compute time by the device
 * model's time for the same call (simulator/model.ts: transfer in + launch +
 * compute + transfer out + jitter, with the call's own in_bytes, out_bytes and
 * work: callModel below), so the question "what would an FPGA with another
 * launch cost have done" has an answer per call. An ERROR call stays an error:
 * its recorded time is kept as the prediction (the device model says nothing of
 * a refused call). A trace that breaks the computation protocol is refused
 * first (trace-check.ts).
 *
 * `fn` re-times the calls on another function of the profile, e.g. a GPU function of a profile
 * measured with `vfun sim calibrate --device webgpu` (whose throughput counts operations: each
 * of the trace's `reps * n` loop steps counts as one operation).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ValidationError } from '../errors.js';
import { callCost, drawJitterNs } from '../../simulator/model.js';
import { kernelUnit } from '../../simulator/kernels.js';
import { functionProfile, loadProfileSync, type FunctionProfile } from '../../simulator/profile.js';
import { createRng } from '../../simulator/rng.js';
import { toCsv } from './csv.js';
import { FIGURES_HINT, figureRenderer, lines } from './figures.js';
import { checkView } from './traces.js';
import { readTraceFile } from './trace-read.js';
import type { TraceV1Call, TraceV1Header } from './trace-format.js';
import { checkTrace } from './trace-check.js';

export interface ReplayOptions {
  readonly trace: string;
  readonly device: string;
  /** The profile's function to re-time the calls on (default: the trace's own function). */
  readonly fn?: string;
  /** Override the profile's launch cost, µs. */
  readonly launchMicros?: number;
  /** Folder for the outputs (default: the trace's folder). */
  readonly out?: string;
  readonly seed?: number;
}

export interface Percentiles {
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly min: number;
}

export interface ReplayCall {
  readonly i: number;
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

export interface ReplayReport {
  readonly trace: string;
  readonly device: string;
  /** The profile's own description (a calibrated profile says which adapter, and whether it was a software one). */
  readonly device_description: string;
  readonly launch_us: number;
  readonly fn: string;
  /** The profile's function the calls were re-timed on (the trace's own unless `fn` was given). */
  readonly device_fn: string;
  readonly instance: string;
  readonly calls: number;
  /** Calls the service answered with an error: replayed as errors (recorded time kept), left out of nothing. */
  readonly errors: number;
  readonly seed: number;
  readonly recorded: Percentiles;
  readonly predicted: Percentiles;
  /** predicted total / recorded total. */
  readonly speedup_ratio: number;
  /** `svg` is null when vega and vega-lite are not installed (no figure; FIGURES_HINT). */
  readonly files: { readonly json: string; readonly csv: string; readonly svg: string | null };
}

export function percentiles(xs: readonly number[]): Percentiles {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? NaN;
  const r3 = (x: number): number => Math.round(x * 1000) / 1000;
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

export async function replayTrace(o: ReplayOptions): Promise<ReplayReport> {
  const trace = readTraceFile(o.trace);
  const view = checkView(trace);
  const { header, calls } = view;
  checkTrace(header, view.calls, o.trace);
  const profile = loadProfileSync(o.device);
  const deviceFn = o.fn ?? header.fn;
  const fp0 = functionProfile(profile, deviceFn);
  if (fp0 === undefined) {
    const hint = o.fn === undefined ? '; choose one with --fn' : '';
    throw new ValidationError(o.fn === undefined ? 'device' : 'fn', `profile '${o.device}' has no function '${deviceFn}' (it has ${Object.keys(profile.functions).join(', ')})${hint}`);
  }
  if (o.launchMicros !== undefined && !(Number.isFinite(o.launchMicros) && o.launchMicros >= 0)) {
    throw new ValidationError('launch-us', `${o.launchMicros} must be a number >= 0`);
  }
  const fp: FunctionProfile = o.launchMicros === undefined ? fp0 : { ...fp0, launchMicros: o.launchMicros };
  const seed = o.seed ?? 1;
  const rng = createRng(seed);
  const unit = kernelUnit(fp.kernel);
  const out: ReplayCall[] = calls.map((c, k) => {
    const v1 = trace.calls[k]!;
    const recorded = c.get_us - c.set_us;
    const service = c.busy_us !== null && c.done_us !== null ? c.done_us - c.busy_us : 0;
    const channel = Math.max(0, recorded - service);
    const work = callWork(trace.header, v1, unit, o.trace);
    const base = callCost(fp, c.in_bytes, c.out_bytes, work).totalNs;
    const jitter = drawJitterNs(base, fp.jitter, rng); // drawn for every call: the same seed keeps later calls' draws aligned
    const r3 = (x: number): number => Math.round(x * 1000) / 1000;
    const failed = c.status === 'ERROR';
    const device = failed ? service : (base + jitter) / 1000;
    return { i: c.i, recorded_us: r3(recorded), service_us: r3(service), channel_us: r3(channel), device_us: r3(device), predicted_us: r3(failed ? recorded : channel + device), in_bytes: c.in_bytes, out_bytes: c.out_bytes, work, status: c.status };
  });
  const dir = o.out ?? dirname(o.trace);
  mkdirSync(dir, { recursive: true });
  const stem = `replay-${basename(o.trace).replace(/\.jsonl$/, '')}-${profile.name}${o.fn !== undefined ? `-${o.fn}` : ''}${o.launchMicros !== undefined ? `-launch${o.launchMicros}us` : ''}${o.seed !== undefined ? `-seed${o.seed}` : ''}`;
  const renderSvg = await figureRenderer();
  const files = { json: join(dir, `${stem}.json`), csv: join(dir, `${stem}.csv`), svg: renderSvg === null ? null : join(dir, `${stem}.svg`) };
  const recorded = percentiles(out.map((c) => c.recorded_us));
  const predicted = percentiles(out.map((c) => c.predicted_us));
  const sum = (k: 'recorded_us' | 'predicted_us'): number => out.reduce((a, c) => a + c[k], 0);
  const report: ReplayReport = {
    trace: o.trace,
    device: profile.name,
    device_description: profile.description ?? `${profile.name} (no description)`,
    launch_us: fp.launchMicros,
    fn: header.fn,
    device_fn: deviceFn,
    instance: header.instance,
    calls: out.length,
    errors: out.filter((c) => c.status === 'ERROR').length,
    seed,
    recorded,
    predicted,
    speedup_ratio: sum('predicted_us') / Math.max(1e-9, sum('recorded_us')),
    files,
  };
  const columns = ['i', 'recorded_us', 'service_us', 'channel_us', 'device_us', 'predicted_us', 'in_bytes', 'out_bytes', 'work', 'status'] as const;
  writeFileSync(files.csv, toCsv(columns, out.map((c) => columns.map((k) => c[k]))));
  writeFileSync(files.json, JSON.stringify({ ...report, per_call: out }, null, 2) + '\n');
  // CDF of recorded and predicted latency (at most ~400 points per series).
  const cdf = (xs: number[], series: string): Record<string, unknown>[] => {
    const s = [...xs].sort((a, b) => a - b);
    const step = Math.max(1, Math.floor(s.length / 400));
    const pts: Record<string, unknown>[] = [];
    for (let k = 0; k < s.length; k += step) pts.push({ latency_us: s[k], fraction: (k + 1) / s.length, series });
    pts.push({ latency_us: s[s.length - 1], fraction: 1, series });
    return pts;
  };
  if (renderSvg === null || files.svg === null) return report;
  const svg = await renderSvg(
    lines({
      title: `${header.fn} ${header.instance}: recorded vs predicted on ${profile.name}${deviceFn !== header.fn ? ` ${deviceFn}` : ''} (launch ${fp.launchMicros} µs)`,
      values: [...cdf(out.map((c) => c.recorded_us), 'recorded (software, guest-host)'), ...cdf(out.map((c) => c.predicted_us), `predicted (${profile.name})`)],
      x: 'latency_us',
      xTitle: 'latency per call (µs, log)',
      y: 'fraction',
      yTitle: 'fraction of calls (CDF)',
      series: 'series',
      xLog: true,
    }),
  );
  writeFileSync(files.svg, svg);
  return report;
}

export function formatReplay(r: ReplayReport): string {
  const row = (name: string, p: Percentiles): string => `| ${name} | ${p.mean} | ${p.p50} | ${p.p90} | ${p.p99} | ${p.max} |`;
  return [
    `${r.calls} calls of ${r.fn} ${r.instance}, re-timed on ${r.device}${r.device_fn !== r.fn ? ` function ${r.device_fn}` : ''} (launch ${r.launch_us} µs)`,
    `profile: ${r.device_description}`,
    ...(r.device_fn !== r.fn ? [`note: the calls carry ${r.fn} arguments; their work is counted in ${r.device_fn}'s units, so this compares the shape of a workload, not these two functions`] : []),
    '',
    '| latency µs | mean | p50 | p90 | p99 | max |',
    '|---|---:|---:|---:|---:|---:|',
    row('recorded', r.recorded),
    row('predicted', r.predicted),
    '',
    ...(r.errors > 0 ? [`${r.errors} ERROR calls replayed as errors (their recorded time kept)`] : []),
    `predicted / recorded total time: ${r.speedup_ratio.toFixed(3)} (seed ${r.seed})`,
    `per call: ${r.files.csv}`,
    `figure:   ${r.files.svg ?? FIGURES_HINT}`,
  ].join('\n');
}
