/**
 * One cell of the GPU bench (bench/gpu.ts), pure: when a warm-up is done,
 * and the median and p99 of the timed calls. The first calls at a size are
 * slower (JIT, caches, the GPU's first dispatch of a buffer size), so a cell
 * warms up for WARMUP_CALLS calls and WARMUP_MS, whichever comes later, and
 * only then times; a p99 from fewer than P99_MIN_SAMPLES calls would be the
 * slowest call or next to it, so it is null there.
 */
import { quantile } from '../src/gpu/calibrate-fit.js';

/** Untimed calls before timing, at least. */
export const WARMUP_CALLS = 10;
/** Untimed time before timing, at least (ms). */
export const WARMUP_MS = 20;
/** A warm-up ends here whatever its count (ms): a call this slow is not JIT-bound. */
export const WARMUP_MAX_MS = 500;
/** The fewest samples a p99 is reported from. */
export const P99_MIN_SAMPLES = 100;

/** Median and p99 of one cell, µs; p99 null below P99_MIN_SAMPLES samples. */
export interface Cell {
  readonly median_us: number;
  readonly p99_us: number | null;
  readonly n: number;
}

/** Whether a warm-up of `calls` calls over `elapsedMs` is done (pure). */
export function warmedUp(calls: number, elapsedMs: number): boolean {
  return (calls >= WARMUP_CALLS && elapsedMs >= WARMUP_MS) || (calls >= 1 && elapsedMs >= WARMUP_MAX_MS);
}

const r2 = (x: number): number => Math.round(x * 100) / 100;

/** A cell from its samples, µs (pure; at least one sample). */
export function cellOf(samplesUs: readonly number[]): Cell {
  return { median_us: r2(quantile(samplesUs, 0.5)), p99_us: samplesUs.length >= P99_MIN_SAMPLES ? r2(quantile(samplesUs, 0.99)) : null, n: samplesUs.length };
}
