/**
 * `vfun bench paper` and `vfun replay-trace`. main.ts calls registerPaperCommands(program).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { integerAtLeast, numberAtLeast } from '../util/arguments.js';
import cliProgress from 'cli-progress';
import { DEFAULT_STRATEGY, isWaitStrategy, WAIT_STRATEGIES, type WaitStrategy } from '../dataplane/wait.js';
import { ValidationError, VirtFunError } from '../errors.js';
import { loadProfileSync } from '../../simulator/profile.js';
import { DEFAULT_EXTRA, EXTRA_INSTANCES, PAPER_INSTANCES, parseInstances, QUICK_EXTRA, type Instance } from './instances.js';
import { isPaperFn, type PaperFn } from './driver.js';
import { runPaperBench, type PaperOptions } from './run.js';
import { ratioTable, runWarnings, traceTable } from './report.js';
import { DEFAULT_MAX_RUNS, DEFAULT_STABLE_WIDTH } from './stats.js';
import { formatReplay, replayTrace } from './replay-trace.js';
import { addVmOptions, vmOptionsFrom, type VmCliOptions } from '../vm/options.js';
import { defaultCacheDir } from '../vm/run.js';
import { guardVms } from '../vm/signals.js';
import { PAPER_VM_TIMEOUT_MS } from './vm-run.js';
import { registerExperimentCommand } from './experiments/cli.js';

export const DEFAULT_SCALE = 1000;
export const QUICK_SCALE = 100_000;
export const DEFAULT_RUNS = 5;
export const DEFAULT_DEVICE = 'alveo-u250';
/**
 * The experiment's hybrid spin budget (µs), for guest and service, instead of the data plane's
 * DEFAULT_SPIN_MICROS (50): spin through calls of up to 2 ms before sleeping (a wake-up costs
 * tens of µs).
 */
export const PAPER_SPIN_MICROS = 2000;

