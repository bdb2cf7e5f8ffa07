/**
 * What `vfun bench paper` measures and reports: the domains, one timed run, the
 * cells (mean, min, max per function, instance and domain), the ratios the paper
 * reports and the cost of tracing. Pure data and pure summaries: run.ts fills
 * them, report.ts and cli.ts print them.
 */
import type { WaitStrategy } from '../dataplane/wait.js';
import type { ScaledInstance } from './instances.js';
import type { PaperFn } from './driver.js';
import type { RunEnvironment } from './environment.js';
import { bootstrapMedianCi, BOOTSTRAP_SEED } from './stats.js';

export const DOMAINS = ['host-host', 'guest-host', 'guest-net', 'guest-fpga'] as const;
export type Domain = (typeof DOMAINS)[number];
export const TRACE_DOMAIN = 'guest-host+trace';
export type AnyDomain = Domain | typeof TRACE_DOMAIN;

/** Row titles of the tables and legends of the figures. */
export const DOMAIN_TITLES: Readonly<Record<AnyDomain, string>> = {
  'host-host': 'Host-Host',
  'guest-host': 'Guest-Host',
  'guest-net': 'Guest-Net',
  'guest-fpga': 'Guest-Host (FPGA sim)',
  'guest-host+trace': 'Guest-Host (traced)',
};

export interface RawRun {
  readonly fn: PaperFn;
  readonly instance: string;
  readonly domain: AnyDomain;
  readonly run: number;
  readonly seconds: number;
  readonly reps: number;
  readonly iterations: number;
  readonly result: string;
}

export interface Cell {
  readonly fn: PaperFn;
  readonly instance: string;
  readonly domain: AnyDomain;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  readonly runs: number;
  /** Mean time per invocation, µs. */
  readonly per_call_us: number;
  /** Median of the runs, s (absent in runs made before it was recorded, as the three below). */
  readonly median?: number;
  /** Bootstrap 95% confidence interval of the median, s (stats.ts). */
  readonly ci_low?: number;
  readonly ci_high?: number;
  /** (ci_high - ci_low) / median. */
  readonly ci_rel_width?: number;
}

export interface Ratio {
  readonly fn: PaperFn;
  readonly instance: string;
  readonly gh_hh: number | null;
  readonly gn_gh: number | null;
  readonly gf_gh: number | null;
  /** The same ratios of the best (minimum) runs: less sensitive to a noisy neighbour than the means. */
  readonly gh_hh_best: number | null;
  readonly gn_gh_best: number | null;
}

export interface TraceOverhead {
  readonly fn: PaperFn;
  readonly instance: string;
  readonly untraced_s: number;
  readonly traced_s: number;
  /** traced / untraced - 1, in percent. */
  readonly overhead_pct: number;
  /** (traced - untraced) / invocations, µs. */
  readonly per_call_us: number;
}

/**
 * Where a traced guest-host call's time goes, from its trace (means over the calls of the traced
 * run): the service's part (busy → done: the computation and the answer's stores) and the rest
 * (the channel: request, wake-ups, reading the answer), beside host-host's time per call. At long
 * calls `service_over_hh` says whether guest-host's excess over host-host is in the computation
 * itself (the same function running slower in the service) or in the channel.
 */
export interface TraceSplit {
  readonly fn: PaperFn;
  readonly instance: string;
  readonly calls: number;
  /** Mean get - set, µs. */
  readonly recorded_us: number;
  /** Mean done - busy, µs. */
  readonly service_us: number;
  /** recorded_us - service_us, µs. */
  readonly channel_us: number;
  /** Host-host's mean time per call in the same run, µs (null without that cell). */
  readonly hh_per_call_us: number | null;
  /** service_us / hh_per_call_us. */
  readonly service_over_hh: number | null;
}

/** The split of one trace's calls (µs, as trace-check reads them) beside host-host's cell. */
export function traceSplit(fn: PaperFn, instance: string, calls: readonly { set_us: number; busy_us: number | null; done_us: number | null; get_us: number }[], cells: readonly Cell[]): TraceSplit | null {
  const timed = calls.filter((c) => c.busy_us !== null && c.done_us !== null);
  if (timed.length === 0) return null;
  const mean = (f: (c: (typeof timed)[number]) => number): number => timed.reduce((a, c) => a + f(c), 0) / timed.length;
  const recorded = mean((c) => c.get_us - c.set_us);
  const service = mean((c) => c.done_us! - c.busy_us!);
  const hh = cells.find((c) => c.fn === fn && c.instance === instance && c.domain === 'host-host')?.per_call_us ?? null;
  return {
    fn,
    instance,
    calls: timed.length,
    recorded_us: recorded,
    service_us: service,
    channel_us: recorded - service,
    hh_per_call_us: hh,
    service_over_hh: hh === null || hh === 0 ? null : service / hh,
  };
}

/** Where `bench paper --vm` ran the guest-host and guest-net columns (vm-run.ts). */
export interface VmLabel {
  /** QEMU's accelerator. */
  readonly accel: 'tcg' | 'kvm';
  /** True under TCG: the guest's CPU is emulated, its times are not comparable with the paper's. */
  readonly emulated: boolean;
  /** Why KVM was not used, under --accel auto. */
  readonly fallback?: string;
  /** The guest kernel's release. */
  readonly kernel: string;
  /** The application in the guest. */
  readonly guest: string;
  /** guest-host's path: the VM tenant's slot of vFunD's ivshmem window. */
  readonly guestHost: string;
  /** guest-net's path: the guest's TCP through virtio-net to the host. */
  readonly guestNet: string;
  /** From QEMU's start to the guest's boot marker, and the whole VM run, ms. */
  readonly bootMs: number;
  readonly durationMs: number;
  /** vFunD's journal of the run, relative to the results folder, and whether its hash chain verified. */
  readonly journal: string;
  readonly chainVerified: boolean;
}

