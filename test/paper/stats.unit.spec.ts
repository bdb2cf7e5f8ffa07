/** Median, bootstrap confidence interval and the --until-stable rule (fast-check properties; a failure prints its seed). */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { bootstrapMedianCi, intervalsOverlap, median, MIN_RUNS_FOR_CI, needsMoreRuns, quantileSorted } from '../../src/paper/stats.js';

const seconds = fc.double({ min: 1e-6, max: 1e3, noNaN: true, noDefaultInfinity: true });
const samples = fc.array(seconds, { minLength: 1, maxLength: 40 });

describe('median', () => {
  it('is the middle value, or the mean of the middle two', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(RangeError);
  });

  test.prop([samples])('has as many samples at or below it as at or above it', (xs) => {
    const m = median(xs);
    expect(xs.filter((x) => x <= m).length).toBeGreaterThanOrEqual(xs.length / 2);
    expect(xs.filter((x) => x >= m).length).toBeGreaterThanOrEqual(xs.length / 2);
  });

  it('quantiles interpolate between order statistics', () => {
    expect(quantileSorted([1, 2, 3, 4, 5], 0)).toBe(1);
    expect(quantileSorted([1, 2, 3, 4, 5], 1)).toBe(5);
    expect(quantileSorted([0, 10], 0.25)).toBe(2.5);
  });
});

describe('bootstrap confidence interval of the median', () => {
  test.prop([samples, fc.integer()], { numRuns: 200 })('contains the median, within the samples', (xs, seed) => {
    const ci = bootstrapMedianCi(xs, { seed, resamples: 300 });
    expect(ci.median).toBe(median(xs));
    expect(ci.low).toBeLessThanOrEqual(ci.median);
    expect(ci.median).toBeLessThanOrEqual(ci.high);
    expect(ci.low).toBeGreaterThanOrEqual(Math.min(...xs));
    expect(ci.high).toBeLessThanOrEqual(Math.max(...xs));
    expect(ci.relWidth).toBeCloseTo((ci.high - ci.low) / ci.median, 12);
  });

  test.prop([samples, fc.integer()], { numRuns: 100 })('is the same for the same samples and seed, in any order', (xs, seed) => {
    const a = bootstrapMedianCi(xs, { seed, resamples: 300 });
    expect(bootstrapMedianCi([...xs].reverse(), { seed, resamples: 300 })).toEqual(a);
  });

  test.prop([fc.array(seconds, { minLength: 2, maxLength: 20 }), fc.double({ min: 0.5, max: 100, noNaN: true })], { numRuns: 100 })(
    'scales with the samples',
    (xs, k) => {
      const a = bootstrapMedianCi(xs, { seed: 7, resamples: 200 });
      const b = bootstrapMedianCi(xs.map((x) => x * k), { seed: 7, resamples: 200 });
      expect(b.median).toBeCloseTo(a.median * k, 6);
      expect(b.relWidth).toBeCloseTo(a.relWidth, 6);
    },
  );

  it('is zero-width for one run or identical runs, and narrows as runs are added', () => {
    expect(bootstrapMedianCi([2])).toEqual({ median: 2, low: 2, high: 2, relWidth: 0 });
    expect(bootstrapMedianCi([2, 2, 2, 2]).relWidth).toBe(0);
    // runs spread evenly over 1.00 to 1.10: 5 of them against 45
    const spread = (n: number): number[] => Array.from({ length: n }, (_, i) => 1 + (0.1 * i) / (n - 1));
    expect(bootstrapMedianCi(spread(45)).relWidth).toBeLessThan(bootstrapMedianCi(spread(5)).relWidth);
  });

  it('another seed gives another interval for the same spread samples', () => {
    const xs = [1, 1.3, 1.1, 1.7, 1.2, 1.05, 1.5, 1.4];
    expect(bootstrapMedianCi(xs, { seed: 1, resamples: 50 })).not.toEqual(bootstrapMedianCi(xs, { seed: 2, resamples: 50 }));
  });
});

describe('--until-stable', () => {
  const rule = { maxRelWidth: 0.02, maxRuns: 12 };
  it(`asks for runs below ${MIN_RUNS_FOR_CI}, while the interval is too wide, and never past the cap`, () => {
    expect(needsMoreRuns([1, 1, 1], rule)).toBe(true);
    expect(needsMoreRuns([1, 1, 1, 1, 1], rule)).toBe(false);
    expect(needsMoreRuns([1, 1.5, 1, 2, 1.2, 1.8], rule)).toBe(true);
    expect(needsMoreRuns(Array.from({ length: 12 }, (_, i) => 1 + i), rule)).toBe(false);
  });

  test.prop([samples])('stops at the cap whatever the samples', (xs) => {
    expect(needsMoreRuns(xs, { maxRelWidth: 0, maxRuns: xs.length })).toBe(false);
  });

  it('intervals overlap when they share a point', () => {
    expect(intervalsOverlap({ low: 1, high: 2 }, { low: 2, high: 3 })).toBe(true);
    expect(intervalsOverlap({ low: 1, high: 2 }, { low: 2.1, high: 3 })).toBe(false);
    expect(intervalsOverlap({ low: 2.1, high: 3 }, { low: 1, high: 2 })).toBe(false);
  });
});
