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
 *
 * With `vm`, guest-host and guest-net run instead from inside one QEMU guest
 * (vm-run.ts): through the VM tenant's slot of vFunD's ivshmem window, and
 * over TCP through the guest's virtio-net; host-host and the FPGA column stay
 * on the host.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { loadProfileSync } from '../../simulator/profile.js';
import { join, relative, resolve } from 'node:path';
import { createFileRegion } from '../dataplane/region-files.js';
import { startService, type ServiceHandle } from '../dataplane/service-host.js';
import type { WaitStrategy } from '../dataplane/wait.js';
import { shmAvailable, shmUnavailableReason } from '../native/shm.js';
import { ValidationError, VirtFunError } from '../errors.js';
import type { GuestChildConfig, RunLine } from './guest-child.js';
import { fullWarmupCalls, scaleInstance, warmupCalls, type Instance, type ScaledInstance } from './instances.js';
import { expected, paperDriverName, PAPER_N, SIM_JITTER_SEED, type PaperFn } from './driver.js';
import { BOOTSTRAP_SEED, needsMoreRuns, type StableRule } from './stats.js';
import { foreignBetween, isUnderLoad, LOAD_WINDOW_MS, measureIdleWindow, sampleCpu, staticEnvironment, UNDER_LOAD_CORES, type RunEnvironment } from './environment.js';
import { siblingUrl, startChild } from './spawn.js';
import { mergeTrace } from './traces.js';
import type { TraceV1Call } from './trace-format.js';
import { cellsCsv, runsCsv } from './csv.js';
import { writeReport, type ReportFiles } from './report.js';
import { computeRatios, computeTraceOverhead, DOMAIN_TITLES, summarizeCells, traceSplit, TRACE_DOMAIN, type AnyDomain, type PaperResults, type RawRun, type VmLabel } from './results.js';
import { runVmDomains, type PaperVmOptions } from './vm-run.js';

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
  /** `--quick`: labelled in results.md as not comparable with the paper. */
  readonly quick?: boolean;
  /** Idle windows measuring foreign CPU before and after the run, ms (default LOAD_WINDOW_MS). */
  readonly loadWindowMs?: number;
  /** The command line recorded in results.json (default process.argv). */
  readonly argv?: readonly string[];
  /** `--until-stable`: repeat each cell's runs (by `runs` at a time) until its CI is narrow enough or the cap is reached. */
  readonly untilStable?: StableRule | null;
  /** `--vm`: guest-host and guest-net from inside a QEMU guest (vm-run.ts); null or absent: host processes. */
  readonly vm?: PaperVmOptions | null;
  /** Host-side progress of the VM (kernel, boot); default none. */
  readonly log?: (line: string) => void;
  /** Stops a `--vm` run early (e.g. on SIGINT): QEMU is killed and the run unwinds. */
  readonly signal?: AbortSignal;
  /** Called after every timed run (progress; the total grows with --until-stable). */
  readonly onRun?: (done: number, total: number, what: string) => void;
}

/** The options as results.json records them (what the run used, after defaults). */
function recordedOptions(o: PaperOptions): Record<string, unknown> {
  return {
    scale: o.scale,
    runs: o.runs,
    instances: o.instances.map((i) => i.label),
    fns: o.fns,
    device: o.device,
    trace: o.trace,
    strategy: o.strategy,
    spinMicros: o.spinMicros,
    quick: o.quick ?? false,
    untilStable: o.untilStable ?? null,
    vm: o.vm ?? null,
  };
}

