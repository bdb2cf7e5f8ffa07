/**
 * `vfun bench paper`: the paper's experiment (§4.2) on this machine.
 *
 * For each function and domain one application process (guest-child.ts) runs
 * every instance `runs` times; the service it calls is started once per
 * (function, domain):
 *
 *   host-host   the application calls the driver in its own process
 *   guest-host  a service worker in this process on a file region; the application maps it (connect())
 *   guest-net   a server process running the same driver; the application talks TCP loopback (Nagle off)
 *   guest-fpga  guest-host with the simulated FPGA driver (paper-sim:<device>:<fn>)
 *
 * and with `trace`, guest-host once more with per-call tracing on both sides
 * (`guest-host+trace`), to measure what tracing costs.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createFileRegion } from '../dataplane/region-files.js';
import { startService, type ServiceHandle } from '../dataplane/service-host.js';
import type { WaitStrategy } from '../dataplane/wait.js';
import { shmAvailable, shmUnavailableReason } from '../native/shm.js';
import { VirtFunError } from '../errors.js';
import type { GuestChildConfig, RunLine } from './guest-child.js';
import { scaleInstance, warmupCalls, type Instance, type ScaledInstance } from './instances.js';
import { expected, paperDriverName, PAPER_N, type PaperFn } from './paper-driver.js';
import { siblingUrl, startChild } from './spawn.js';
import { mergeTrace } from './trace.js';
import { writeReport, type ReportFiles } from './report.js';

export const DOMAINS = ['host-host', 'guest-host', 'guest-net', 'guest-fpga'] as const;
export type Domain = (typeof DOMAINS)[number];
export const TRACE_DOMAIN = 'guest-host+trace';
export type AnyDomain = Domain | typeof TRACE_DOMAIN;

export const DOMAIN_TITLES: Readonly<Record<AnyDomain, string>> = {
  'host-host': 'Host-Host',
  'guest-host': 'Guest-Host',
  'guest-net': 'Guest-Net',
  'guest-fpga': 'Guest-Host (FPGA sim)',
  'guest-host+trace': 'Guest-Host (traced)',
};

export interface PaperOptions {
  /** Results folder (created). */
  readonly out: string;
  readonly scale: number;
  readonly runs: number;
  readonly instances: readonly Instance[];
  readonly fns: readonly PaperFn[];
  /** Device profile of the FPGA column, or null to leave it out. */
  readonly device: string | null;
  readonly trace: boolean;
  readonly strategy: WaitStrategy;
  /** Hybrid spin budget of guest and service, µs. */
  readonly spinMicros: number;
  /** Called after every timed run (progress). */
  readonly onRun?: (done: number, total: number, what: string) => void;
}

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
  };
  readonly instances: readonly ScaledInstance[];
  readonly domains: readonly AnyDomain[];
  readonly fns: readonly PaperFn[];
  readonly raw: readonly RawRun[];
  readonly cells: readonly Cell[];
  readonly ratios: readonly Ratio[];
  readonly traceOverhead: readonly TraceOverhead[];
  readonly traces: readonly string[];
}

function check(o: PaperOptions): void {
  if (!Number.isFinite(o.scale) || o.scale < 1) throw new VirtFunError('VALIDATION', `--scale: ${o.scale} must be a number >= 1`);
  if (!Number.isInteger(o.runs) || o.runs < 1) throw new VirtFunError('VALIDATION', `--runs: ${o.runs} must be an integer >= 1`);
  if (!Number.isFinite(o.spinMicros) || o.spinMicros < 0) throw new VirtFunError('VALIDATION', `--spin-micros: ${o.spinMicros} must be a number >= 0`);
  if (o.fns.length === 0) throw new VirtFunError('VALIDATION', '--functions: no function');
  if (!shmAvailable()) throw new VirtFunError('VALIDATION', `guest-host needs the shared-memory addon: ${shmUnavailableReason()}`);
}

export function summarizeCells(raw: readonly RawRun[]): Cell[] {
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
    return { fn: f.fn, instance: f.instance, domain: f.domain, mean, min: Math.min(...s), max: Math.max(...s), runs: s.length, per_call_us: (mean / f.iterations) * 1e6 };
  });
}

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


