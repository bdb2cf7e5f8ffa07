/**
 * The latency histogram's bucket math (src/dataplane/latency-histogram.ts): every latency lands
 * in the one bucket whose bounds hold it, merging is counting the union, counts only grow, and a
 * quantile stays inside the bucket that holds the true sample quantile.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import {
  BOUNDS_NS,
  BUCKETS,
  bucketOf,
  countOf,
  emptyHistogram,
  FINITE_BUCKETS,
  histogramOf,
  lowerBoundNs,
  mergeAll,
  mergeHistograms,
  quantileNs,
} from '../../src/dataplane/latency-histogram.js';
import { ValidationError } from '../../src/errors.js';

/** Latencies in whole ns from 0 to past the last bound (sums stay exact), skewed towards the small ones. */
const latency = fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 0, max: 2_000_000 }), fc.integer({ min: 0, max: 2 ** 33 }));
const latencies = fc.array(latency, { maxLength: 200 });

describe('latency histogram buckets', () => {
  test('bounds: 47 finite ones from 256 ns to 2^31 ns, two per octave', () => {
    expect(BOUNDS_NS).toHaveLength(FINITE_BUCKETS);
    expect(BUCKETS).toBe(48);
    expect(BOUNDS_NS[0]).toBe(256);
    expect(BOUNDS_NS[FINITE_BUCKETS - 1]).toBe(2 ** 31);
    for (let i = 1; i < FINITE_BUCKETS; i++) expect(BOUNDS_NS[i]! / BOUNDS_NS[i - 1]!).toBeCloseTo(Math.SQRT2, 12);
    expect(emptyHistogram().counts).toHaveLength(BUCKETS);
  });

  test.prop([fc.oneof(latency, fc.double({ min: -10, max: 2 ** 32, noNaN: true }))])('a latency lands in the smallest bucket whose bound holds it', (ns) => {
    const i = bucketOf(ns);
    const expected = BOUNDS_NS.findIndex((b) => ns <= b);
    expect(i).toBe(expected === -1 ? FINITE_BUCKETS : expected);
    if (i < FINITE_BUCKETS) expect(ns).toBeLessThanOrEqual(BOUNDS_NS[i]!);
    if (i > 0) expect(ns).toBeGreaterThan(lowerBoundNs(i));
  });

  test('edges: a bound is in its own bucket, just above it in the next; NaN and negatives in the first', () => {
    for (let i = 0; i < FINITE_BUCKETS; i++) {
      expect(bucketOf(BOUNDS_NS[i]!)).toBe(i);
      expect(bucketOf(BOUNDS_NS[i]! * (1 + 1e-12))).toBe(i + 1);
    }
    expect(bucketOf(Number.NaN)).toBe(0);
    expect(bucketOf(-5)).toBe(0);
    expect(bucketOf(Infinity)).toBe(FINITE_BUCKETS);
  });
});

describe('latency histograms', () => {
  test.prop([latencies, latencies])('merging two is counting the union', (a, b) => {
    const merged = mergeHistograms(histogramOf(a), histogramOf(b));
    const union = histogramOf([...a, ...b]);
    expect(merged.counts).toEqual(union.counts);
    expect(merged.sumNs).toBe(union.sumNs);
    expect(merged.boundsNs).toEqual(BOUNDS_NS);
    expect(mergeAll([null, histogramOf(a), null, histogramOf(b)])).toEqual(merged);
  });

  test('mergeAll of nothing is null; histograms with other bounds are not merged', () => {
    expect(mergeAll([])).toBeNull();
    expect(mergeAll([null])).toBeNull();
    const other = { boundsNs: [1, 2], counts: [0, 0, 0], sumNs: 0 };
    expect(() => mergeHistograms(emptyHistogram(), other)).toThrow(ValidationError);
  });

  test.prop([latencies, latency])('one more call adds one to exactly one bucket and never lowers a count', (xs, x) => {
    const before = histogramOf(xs);
    const after = histogramOf([...xs, x]);
    expect(countOf(after)).toBe(countOf(before) + 1);
    const grown = after.counts.map((c, i) => c - before.counts[i]!);
    expect(grown.every((d) => d >= 0)).toBe(true);
    expect(grown.filter((d) => d === 1)).toHaveLength(1);
    expect(grown[bucketOf(x)]).toBe(1);
  });

  test.prop([fc.array(latency, { minLength: 1, maxLength: 200 }), fc.double({ min: 0, max: 1, noNaN: true })])(
    'a quantile lies within the bounds of the bucket holding the sample quantile',
    (xs, q) => {
      const h = histogramOf(xs);
      const v = quantileNs(h, q)!;
      const sorted = [...xs].sort((a, b) => a - b);
      const truth = sorted[Math.max(0, Math.ceil(q * xs.length) - 1)]!;
      const b = bucketOf(truth);
      if (b === FINITE_BUCKETS) expect(v).toBe(BOUNDS_NS[FINITE_BUCKETS - 1]);
      else {
        expect(v).toBeGreaterThanOrEqual(lowerBoundNs(b));
        expect(v).toBeLessThanOrEqual(BOUNDS_NS[b]!);
      }
    },
  );

  test.prop([fc.array(latency, { minLength: 1, maxLength: 200 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })])(
    'quantiles are monotone in q',
    (xs, p, q) => {
      const h = histogramOf(xs);
      const [lo, hi] = p <= q ? [p, q] : [q, p];
      expect(quantileNs(h, lo)!).toBeLessThanOrEqual(quantileNs(h, hi)!);
    },
  );

  test('nothing counted, or q outside 0..1: no quantile', () => {
    expect(quantileNs(emptyHistogram(), 0.5)).toBeNull();
    expect(quantileNs(histogramOf([1000]), 1.5)).toBeNull();
    expect(quantileNs(histogramOf([1000]), Number.NaN)).toBeNull();
  });

  test('interpolation inside a bucket: 4 calls in (512, 724] ns give a median halfway', () => {
    const h = histogramOf([600, 600, 600, 600]);
    expect(bucketOf(600)).toBe(3);
    expect(quantileNs(h, 0.5)).toBeCloseTo(512 + (BOUNDS_NS[3]! - 512) / 2, 9);
    expect(quantileNs(h, 1)).toBeCloseTo(BOUNDS_NS[3]!, 9);
  });
});
