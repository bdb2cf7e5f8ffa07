/**
 * `vfun replay-trace`: re-time a recorded trace on simulated devices
 * (replay-model.ts: each call on its own function's profile entry, with its
 * own sizes and work) and report predicted against recorded latency: a JSON
 * report, a CSV of every call, a CDF figure. Several device profiles and
 * launch costs in one run give one prediction per (device, launch)
 * combination, each re-timed with the same seed, all in one report, one CSV
 * and one CDF beside the recorded latency. A trace that breaks the
 * computation protocol is refused first (trace-check.ts).
 *
 * `fn` re-times the calls on another function of the profile, e.g. a GPU function of a profile
 * measured with `vfun sim calibrate --device webgpu` (whose throughput counts operations: each
 * of the trace's `reps * n` loop steps counts as one operation).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ValidationError } from '../errors.js';
import { loadProfileSync, type DeviceProfile } from '../../simulator/profile.js';
import { toCsv } from './csv.js';
import { FIGURES_HINT, figureRenderer, lines, type FigureSpec } from './figures.js';
import { checkView } from './traces.js';
import { readTraceFile } from './trace-read.js';
import { checkTrace } from './trace-check.js';
import type { TraceV1Call, TraceV1Header } from './trace-format.js';
import { cdfPoints, combinations, functionFor, percentiles, retime, spansDecade, type Percentiles, type ReplayCall } from './replay-model.js';

export { callWork, percentiles, type Percentiles, type ReplayCall } from './replay-model.js';

/** What `replayTrace` re-times, on what, and where it writes. */
export interface ReplayOptions {
  readonly trace: string;
  /** One device profile (simulator/profiles name or a JSON file) or several. */
  readonly device: string | readonly string[];
  /** The profile's function to re-time every call on (default: each call's own, else the trace's). */
  readonly fn?: string;
  /** Override the profiles' launch cost, µs: one value, or several (one prediction per device and value). */
  readonly launchMicros?: number | readonly number[];
  /** Folder for the outputs (default: the trace's folder). */
  readonly out?: string;
  readonly seed?: number;
}

/** One (device, launch) combination's prediction. */
export interface ReplayPrediction {
  readonly device: string;
  /** The profile's own description (a calibrated profile says which adapter, and whether it was a software one). */
  readonly device_description: string;
  /** The launch cost: the override, else the profile's for the first call's function. */
  readonly launch_us: number;
  /** Whether `launch_us` overrides the profile's. */
  readonly launch_override: boolean;
  /** The profile's function the header's calls were re-timed on (the trace's own unless `fn` was given). */
  readonly device_fn: string;
  /** Every profile function the calls were re-timed on, with its launch cost, µs. */
  readonly functions: Readonly<Record<string, number>>;
  readonly predicted: Percentiles;
  /** predicted total / recorded total. */
  readonly speedup_ratio: number;
}

/**
 * The report of a replay. Its top-level prediction fields (device, launch_us,
 * predicted, speedup_ratio, ...) are the first combination's, as they were when
 * a run had only one; `combinations` has every one.
 */
export interface ReplayReport extends ReplayPrediction {
  readonly trace: string;
  readonly fn: string;
  readonly instance: string;
  readonly calls: number;
  /** Calls the service answered with an error: replayed as errors (recorded time kept), left out of nothing. */
  readonly errors: number;
  /**
   * DONE calls without the service's times (busy/done), as most imported logs: their whole recorded
   * latency counts as channel, and the device's time is added on top, so their prediction
   * overestimates by the original computation (the text report says so).
   */
  readonly untimed: number;
  readonly seed: number;
  readonly recorded: Percentiles;
  /** One entry per (device, launch) combination, devices outermost. */
  readonly combinations: readonly ReplayPrediction[];
  /** `svg` is null when vega and vega-lite are not installed (no figure; FIGURES_HINT). */
  readonly files: { readonly json: string; readonly csv: string; readonly svg: string | null };
}

/** The columns of the per-call CSV (and the per_call rows of the JSON file), one row per combination and call. */
export const REPLAY_CSV_COLUMNS = ['device', 'launch_us', 'i', 'fn', 'recorded_us', 'service_us', 'channel_us', 'device_us', 'predicted_us', 'in_bytes', 'out_bytes', 'work', 'status'] as const;