function check(o: PaperOptions): void {
  if (!Number.isFinite(o.scale) || o.scale < 1) throw new ValidationError('--scale', `${o.scale} must be a number >= 1`);
  if (!Number.isInteger(o.runs) || o.runs < 1) throw new ValidationError('--runs', `${o.runs} must be an integer >= 1`);
  if (!Number.isFinite(o.spinMicros) || o.spinMicros < 0) throw new ValidationError('--spin-micros', `${o.spinMicros} must be a number >= 0`);
  if (o.fns.length === 0) throw new ValidationError('--functions', 'no function');
  if (o.untilStable != null && !(o.untilStable.maxRelWidth > 0)) throw new ValidationError('--stable-width', `${o.untilStable.maxRelWidth} must be a number > 0`);
  if (o.untilStable != null && !(Number.isInteger(o.untilStable.maxRuns) && o.untilStable.maxRuns >= o.runs)) throw new ValidationError('--max-runs', `${o.untilStable.maxRuns} must be an integer >= --runs (${o.runs})`);
  if (o.vm != null && o.trace) throw new ValidationError('--trace', 'cannot be combined with --vm: the traced domain is a host process (run --trace without --vm)');
  if (o.vm != null && o.untilStable != null) throw new ValidationError('--until-stable', 'cannot be combined with --vm: the VM runs each cell a fixed --runs times in one boot');
  if (!shmAvailable()) throw new VirtFunError('VALIDATION', `guest-host needs the shared-memory addon: ${shmUnavailableReason()}`);
}

