/**
 * The GPU bench's cells (bench/gpu-cell.ts): a warm-up of several calls and
 * ~20 ms before timing, and no p99 from fewer than 100 samples.
 */
import { fc, it as prop } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { cellOf, P99_MIN_SAMPLES, WARMUP_CALLS, WARMUP_MAX_MS, WARMUP_MS, warmedUp } from '../../bench/gpu-cell.js';

describe('warmedUp', () => {
  it('not after one call, however slow within the cap; after several calls and 20 ms, whichever comes later', () => {
    expect(WARMUP_CALLS).toBeGreaterThan(1);
    expect(warmedUp(1, 5)).toBe(false);
    expect(warmedUp(1, WARMUP_MS)).toBe(false);
    expect(warmedUp(WARMUP_CALLS, WARMUP_MS - 1)).toBe(false);
    expect(warmedUp(WARMUP_CALLS - 1, WARMUP_MS + 5)).toBe(false);
    expect(warmedUp(WARMUP_CALLS, WARMUP_MS)).toBe(true);
    expect(warmedUp(1, WARMUP_MAX_MS)).toBe(true);
    expect(warmedUp(0, WARMUP_MAX_MS)).toBe(false);
  });

  prop.prop([fc.nat(1000), fc.double({ min: 0, max: 10_000, noNaN: true })])('monotone: more calls or more time never undoes a warm-up', (calls, ms) => {
    if (warmedUp(calls, ms)) {
      expect(warmedUp(calls + 1, ms)).toBe(true);
      expect(warmedUp(calls, ms + 1)).toBe(true);
    }
  });
});

describe('cellOf', () => {
  it('p99 is null below 100 samples and the 99th percentile from 100 on', () => {
    expect(P99_MIN_SAMPLES).toBe(100);
    const xs = Array.from({ length: 99 }, (_, i) => i + 1);
    expect(cellOf(xs)).toEqual({ median_us: 50, p99_us: null, n: 99 });
    expect(cellOf([...xs, 100])).toEqual({ median_us: 50, p99_us: 99, n: 100 });
  });

  prop.prop([fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 300 })])('median within the samples; p99, when given, at least the median', (xs) => {
    const c = cellOf(xs);
    expect(c.n).toBe(xs.length);
    expect(c.p99_us === null).toBe(xs.length < P99_MIN_SAMPLES);
    expect(c.median_us).toBeGreaterThanOrEqual(Math.round(Math.min(...xs) * 100) / 100);
    if (c.p99_us !== null) expect(c.p99_us).toBeGreaterThanOrEqual(c.median_us);
  });
});