const positiveNumber = numberAtLeast(1);
const positiveInt = integerAtLeast(1);
const nonNegative = numberAtLeast(0);
function positiveFraction(v: string): number {
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || x <= 0) throw new InvalidArgumentError(`'${v}' is not a number > 0.`);
  return x;
}
function instanceList(v: string): Instance[] {
  try {
    return parseInstances(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}
function fnList(v: string): PaperFn[] {
  const fns = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = fns.find((f) => !isPaperFn(f));
  if (bad !== undefined || fns.length === 0) throw new InvalidArgumentError(`'${bad ?? v}' is not factorial or fibonacci.`);
  return [...new Set(fns)] as PaperFn[];
}
function strategyArg(v: string): WaitStrategy {
  if (!isWaitStrategy(v)) throw new InvalidArgumentError(`'${v}' is not one of ${WAIT_STRATEGIES.join(', ')}.`);
  return v;
}
function deviceArg(v: string): string {
  try {
    loadProfileSync(v);
  } catch (e) {
    throw new InvalidArgumentError(`no device profile '${v}': ${(e as Error).message.split('\n')[0]}`);
  }
  return v;
}

export interface BenchPaperCliOptions extends Partial<VmCliOptions> {
  /** --vm: guest-host and guest-net from inside a QEMU guest (the other VM options apply then). */
  vm?: boolean;
  out?: string;
  scale?: number;
  full?: boolean;
  quick?: boolean;
  runs?: number;
  instances?: Instance[];
  functions?: PaperFn[];
  device?: string;
  fpga?: boolean;
  trace?: boolean;
  strategy?: WaitStrategy;
  spinMicros?: number;
  progress?: boolean;
  untilStable?: boolean;
  stableWidth?: number;
  maxRuns?: number;
}

/** Options of `bench paper` as runPaperBench takes them (exported for tests). */
export function paperOptionsFrom(o: BenchPaperCliOptions, now = new Date()): Omit<PaperOptions, 'onRun'> {
  if (o.full && o.quick) throw new ValidationError('--full', 'excludes --quick (--full and --quick exclude each other)');
  if (o.full && o.scale !== undefined && o.scale !== 1) throw new ValidationError('--scale', `${o.scale} contradicts --full (the paper's sizes, scale 1)`);
  const scale = o.scale ?? (o.full ? 1 : o.quick ? QUICK_SCALE : DEFAULT_SCALE);
  const instances = o.instances ?? [...PAPER_INSTANCES, ...(o.full ? EXTRA_INSTANCES : o.quick ? QUICK_EXTRA : DEFAULT_EXTRA)];
  const stamp = now.toISOString().replace(/[:.]/g, '-').replace(/-\d+Z$/, 'Z');
  return {
    out: resolve(o.out ?? join('results', `paper-${stamp}`)),
    scale,
    runs: o.runs ?? (o.quick ? 2 : DEFAULT_RUNS),
    instances,
    fns: o.functions ?? ['factorial', 'fibonacci'],
    device: o.fpga === false ? null : (o.device ?? DEFAULT_DEVICE),
    trace: o.trace ?? false,
    strategy: o.strategy ?? DEFAULT_STRATEGY,
    spinMicros: o.spinMicros ?? PAPER_SPIN_MICROS,
    quick: o.quick ?? false,
    untilStable: o.untilStable === true ? { maxRelWidth: o.stableWidth ?? DEFAULT_STABLE_WIDTH, maxRuns: o.maxRuns ?? DEFAULT_MAX_RUNS } : null,
    vm: o.vm === true ? vmOptionsFrom({ ...o, cache: o.cache ?? defaultCacheDir(), accel: o.accel ?? 'auto', bootTimeout: o.bootTimeout ?? '20' }) : null,
  };
}

/** Options that only mean something beside another one, by the option they need. */
const NEEDS: ReadonlyArray<readonly [key: string, flag: string, needs: 'untilStable' | 'vm']> = [
  ['stableWidth', '--stable-width', 'untilStable'],
  ['maxRuns', '--max-runs', 'untilStable'],
  ['kernel', '--kernel', 'vm'],
  ['modules', '--modules', 'vm'],
  ['cache', '--cache', 'vm'],
  ['accel', '--accel', 'vm'],
  ['memory', '--memory', 'vm'],
  ['timeout', '--timeout', 'vm'],
  ['bootTimeout', '--boot-timeout', 'vm'],
];

/** Refuse an option given on the command line without the option it belongs to (it would be ignored). */
export function refuseOrphanOptions(cmd: Pick<Command, 'getOptionValueSource'>, o: BenchPaperCliOptions): void {
  for (const [key, flag, needs] of NEEDS) {
    if (cmd.getOptionValueSource(key) === 'cli' && o[needs] !== true)
      throw new ValidationError(flag, `only applies with ${needs === 'vm' ? '--vm' : '--until-stable'} (it would be ignored without it)`);
  }
}

/** Run `bench paper` with CLI-shaped options; prints the ratio table; returns the results folder. */
export async function benchPaper(o: BenchPaperCliOptions, log: (s: string) => void = (s) => process.stdout.write(s + '\n')): Promise<string> {
  const opts = paperOptionsFrom(o);
  if (existsSync(join(opts.out, 'results.json'))) throw new ValidationError('--out', `${opts.out} already holds results; name another folder`);
  const showBar = o.progress !== false && process.stderr.isTTY === true;
  const bar = showBar
    ? new cliProgress.SingleBar({ stream: process.stderr, format: 'bench paper [{bar}] {value}/{total} runs | {what} | ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic)
    : null;
  let lastLine = 0;
  // With --vm, Ctrl-C / SIGTERM / SIGHUP kill QEMU at once and the run unwinds (vFunD stopped, the
  // initramfs holding the tenant's secret removed) before the process exits 130, as `vfun vm run`.
  const abort = new AbortController();
  const unguard = opts.vm != null
    ? guardVms((signal) => {
        process.stderr.write(`bench paper: ${signal}: stopping the VM and vFunD\n`);
        abort.abort();
      })
    : () => undefined;
  bar?.start(1, 0, { what: 'starting' });
  try {
    const { results, files } = await runPaperBench({
      ...opts,
      signal: abort.signal,
      log: (l) => {
        if (o.progress !== false) process.stderr.write(`bench paper: vm: ${l}\n`);
      },
      onRun: (done, total, what) => {
        if (bar) {
          bar.setTotal(total);
          bar.update(done, { what });
        } else if (o.progress !== false && (done === total || performance.now() - lastLine > 5000)) {
          lastLine = performance.now();
          process.stderr.write(`bench paper: ${done}/${total} runs (${what})\n`);
        }
      },
    });
    bar?.stop();
    log(`results in ${opts.out}: ${files.markdown.split('/').pop()}, results.json, runs.csv, cells.csv${files.figures.map((f) => `, ${f.split('/').pop()}`).join('')}`);
    if (files.figuresSkipped !== undefined) log(files.figuresSkipped);
    log('');
    log(ratioTable(results));
    const tt = traceTable(results);
    if (tt) log('\n' + tt);
    // What makes the numbers above untrustworthy (under load, --quick, an emulated VM), where the
    // reader of the terminal sees it, not only in results.md.
    for (const w of runWarnings(results)) process.stderr.write(`warning: ${w}\n`);
    return opts.out;
  } catch (err) {
    if (!abort.signal.aborted) throw err;
    process.exitCode = 130;
    throw new VirtFunError('VM', `bench paper --vm: interrupted (${(err as Error).message}); no results were written`);
  } finally {
    unguard();
    bar?.stop();
  }
}

function benchCommand(program: Command): Command {
  return program.commands.find((c) => c.name() === 'bench') ?? program.command('bench').description('benchmarks');
}

export function registerPaperCommands(program: Command): void {
  const paper = benchCommand(program)
    .command('paper')
    .description("run the paper's experiment (§4): factorial(51) and fibonacci(93), instances R x I, domains host-host, guest-host, guest-net and guest-host on the FPGA simulator")
    .option('-o, --out <dir>', 'results folder (default results/paper-<time>)')
    .addOption(new Option('--scale <n>', `divide the repetitions by n (at least 1 remains; default ${DEFAULT_SCALE}, --quick ${QUICK_SCALE})`).argParser(positiveNumber))
    .option('--full', "the paper's sizes (scale 1) plus 5K x 100k and 500 x 1M: hours")
    .option('--quick', `seconds: scale ${QUICK_SCALE}, 2 runs, 50K x 10k as the extra instance`)
    .addOption(new Option('--runs <n>', `timed runs per cell (default ${DEFAULT_RUNS})`).argParser(positiveInt))
    .addOption(new Option('--instances <list>', "instances 'RxI,...' (e.g. 500Mx1,250Kx2k,5Kx100k); default: the paper's five plus 5K x 100k").argParser(instanceList))
    .addOption(new Option('--functions <list>', 'factorial,fibonacci').argParser(fnList))
    .addOption(new Option('--device <profile>', `FPGA column device profile (default ${DEFAULT_DEVICE})`).argParser(deviceArg))
    .option('--no-fpga', 'leave out the FPGA simulator column')
    .option('--trace', 'record per-call traces (guest-host, traced once more) and measure the tracing overhead')
    .addOption(new Option('--strategy <s>', `wait strategy of guest and service (default ${DEFAULT_STRATEGY})`).argParser(strategyArg))
    .addOption(new Option('--spin-micros <us>', `hybrid spin budget of guest and service before sleeping (default ${PAPER_SPIN_MICROS})`).argParser(nonNegative))
    .option('--no-progress', 'no progress bar')
    .option('--until-stable', `repeat each cell (--runs at a time) until the 95% CI of its median is narrow enough (--stable-width) or --max-runs is reached`)
    .addOption(new Option('--stable-width <fraction>', `--until-stable: the CI's width relative to the median to reach (default ${DEFAULT_STABLE_WIDTH})`).argParser(positiveFraction))
    .addOption(new Option('--max-runs <n>', `--until-stable: the cap of timed runs per cell (default ${DEFAULT_MAX_RUNS})`).argParser(positiveInt))
    .option('--vm', "run guest-host and guest-net from inside a QEMU guest (ivshmem window of vFunD, TCP over virtio-net); the options below apply then, as for `vfun vm run`");
  addVmOptions(paper, { memory: '256', timeout: String(PAPER_VM_TIMEOUT_MS / 1000) }).action(async (o: BenchPaperCliOptions) => {
    refuseOrphanOptions(paper, o);
    await benchPaper(o);
  });
  registerExperimentCommand(benchCommand(program));

  program
    .command('replay-trace')
    .description('re-time a trace (recorded by `bench paper --trace`, written by hand or imported) on simulated devices: predicted against recorded latency per call, one prediction per device and launch cost')
    .argument('<trace>', 'a trace file (docs/traces.md)')
    .addOption(new Option('--device <profiles>', 'device profile (simulator/profiles name or a JSON file); several: a,b or the option repeated').argParser(listOf(deviceArg)).makeOptionMandatory())
    .option('--fn <function>', "the profile's function to re-time every call on (default: each call's own, else the trace's; e.g. a GPU function of a profile from `vfun sim calibrate`)")
    .addOption(new Option('--launch-us <us>', "override the profiles' launch cost (µs); several: 1,2,5 or the option repeated").argParser(listOf(nonNegative)))
    .option('-o, --out <dir>', "folder for the outputs, created if missing (default: the trace's folder)")
    .addOption(new Option('--seed <n>', 'seed of the device jitter (default 1), the same for every combination: the same seed, the same predictions').argParser(integerAtLeast(0)))
    .option('--json', 'one JSON object on stdout (the report, without the per-call rows: those are in its json file)')
    .action(async (trace: string, o: { device: string[]; fn?: string; launchUs?: number[]; out?: string; seed?: number; json?: boolean }) => {
      if (!existsSync(trace)) throw new ValidationError('<trace>', `no file ${trace}`);
      const r = await replayTrace({ trace, device: o.device, ...(o.fn !== undefined && { fn: o.fn }), ...(o.launchUs !== undefined && { launchMicros: o.launchUs }), ...(o.out !== undefined && { out: o.out }), ...(o.seed !== undefined && { seed: o.seed }) });
      process.stdout.write((o.json === true ? JSON.stringify(r) : formatReplay(r)) + '\n');
    });
}

/** A list option given as a,b,c or repeated: each item parsed by `item`, in order. */
function listOf<T>(item: (v: string) => T): (v: string, previous: T[] | undefined) => T[] {
  return (v, previous) => [...(previous ?? []), ...v.split(',').map((x) => item(x.trim()))];
}