export interface PaperResults {
  readonly meta: {
    readonly started: string;
    readonly finished: string;
    readonly node: string;
    readonly cpus: number;
    readonly cpuModel: string;
    readonly scale: number;
    readonly runs: number;
    readonly device: string | null;
    readonly strategy: WaitStrategy;
    readonly spinMicros: number;
    readonly n: Readonly<Record<PaperFn, number>>;
    /** Run with --quick: not comparable with the paper. Absent in runs made before it was recorded. */
    readonly quick?: boolean;
    /** Machine, code, command line, seeds, profile and load (environment.ts). Absent in older runs. */
    readonly environment?: RunEnvironment;
    /** With --vm: the VM that ran guest-host and guest-net. Absent otherwise. */
    readonly vm?: VmLabel;
  };
  readonly instances: readonly ScaledInstance[];
  readonly domains: readonly AnyDomain[];
  readonly fns: readonly PaperFn[];
  readonly raw: readonly RawRun[];
  readonly cells: readonly Cell[];
  readonly ratios: readonly Ratio[];
  readonly traceOverhead: readonly TraceOverhead[];
  /** The trace files, relative to the results folder (absolute in runs made before). */
  readonly traces: readonly string[];
  /** With --trace: where each traced call's time goes (absent in runs made before it). */
  readonly traceSplit?: readonly TraceSplit[];
}

/** Mean, min, max, median and bootstrap 95% CI of the median (seeded) of the runs of each (function, instance, domain). */
export function summarizeCells(raw: readonly RawRun[], seed = BOOTSTRAP_SEED): Cell[] {
  const groups = new Map<string, RawRun[]>();
  for (const r of raw) {
    const k = `${r.fn}\u0000${r.instance}\u0000${r.domain}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(r);
  }
  return [...groups.values()].map((g) => {
    const s = g.map((r) => r.seconds);
    const mean = s.reduce((a, b) => a + b, 0) / s.length;
    const f = g[0]!;
    const ci = bootstrapMedianCi(s, { seed });
    return {
      fn: f.fn,
      instance: f.instance,
      domain: f.domain,
      mean,
      min: Math.min(...s),
      max: Math.max(...s),
      runs: s.length,
      per_call_us: (mean / f.iterations) * 1e6,
      median: ci.median,
      ci_low: ci.low,
      ci_high: ci.high,
      ci_rel_width: ci.relWidth,
    };
  });
}

/** The paper's ratios (guest-host / host-host, guest-net / guest-host, FPGA / guest-host), of means and of best runs. */
export function computeRatios(cells: readonly Cell[], fns: readonly PaperFn[], instances: readonly { label: string }[]): Ratio[] {
  const get = (fn: PaperFn, inst: string, d: AnyDomain): number | null => cells.find((c) => c.fn === fn && c.instance === inst && c.domain === d)?.mean ?? null;
  const best = (fn: PaperFn, inst: string, d: AnyDomain): number | null => cells.find((c) => c.fn === fn && c.instance === inst && c.domain === d)?.min ?? null;
  const div = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : a / b);
  const out: Ratio[] = [];
  for (const fn of fns)
    for (const i of instances) {
      const hh = get(fn, i.label, 'host-host');
      const gh = get(fn, i.label, 'guest-host');
      out.push({
        fn,
        instance: i.label,
        gh_hh: div(gh, hh),
        gn_gh: div(get(fn, i.label, 'guest-net'), gh),
        gf_gh: div(get(fn, i.label, 'guest-fpga'), gh),
        gh_hh_best: div(best(fn, i.label, 'guest-host'), best(fn, i.label, 'host-host')),
        gn_gh_best: div(best(fn, i.label, 'guest-net'), best(fn, i.label, 'guest-host')),
      });
    }
  return out;
}

/** What per-call tracing costs: the traced guest-host cell against the untraced one. */
export function computeTraceOverhead(cells: readonly Cell[], instances: readonly ScaledInstance[]): TraceOverhead[] {
  const out: TraceOverhead[] = [];
  for (const t of cells.filter((c) => c.domain === TRACE_DOMAIN)) {
    const u = cells.find((c) => c.fn === t.fn && c.instance === t.instance && c.domain === 'guest-host');
    const inst = instances.find((i) => i.label === t.instance);
    if (!u || !inst) continue;
    out.push({
      fn: t.fn,
      instance: t.instance,
      untraced_s: u.mean,
      traced_s: t.mean,
      overhead_pct: (t.mean / u.mean - 1) * 100,
      per_call_us: ((t.mean - u.mean) / inst.iterations) * 1e6,
    });
  }
  return out;
}

/**
 * The run with its summaries (cells, ratios, tracing overhead) computed again from its raw runs by
 * this version's code: what `bench report` draws, so that runs recorded before a summary existed
 * (the medians and intervals, the best-run ratios) get it.
 */
export function resummarize(r: PaperResults): PaperResults {
  const cells = summarizeCells(r.raw);
  return { ...r, cells, ratios: computeRatios(cells, r.fns, r.instances), traceOverhead: computeTraceOverhead(cells, r.instances) };
}
