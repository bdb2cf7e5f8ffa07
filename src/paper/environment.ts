/**
 * The environment of a `bench paper` run, recorded in results.json so a reader can tell how far to
 * trust it: the machine (kernel, CPU model and count, Node), the code (git commit and dirty flag when
 * run from a checkout), how it was started (command line, options, seeds, the device profile's
 * contents) and what else the machine did: its load average and the CPU time of every other process
 * before, during and after the run.
 *
 * Foreign CPU time = the machine's busy time (/proc/stat: user, nice, system, irq, softirq, steal)
 * minus this process's own and its reaped children's (/proc/self/stat: utime, stime, cutime,
 * cstime), in cores (1 = one core busy the whole window). "Before" and "after" are windows of
 * `LOAD_WINDOW_MS` while the benchmark is idle; "during" is the whole run, measured once every child
 * has exited. A run whose foreign CPU during the run exceeds `UNDER_LOAD_CORES` is under load.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, version } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Above this foreign CPU during the run (in cores: 0.10 = a tenth of one core) a run is flagged as under load. */
export const UNDER_LOAD_CORES = 0.1;
/** Length of the idle windows that measure foreign CPU before and after the run, ms. */
export const LOAD_WINDOW_MS = 1000;
/** Clock ticks per second of /proc/stat and /proc/<pid>/stat (USER_HZ, 100 on every Linux ABI Node supports). */
export const CLOCK_TICKS = 100;

/** A reading of the CPU counters, ticks. */
export interface CpuSample {
  /** Wall clock, ms (performance.now()). */
  readonly atMs: number;
  /** Busy ticks of every CPU of the machine. */
  readonly machineBusy: number;
  /** This process's ticks plus those of its reaped children. */
  readonly ours: number;
}

/** Foreign CPU over one window. */
export interface ForeignCpu {
  readonly windowMs: number;
  /** Other processes' CPU time over the window, seconds. */
  readonly foreignCpuSeconds: number;
  /** foreignCpuSeconds / window: average number of cores other processes kept busy. */
  readonly foreignCores: number;
  /** The 1-minute load average at the end of the window. */
  readonly loadavg1: number;
}

/** The git state of the checkout the code runs from. */
export interface GitState {
  readonly commit: string;
  /** Uncommitted changes to tracked files (untracked files do not count). */
  readonly dirty: boolean;
}

/** What results.json records under meta.environment. */
export interface RunEnvironment {
  readonly kernel: string;
  readonly kernelVersion: string;
  readonly cpuModel: string;
  readonly cpus: number;
  readonly node: string;
  /** null when the code does not run from a git checkout (an installed package). */
  readonly git: GitState | null;
  /** argv as typed, program name first. */
  readonly commandLine: readonly string[];
  /** The options the run used, after defaults. */
  readonly options: Readonly<Record<string, unknown>>;
  /** Every seed of the run, by what it drives. */
  readonly seeds: Readonly<Record<string, number>>;
  /** The FPGA column's device profile as read, or null without that column. */
  readonly deviceProfile: unknown;
  readonly load: { readonly before: ForeignCpu; readonly during: ForeignCpu; readonly after: ForeignCpu };
  /** load.during.foreignCores > UNDER_LOAD_CORES. */
  readonly underLoad: boolean;
  readonly underLoadThresholdCores: number;
}

/** Busy ticks from the first ("cpu") line of /proc/stat. */
export function parseProcStatBusy(text: string): number {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) throw new Error('/proc/stat has no cpu line');
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user and nice)
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return user + nice + system + irq + softirq + steal;
}

/** utime + stime + cutime + cstime from /proc/<pid>/stat (fields 14-17; the name in parentheses may hold spaces). */
export function parsePidStatTicks(text: string): number {
  const rest = text.slice(text.lastIndexOf(')') + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state): fields 14..17 are rest[11..14]
  return [11, 12, 13, 14].reduce((s, i) => s + Number(rest[i] ?? 0), 0);
}

/** Read the counters now. */
export function sampleCpu(): CpuSample {
  return {
    atMs: performance.now(),
    machineBusy: parseProcStatBusy(readFileSync('/proc/stat', 'utf8')),
    ours: parsePidStatTicks(readFileSync('/proc/self/stat', 'utf8')),
  };
}

/** Foreign CPU between two samples (never below 0: the counters are read at slightly different times). */
export function foreignBetween(a: CpuSample, b: CpuSample, loadavg1: number): ForeignCpu {
  const windowMs = Math.max(b.atMs - a.atMs, 1e-3);
  const foreignCpuSeconds = Math.max(0, b.machineBusy - a.machineBusy - (b.ours - a.ours)) / CLOCK_TICKS;
  return { windowMs, foreignCpuSeconds, foreignCores: foreignCpuSeconds / (windowMs / 1000), loadavg1 };
}

/** Foreign CPU over an idle window of `ms` starting now. */
export async function measureIdleWindow(ms = LOAD_WINDOW_MS): Promise<ForeignCpu> {
  const a = sampleCpu();
  await new Promise((r) => setTimeout(r, ms));
  return foreignBetween(a, sampleCpu(), loadavg()[0] ?? 0);
}

/** The git commit and dirty flag of the checkout holding `dir`, or null (no git, not a checkout). */
export function gitState(dir: string = dirname(fileURLToPath(import.meta.url))): GitState | null {
  try {
    const git = (args: string[]): string => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    const commit = git(['rev-parse', 'HEAD']).trim();
    if (!/^[0-9a-f]{40,64}$/.test(commit)) return null;
    return { commit, dirty: git(['status', '--porcelain', '--untracked-files=no']).trim() !== '' };
  } catch {
    return null;
  }
}

/** The parts of RunEnvironment that do not depend on the load measurements. */
export function staticEnvironment(o: {
  options: Readonly<Record<string, unknown>>;
  seeds: Readonly<Record<string, number>>;
  deviceProfile: unknown;
  argv?: readonly string[];
}): Omit<RunEnvironment, 'load' | 'underLoad' | 'underLoadThresholdCores'> {
  const c = cpus();
  const argv = o.argv ?? process.argv;
  return {
    kernel: release(),
    kernelVersion: version(),
    cpuModel: c[0]?.model ?? 'unknown',
    cpus: c.length,
    node: process.version,
    git: gitState(),
    commandLine: ['vfun', ...argv.slice(2)],
    options: o.options,
    seeds: o.seeds,
    deviceProfile: o.deviceProfile,
  };
}

/** Whether a run is under load, by the documented threshold. */
export function isUnderLoad(during: ForeignCpu): boolean {
  return during.foreignCores > UNDER_LOAD_CORES;
}

/** One line that says why a run is flagged, for results.md and the figures' titles. */
export function loadWarning(env: Pick<RunEnvironment, 'load' | 'underLoad'>): string | null {
  if (!env.underLoad) return null;
  const l = env.load;
  return `under load: other processes used ${l.during.foreignCores.toFixed(2)} cores during the run (before ${l.before.foreignCores.toFixed(2)}, after ${l.after.foreignCores.toFixed(2)}; threshold ${UNDER_LOAD_CORES})`;
}
