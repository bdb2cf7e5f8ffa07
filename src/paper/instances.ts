/**
 * Instances `R x I` of the paper: R repetitions of the function's computation
 * per invocation, I invocations. All of the paper's instances do the same
 * total work (R * I = 500M computations).
 */
import { ValidationError } from '../errors.js';

export interface Instance {
  /** The nominal instance as written in the paper, e.g. `250K x 2k`. */
  readonly label: string;
  /** Nominal repetitions per invocation. */
  readonly reps: number;
  /** Invocations. */
  readonly iterations: number;
  /** True for the paper's five instances. */
  readonly paper: boolean;
}

export interface ScaledInstance extends Instance {
  /** Repetitions actually run: max(1, round(reps / scale)). */
  readonly runReps: number;
}

const SUFFIX: Readonly<Record<string, number>> = { '': 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6 };

function parseCount(s: string, what: string, spec: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(s.trim());
  if (!m) throw new ValidationError('instances', `'${spec}': ${what} '${s}' is not a count like 500, 5K, 2k or 1M`);
  const v = Number(m[1]) * SUFFIX[m[2] ?? '']!;
  if (!Number.isInteger(v) || v < 1 || v > 0xffffffff) throw new ValidationError('instances', `'${spec}': ${what} ${v} must be an integer in 1..2^32-1`);
  return v;
}

function fmt(v: number, upper: boolean): string {
  if (v >= 1e6 && v % 1e6 === 0) return `${v / 1e6}M`;
  if (v >= 1e3 && v % 1e3 === 0) return `${v / 1e3}${upper ? 'K' : 'k'}`;
  return String(v);
}

export function instanceLabel(reps: number, iterations: number): string {
  return `${fmt(reps, true)} x ${fmt(iterations, false)}`;
}

/** Parse `500Mx1`, `250K x 2k`, ... */
export function parseInstance(spec: string, paper = false): Instance {
  const parts = spec.split(/\s*[xX×]\s*/);
  if (parts.length !== 2) throw new ValidationError('instances', `'${spec}' is not an instance 'R x I' (e.g. 250Kx2k)`);
  const reps = parseCount(parts[0]!, 'repetitions', spec);
  const iterations = parseCount(parts[1]!, 'iterations', spec);
  return { label: instanceLabel(reps, iterations), reps, iterations, paper };
}

export function parseInstances(list: string): Instance[] {
  const specs = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (specs.length === 0) throw new ValidationError('instances', 'the list is empty');
  return specs.map((s) => {
    const i = parseInstance(s);
    return { ...i, paper: PAPER_INSTANCES.some((p) => p.reps === i.reps && p.iterations === i.iterations) };
  });
}

/** The paper's five instances (Tables 1-2). */
export const PAPER_INSTANCES: readonly Instance[] = ['500Mx1', '50Mx10', '5Mx100', '500Kx1k', '250Kx2k'].map((s) => parseInstance(s, true));
/** Instances the paper did not run, where per-invocation cost dominates (same total work). */
export const EXTRA_INSTANCES: readonly Instance[] = ['5Kx100k', '500x1M'].map((s) => parseInstance(s));
/** The default run's extra instance (500 x 1M over TCP alone takes about a minute per run). */
export const DEFAULT_EXTRA: readonly Instance[] = [EXTRA_INSTANCES[0]!];
/** `--quick`: a smaller extra instance so a test run takes seconds. */
export const QUICK_EXTRA: readonly Instance[] = [parseInstance('50Kx10k')];

export function scaleInstance(i: Instance, scale: number): ScaledInstance {
  return { ...i, runReps: Math.max(1, Math.round(i.reps / scale)) };
}

/** Warm-up calls the application makes before an instance's timed runs (f(n) with at most 100 repetitions). */
export function warmupCalls(iterations: number): number {
  return Math.min(iterations, 200);
}

/**
 * Then warm-up calls of the instance's own size, untimed: the first full-size run of a cell was
 * slower than the next ones in every domain (about 4% at 250K x 2k, scale 1/100: the code and
 * the caches settle at the real size), which biased the means of 5 runs by about 1%.
 */
export function fullWarmupCalls(iterations: number): number {
  return Math.min(iterations, 2000);
}
