/**
 * Summaries of a cell's timed runs that say how far to trust them: the median and a percentile
 * bootstrap 95% confidence interval of the median, and the rule `bench paper --until-stable` repeats
 * a cell by. Pure and seeded: the same samples and seed give the same interval on every machine.
 *
 * The bootstrap draws `resamples` samples of the runs with replacement (xoshiro128**, the
 * simulator's seeded generator), takes each one's median, and reports the (1-level)/2 and
 * (1+level)/2 quantiles of those medians, widened where needed so the interval always holds the
 * sample median. One run gives a zero-width interval at its value: with one run there is nothing
 * to resample, and --until-stable never stops on fewer than MIN_RUNS_FOR_CI runs.
 */
import { createRng } from '../../simulator/rng.js';

/** Seed of every cell's bootstrap (results.json records it). */
export const BOOTSTRAP_SEED = 19;
/** Bootstrap resamples per interval. */
export const BOOTSTRAP_RESAMPLES = 2000;
/** Confidence level of the intervals. */
export const CI_LEVEL = 0.95;
/** `--until-stable` default: stop once (high - low) / median is at most this. */
export const DEFAULT_STABLE_WIDTH = 0.02;
/** `--until-stable` default: never more timed runs per cell than this. */
export const DEFAULT_MAX_RUNS = 50;
/** `--until-stable` never calls a cell stable on fewer runs than this. */
export const MIN_RUNS_FOR_CI = 5;

/** Median and confidence interval of a cell's runs (same unit as the samples). */
export interface MedianCi {
  readonly median: number;
  readonly low: number;
  readonly high: number;
  /** (high - low) / median; 0 when the median is 0. */
  readonly relWidth: number;
}

/** The options of the bootstrap. */
export interface BootstrapOptions {
  readonly seed?: number;
  readonly resamples?: number;
  readonly level?: number;
}

/** Median of a sorted, non-empty array. */
function sortedMedian(s: ArrayLike<number>): number {
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median of the samples (the mean of the middle two for an even count); throws on none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of no samples');
  return sortedMedian([...xs].sort((a, b) => a - b));
}

/** Quantile q in [0, 1] of a sorted array, by linear interpolation between order statistics. */
export function quantileSorted(s: ArrayLike<number>, q: number): number {
  if (s.length === 0) throw new RangeError('quantile of no samples');
  const pos = Math.min(Math.max(q, 0), 1) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** Median and percentile bootstrap confidence interval of the median of `xs` (non-empty, finite). */
export function bootstrapMedianCi(xs: readonly number[], o: BootstrapOptions = {}): MedianCi {
  if (xs.length === 0) throw new RangeError('confidence interval of no samples');
  const sorted = [...xs].sort((a, b) => a - b);
  const med = sortedMedian(sorted);
  const n = sorted.length;
  let low = med;
  let high = med;
  if (n > 1) {
    const rng = createRng(o.seed ?? BOOTSTRAP_SEED);
    const resamples = o.resamples ?? BOOTSTRAP_RESAMPLES;
    const level = o.level ?? CI_LEVEL;
    const meds = new Float64Array(resamples);
    const draw = new Float64Array(n);
    for (let b = 0; b < resamples; b++) {
      for (let i = 0; i < n; i++) draw[i] = sorted[Math.floor(rng.next() * n)]!;
      draw.sort();
      meds[b] = sortedMedian(draw);
    }
    meds.sort();
    low = Math.min(quantileSorted(meds, (1 - level) / 2), med);
    high = Math.max(quantileSorted(meds, (1 + level) / 2), med);
  }
  return { median: med, low, high, relWidth: med === 0 ? 0 : (high - low) / Math.abs(med) };
}

/** The `--until-stable` bound: relative width and cap of runs per cell. */
export interface StableRule {
  readonly maxRelWidth: number;
  readonly maxRuns: number;
}

/** Whether a cell with these runs needs more under `rule`: its interval is too wide and the cap is not reached. */
export function needsMoreRuns(xs: readonly number[], rule: StableRule, o: BootstrapOptions = {}): boolean {
  if (xs.length >= rule.maxRuns) return false;
  if (xs.length < MIN_RUNS_FOR_CI) return true;
  return bootstrapMedianCi(xs, o).relWidth > rule.maxRelWidth;
}

/** Whether two intervals share at least one point. */
export function intervalsOverlap(a: { low: number; high: number }, b: { low: number; high: number }): boolean {
  return a.low <= b.high && b.low <= a.high;
}