const asList = <T>(x: T | readonly T[] | undefined): readonly T[] => (x === undefined ? [] : Array.isArray(x) ? (x as readonly T[]) : [x as T]);
const unique = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/** The trace's function and, when it has one, its instance label. */
const named = (r: Pick<ReplayReport, 'fn' | 'instance'>): string => (r.instance === '' ? r.fn : `${r.fn} ${r.instance}`);

/** A combination's series name in the figure and its row name in the table. */
export function predictionLabel(p: Pick<ReplayPrediction, 'device' | 'launch_us' | 'launch_override'>): string {
  return `${p.device}${p.launch_override ? `, launch ${p.launch_us} µs` : ''}`;
}

/** The CDF figure: the recorded latency and every combination's prediction; a log x axis when the latencies span more than a decade. */
export function replayFigure(r: Pick<ReplayReport, 'fn' | 'instance' | 'device_fn' | 'combinations'>, recorded: readonly number[], predicted: readonly (readonly number[])[]): FigureSpec {
  const devices = unique(r.combinations.map((c) => c.device));
  const launches = unique(r.combinations.map((c) => c.launch_us));
  const log = spansDecade([...recorded, ...predicted.flat()]);
  return lines({
    title: `${named(r)}: recorded vs predicted on ${devices.join(', ')}${r.device_fn !== r.fn ? ` ${r.device_fn}` : ''} (launch ${launches.join(', ')} µs)`,
    values: [...cdfPoints(recorded, 'recorded'), ...r.combinations.flatMap((c, k) => cdfPoints(predicted[k] ?? [], `predicted (${predictionLabel(c)})`))],
    x: 'latency_us',
    xTitle: 'latency per call (µs)',
    y: 'fraction',
    yTitle: 'fraction of calls (CDF)',
    series: 'series',
    xLog: log,
  });
}

/** Re-time a trace file on every (device, launch) combination and write the report, the CSV and the figure. */
export async function replayTrace(o: ReplayOptions): Promise<ReplayReport> {
  const trace = readTraceFile(o.trace);
  if (trace.calls.length === 0) throw new ValidationError('<trace>', `${o.trace} has no calls: nothing to replay`);
  const view = checkView(trace);
  checkTrace(view.header, view.calls, o.trace);
  const { header } = trace;
  const launches = unique(asList(o.launchMicros));
  for (const l of launches) if (!(Number.isFinite(l) && l >= 0)) throw new ValidationError('launch-us', `${l} must be a number >= 0`);
  const names = unique(asList(o.device));
  if (names.length === 0) throw new ValidationError('device', 'no device profile given');
  const profiles = names.map((d) => loadProfileSync(d));
  const seed = o.seed ?? 1;
  const runs = combinations(profiles, launches).map(({ device, launchMicros }) => {
    const opts = { ...(o.fn !== undefined && { fn: o.fn }), ...(launchMicros !== undefined && { launchMicros }), seed, source: o.trace };
    const calls = retime(trace, device, opts);
    return { calls, prediction: prediction(device, header, trace.calls[0] ?? null, calls, opts) };
  });
  const first = runs[0]!;
  const dir = o.out ?? dirname(o.trace);
  mkdirSync(dir, { recursive: true });
  const stem = `replay-${basename(o.trace).replace(/\.jsonl$/, '')}-${profiles.map((p) => p.name).join('+')}${o.fn !== undefined ? `-${o.fn}` : ''}${launches.length > 0 ? `-launch${launches.join('+')}us` : ''}${o.seed !== undefined ? `-seed${o.seed}` : ''}`;
  const renderSvg = await figureRenderer();
  const files = { json: join(dir, `${stem}.json`), csv: join(dir, `${stem}.csv`), svg: renderSvg === null ? null : join(dir, `${stem}.svg`) };
  const recordedUs = first.calls.map((c) => c.recorded_us);
  const report: ReplayReport = {
    trace: o.trace,
    ...first.prediction,
    fn: header.fn,
    instance: view.header.instance,
    calls: trace.calls.length,
    errors: trace.calls.filter((c) => c.status === 'ERROR').length,
    untimed: trace.calls.filter((c) => c.status !== 'ERROR' && (c.busy_ns === null || c.done_ns === null)).length,
    seed,
    recorded: percentiles(recordedUs),
    combinations: runs.map((r) => r.prediction),
    files,
  };
  const perCall = runs.flatMap((r) => r.calls);
  writeFileSync(files.csv, toCsv(REPLAY_CSV_COLUMNS, perCall.map((c) => REPLAY_CSV_COLUMNS.map((k) => c[k]))));
  // The JSON names its sibling files relative to its own folder (the folder can move); the report
  // returned and printed keeps the paths as written.
  const siblings = { json: basename(files.json), csv: basename(files.csv), svg: files.svg === null ? null : basename(files.svg) };
  writeFileSync(files.json, JSON.stringify({ ...report, files: siblings, per_call: perCall }, null, 2) + '\n');
  if (renderSvg === null || files.svg === null) return report;
  const spec = replayFigure(report, recordedUs, runs.map((r) => r.calls.map((c) => c.predicted_us)));
  writeFileSync(files.svg, await renderSvg(spec));
  return report;
}