/** Run the experiment and write its results folder (`opts.out`: results.json, tables, figures). */
export async function runPaperBench(opts: PaperOptions): Promise<{ results: PaperResults; files: ReportFiles }> {
  check(opts);
  const out = resolve(opts.out);
  mkdirSync(out, { recursive: true });
  const window = opts.loadWindowMs ?? LOAD_WINDOW_MS;
  const before = await measureIdleWindow(window);
  const started = new Date().toISOString();
  const startSample = sampleCpu();
  const instances = opts.instances.map((i) => scaleInstance(i, opts.scale));
  const domains: AnyDomain[] = ['host-host', 'guest-host', 'guest-net'];
  if (opts.device !== null) domains.push('guest-fpga');
  if (opts.trace) domains.push(TRACE_DOMAIN);
  let total = opts.fns.length * domains.length * instances.length * opts.runs;
  let done = 0;
  const raw: RawRun[] = [];
  const traces: string[] = [];
  /** The merged calls of each traced (function, instance), for the split of their time. */
  const tracedCalls: { fn: PaperFn; instance: string; calls: TraceV1Call[] }[] = [];
  const work = mkdtempSync(join(tmpdir(), 'vfun-paper-'));
  const driverModule = siblingUrl('driver');
  let vmLabel: VmLabel | undefined;
  // With --vm these two run in the VM, after the host's domains.
  const inVm = (d: AnyDomain): boolean => opts.vm != null && (d === 'guest-host' || d === 'guest-net');
  try {
    for (const fn of opts.fns) {
      const n = PAPER_N[fn];
      const want = expected(fn, n).toString();
      for (const domain of domains.filter((d) => !inVm(d))) {
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
        /** One guest process running `cfg.runs` runs of the instances `which` (indexes into `instances`). */
        const runBatch = async (cfg: GuestChildConfig, which: readonly number[], firstRun: (k: number) => number): Promise<void> => {
          const child = startChild('guest-child', cfg);
          for (let r = 0; r < cfg.runs * which.length; r++) {
            const line = (await child.next()) as RunLine;
            const k = which[line.instance]!;
            const inst = instances[k]!;
            if (line.result !== want) throw new VirtFunError('DRIVER', `${fn}(${n}) ${domain} ${inst.label}: result ${line.result}, expected ${want}`);
            raw.push({ fn, instance: inst.label, domain, run: firstRun(k) + line.run, seconds: line.seconds, reps: inst.runReps, iterations: inst.iterations, result: line.result });
            opts.onRun?.(++done, total, `${fn} ${DOMAIN_TITLES[domain]} ${inst.label}`);
          }
          const code = await child.exited;
          if (code !== 0) throw new VirtFunError('SERVICE_ERROR', `guest process for ${fn} ${domain} exited with ${code}: ${child.stderr().trim().slice(-500)}`);
        };
        try {
          await runBatch(config, instances.map((_, k) => k), () => 0);
          // --until-stable: more runs of the cells whose interval is still too wide (not the traced
          // domain: its traces are of the first batch's last run).
          const rule = opts.untilStable ?? null;
          while (rule !== null && !traced) {
            const runsOf = (k: number): number[] => raw.filter((x) => x.fn === fn && x.domain === domain && x.instance === instances[k]!.label).map((x) => x.seconds);
            const more = instances.map((_, k) => k).filter((k) => needsMoreRuns(runsOf(k), rule));
            if (more.length === 0) break;
            const have = new Map(more.map((k) => [k, runsOf(k).length]));
            const batch = Math.min(opts.runs, ...more.map((k) => rule.maxRuns - have.get(k)!));
            total += batch * more.length;
            await runBatch({ ...config, runs: batch, instances: more.map((k) => childInstances[k]!) }, more, (k) => have.get(k)!);
          }
          // stop first: the service's driver flushes its last trace batch in exit()
          if (service !== null) await service.stop();
          service = null;
          if (traced && serviceTrace !== null) {
            let offset = 0;
            for (const [k, inst] of instances.entries()) {
              offset += warmupCalls(inst.iterations) + fullWarmupCalls(inst.iterations) + (opts.runs - 1) * inst.iterations;
              const file = join(out, `trace-${fn}-${inst.label.replace(/ /g, '')}.jsonl`);
              const merged = mergeTrace(`${guestTrace}-${k}.bin`, (opts.runs - 1) * inst.iterations, serviceTrace, offset, file, inst.iterations, {
                fn,
                n,
                reps: inst.runReps,
                instance: inst.label,
                domain: 'guest-host',
                driver: paperDriverName(fn, null),
              });
              traces.push(relative(out, file));
              tracedCalls.push({ fn, instance: inst.label, calls: merged.calls });
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
    if (opts.vm != null) {
      const vm = await runVmDomains({
        out,
        work,
        fns: opts.fns,
        instances,
        runs: opts.runs,
        vm: opts.vm,
        ...(opts.signal !== undefined && { signal: opts.signal }),
        log: opts.log ?? (() => undefined),
        onRun: () => opts.onRun?.(++done, total, 'guest-host and guest-net in the VM'),
      });
      raw.push(...vm.raw);
      vmLabel = vm.label;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const during = foreignBetween(startSample, sampleCpu(), loadavg()[0] ?? 0);
  const after = await measureIdleWindow(window);
  const environment: RunEnvironment = {
    ...staticEnvironment({
      options: recordedOptions(opts),
      seeds: { simulatorJitter: SIM_JITTER_SEED, bootstrap: BOOTSTRAP_SEED },
      deviceProfile: opts.device === null ? null : loadProfileSync(opts.device),
      ...(opts.argv !== undefined && { argv: opts.argv }),
    }),
    load: { before, during, after },
    underLoad: isUnderLoad(during),
    underLoadThresholdCores: UNDER_LOAD_CORES,
  };
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
      quick: opts.quick ?? false,
      environment,
      ...(vmLabel !== undefined && { vm: vmLabel }),
    },
    instances,
    domains,
    fns: opts.fns,
    raw,
    cells,
    ratios,
    traceOverhead: computeTraceOverhead(cells, instances),
    traces,
    ...(tracedCalls.length > 0 && {
      traceSplit: tracedCalls.flatMap((t) => {
        const us = t.calls.map((c) => ({ set_us: c.set_ns / 1000, busy_us: c.busy_ns === null ? null : c.busy_ns / 1000, done_us: c.done_ns === null ? null : c.done_ns / 1000, get_us: c.get_ns / 1000 }));
        const split = traceSplit(t.fn, t.instance, us, cells);
        return split === null ? [] : [split];
      }),
    }),
  };
  const files = await writeReport(out, results);
  writeFileSync(join(out, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(out, 'runs.csv'), runsCsv(results));
  writeFileSync(join(out, 'cells.csv'), cellsCsv(results.cells));
  return { results, files: { ...files, json: join(out, 'results.json') } };
}
