/**
 * Summaries of per-call latency samples, the cells of the experiments' tables: the median with
 * its bootstrap 95% confidence interval (stats.ts, seeded), the tail (p99, p99.9), mean, min and
 * max; and the points of a latency CDF for the figures. Pure.
 */
import { bootstrapMedianCi, BOOTSTRAP_SEED, quantileSorted } from '../stats.js';

/** What a cell says of its calls' latencies, µs. */
export interface LatencySummary {
  readonly calls: number;
  readonly median_us: number;
  /** Bootstrap 95% confidence interval of the median. */
  readonly ci_low_us: number;
  readonly ci_high_us: number;
  /** (ci_high - ci_low) / median. */
  readonly ci_rel_width: number;
  readonly p99_us: number;
  readonly p999_us: number;
  readonly mean_us: number;
  readonly min_us: number;
  readonly max_us: number;
}

/** The summary of a non-empty set of latencies (µs); a RangeError for none. */
export function summarizeLatencies(samplesUs: readonly number[], seed = BOOTSTRAP_SEED): LatencySummary {
  if (samplesUs.length === 0) throw new RangeError('latency summary of no calls');
  const sorted = Float64Array.from(samplesUs).sort();
  const ci = bootstrapMedianCi(samplesUs, { seed });
  let sum = 0;
  for (const x of sorted) sum += x;
  return {
    calls: sorted.length,
    median_us: ci.median,
    ci_low_us: ci.low,
    ci_high_us: ci.high,
    ci_rel_width: ci.relWidth,
    p99_us: quantileSorted(sorted, 0.99),
    p999_us: quantileSorted(sorted, 0.999),
    mean_us: sum / sorted.length,
    min_us: sorted[0]!,
    max_us: sorted[sorted.length - 1]!,
  };
}

/** One point of an empirical CDF: the fraction of calls at or below `latency_us`. */
export interface CdfPoint {
  readonly latency_us: number;
  readonly fraction: number;
}

/**
 * The empirical CDF of the samples at most `points` points (every sample when there are fewer):
 * the quantiles at evenly spaced fractions from 0 to 1, so a figure of 5000 calls stays small.
 */
export function cdfPoints(samplesUs: readonly number[], points = 400): CdfPoint[] {
  if (samplesUs.length === 0) return [];
  const sorted = Float64Array.from(samplesUs).sort();
  const n = sorted.length;
  if (n <= points) return Array.from(sorted, (x, i) => ({ latency_us: x, fraction: (i + 1) / n }));
  return Array.from({ length: points }, (_, k) => {
    const q = (k + 1) / points;
    return { latency_us: quantileSorted(sorted, q), fraction: q };
  });
}

/** b / a, or null when a is 0. */
export function ratio(b: number, a: number): number | null {
  return a === 0 ? null : b / a;
}