/** One combination's summary. */
function prediction(profile: DeviceProfile, header: TraceV1Header, firstCall: TraceV1Call | null, calls: readonly ReplayCall[], opts: { fn?: string; launchMicros?: number; source: string }): ReplayPrediction {
  const lead = functionFor(profile, header, firstCall, opts);
  const functions: Record<string, number> = {};
  for (const c of calls) functions[c.fn] ??= c.launch_us;
  const sum = (k: 'recorded_us' | 'predicted_us'): number => calls.reduce((a, c) => a + c[k], 0);
  return {
    device: profile.name,
    device_description: profile.description ?? `${profile.name} (no description)`,
    launch_us: lead.fp.launchMicros,
    launch_override: opts.launchMicros !== undefined,
    device_fn: opts.fn ?? header.fn,
    functions,
    predicted: percentiles(calls.map((c) => c.predicted_us)),
    speedup_ratio: sum('predicted_us') / Math.max(1e-9, sum('recorded_us')),
  };
}

/** The report as text: one table row per combination, the ratio of each. */
export function formatReplay(r: ReplayReport): string {
  const single = r.combinations.length === 1;
  // One combination: the table of earlier releases; several: a column of each one's ratio.
  const row = (name: string, p: Percentiles, ratio: string): string => `| ${name} | ${p.mean} | ${p.p50} | ${p.p90} | ${p.p99} | ${p.max} |${single ? '' : ` ${ratio} |`}`;
  const devices = unique(r.combinations.map((c) => c.device));
  const described = devices.map((d) => r.combinations.find((c) => c.device === d)!);
  return [
    single
      ? `${r.calls} calls of ${named(r)}, re-timed on ${r.device}${r.device_fn !== r.fn ? ` function ${r.device_fn}` : ''} (launch ${r.launch_us} µs)`
      : `${r.calls} calls of ${named(r)}, re-timed on ${r.combinations.length} combinations of ${devices.join(', ')}${r.device_fn !== r.fn ? ` function ${r.device_fn}` : ''} and launch costs`,
    ...(single ? [`profile: ${r.device_description}`] : described.map((c) => `profile ${c.device}: ${c.device_description}`)),
    ...(r.device_fn !== r.fn ? [`note: the calls carry ${r.fn} arguments; their work is counted in ${r.device_fn}'s units, so this compares the shape of a workload, not these two functions`] : []),
    '',
    `| latency µs | mean | p50 | p90 | p99 | max |${single ? '' : ' predicted / recorded total |'}`,
    `|---|---:|---:|---:|---:|---:|${single ? '' : '---:|'}`,
    row('recorded', r.recorded, ''),
    ...r.combinations.map((c) => row(single ? 'predicted' : `predicted ${predictionLabel(c)}`, c.predicted, c.speedup_ratio.toFixed(3))),
    '',
    ...(r.errors > 0 ? [`${r.errors} ERROR calls replayed as errors (their recorded time kept)`] : []),
    ...(r.untimed > 0
      ? [
          `warning: ${r.untimed} of ${r.calls} calls have no service times (busy/done): their whole recorded latency is kept as channel and the device's time added on top, so their predictions overestimate by the original computation; record busy/done, or import a compute column (docs/traces.md, "Replaying")`,
        ]
      : []),
    ...(single ? [`predicted / recorded total time: ${r.speedup_ratio.toFixed(3)} (seed ${r.seed})`] : [`seed ${r.seed} for every combination`]),
    `per call: ${r.files.csv}`,
    `figure:   ${r.files.svg ?? FIGURES_HINT}`,
  ].join('\n');
}