export async function runPaperBench(opts: PaperOptions): Promise<{ results: PaperResults; files: ReportFiles }> {
  check(opts);
  const started = new Date().toISOString();
  const out = resolve(opts.out);
  mkdirSync(out, { recursive: true });
  const instances = opts.instances.map((i) => scaleInstance(i, opts.scale));
  const domains: AnyDomain[] = ['host-host', 'guest-host', 'guest-net'];
  if (opts.device !== null) domains.push('guest-fpga');
  if (opts.trace) domains.push(TRACE_DOMAIN);
  const total = opts.fns.length * domains.length * instances.length * opts.runs;
  let done = 0;
  const raw: RawRun[] = [];
  const traces: string[] = [];
  const work = mkdtempSync(join(tmpdir(), 'vfun-paper-'));
  const driverModule = siblingUrl('paper-driver');
  try {
    for (const fn of opts.fns) {
      const n = PAPER_N[fn];
      const want = expected(fn, n).toString();
      for (const domain of domains) {
        const traced = domain === TRACE_DOMAIN;
        const guestTrace = traced ? join(work, `${fn}-guest`) : undefined;
        const serviceTrace = traced ? join(work, `${fn}-service.bin`) : null;
        let service: ServiceHandle | null = null;
        let server: ReturnType<typeof startChild> | null = null;
        const childInstances = instances.map((i, k) => ({
          reps: i.runReps,
          iterations: i.iterations,
          ...(guestTrace !== undefined && { trace: `${guestTrace}-${k}.bin` }),
        }));
        const base = { fn, n, runs: opts.runs, strategy: opts.strategy, spinMicros: opts.spinMicros, instances: childInstances };
        let config: GuestChildConfig;
        if (domain === 'host-host') {
          config = { ...base, mode: 'direct', driver: paperDriverName(fn, null) };
        } else if (domain === 'guest-net') {
          server = startChild('net-server', { driver: paperDriverName(fn, null) });
          const ready = (await server.next()) as { port: number };
          config = { ...base, mode: 'tcp', port: ready.port };
        } else {
          const dir = mkdtempSync(join(work, 'region-'));
          const region = createFileRegion({ dataout: join(dir, 'dataout'), datain: join(dir, 'datain') }, 4096);
          const driver = paperDriverName(fn, domain === 'guest-fpga' ? opts.device : null, serviceTrace);
          service = await startService({ region, driver, driverModule, strategy: opts.strategy, spinMicros: opts.spinMicros });
          config = { ...base, mode: 'shm', region: { capacity: region.capacity, dataoutPath: region.dataoutPath, datainPath: region.datainPath } };
        }
        try {
          const child = startChild('guest-child', config);
          for (let r = 0; r < opts.runs * instances.length; r++) {
            const line = (await child.next()) as RunLine;
            const inst = instances[line.instance]!;
            if (line.result !== want) throw new VirtFunError('DRIVER', `${fn}(${n}) ${domain} ${inst.label}: result ${line.result}, expected ${want}`);
            raw.push({ fn, instance: inst.label, domain, run: line.run, seconds: line.seconds, reps: inst.runReps, iterations: inst.iterations, result: line.result });
            opts.onRun?.(++done, total, `${fn} ${DOMAIN_TITLES[domain]} ${inst.label}`);
          }
          const code = await child.exited;
          if (code !== 0) throw new VirtFunError('SERVICE_ERROR', `guest process for ${fn} ${domain} exited with ${code}: ${child.stderr().trim().slice(-500)}`);
          // stop first: the service's driver flushes its last trace batch in exit()
          if (service !== null) await service.stop();
          service = null;
          if (traced && serviceTrace !== null) {
            let offset = 0;
            for (const [k, inst] of instances.entries()) {
              offset += warmupCalls(inst.iterations) + (opts.runs - 1) * inst.iterations;
              const file = join(out, `trace-${fn}-${inst.label.replace(/ /g, '')}.jsonl`);
              mergeTrace(`${guestTrace}-${k}.bin`, (opts.runs - 1) * inst.iterations, serviceTrace, offset, file, inst.iterations, {
                fn,
                n,
                reps: inst.runReps,
                instance: inst.label,
                domain: 'guest-host',
                driver: paperDriverName(fn, null),
              });
              traces.push(file);
              offset += inst.iterations;
            }
          }
        } finally {
          if (service !== null) await service.stop();
          if (server !== null) {
            server.proc.kill('SIGTERM');
            await server.exited;
          }
        }
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const cells = summarizeCells(raw);
  const ratios = computeRatios(cells, opts.fns, instances);
  const results: PaperResults = {
    meta: {
      started,
      finished: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      scale: opts.scale,
      runs: opts.runs,
      device: opts.device,
      strategy: opts.strategy,
      spinMicros: opts.spinMicros,
      n: PAPER_N,
    },
    instances,
    domains,
    fns: opts.fns,
    raw,
    cells,
    ratios,
    traceOverhead: computeTraceOverhead(cells, instances),
    traces,
  };
  const files = await writeReport(out, results);
  writeFileSync(join(out, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  return { results, files: { ...files, json: join(out, 'results.json') } };
}
