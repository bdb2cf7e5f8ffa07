/**
 * Log-bucketed latency histograms (pure): the bucket bounds a service counts
 * its calls' service times into (in its control area, service.ts), and what
 * status, metrics and the fleet do with them (merge, quantiles).
 *
 * Bucket i (0 ≤ i < FINITE_BUCKETS) counts latencies of at most
 * `256 ns · 2^(i/2)`: 47 finite buckets from 256 ns to 2^31 ns (about 2.1 s),
 * two per octave (a bucket's upper bound is at most √2 times its lower one),
 * plus a last +Inf bucket. Counts are u32 as the control area holds them.
 */
import { ValidationError } from '../errors.js';

/** Latency of answered calls, log-bucketed (bucket i counts calls of at most boundsNs[i] ns; the last bucket is +Inf). */
export interface LatencyHistogram {
  /** Upper bounds in ns, ascending; counts has one more entry (the +Inf bucket). */
  readonly boundsNs: readonly number[];
  readonly counts: readonly number[];
  /** Sum of the latencies counted, in ns. */
  readonly sumNs: number;
}

/** Upper bound of the first bucket, in ns. */
export const FIRST_BOUND_NS = 256;
/** Finite buckets; the counts have one more (+Inf). */
export const FINITE_BUCKETS = 47;
/** Every bucket, +Inf included: the length of `counts`. */
export const BUCKETS = FINITE_BUCKETS + 1;

/** The finite upper bounds, in ns: 256 · 2^(i/2), exact powers of two at even i. */
export const BOUNDS_NS: readonly number[] = Object.freeze(
  Array.from({ length: FINITE_BUCKETS }, (_, i) => (i % 2 === 0 ? FIRST_BOUND_NS * 2 ** (i / 2) : FIRST_BOUND_NS * 2 ** ((i - 1) / 2) * Math.SQRT2)),
);

const LAST_BOUND_NS = BOUNDS_NS[FINITE_BUCKETS - 1]!;
const FIRST_EXPONENT = Math.log2(FIRST_BOUND_NS);

/**
 * The bucket of a latency of `ns` nanoseconds: the smallest i with
 * `ns ≤ BOUNDS_NS[i]`, or FINITE_BUCKETS (+Inf) past the last bound. Anything
 * not above the first bound (0, a negative or NaN reading) is bucket 0.
 * Cheap enough for the call path: one clz32 and at most two comparisons.
 */
export function bucketOf(ns: number): number {
  if (!(ns > FIRST_BOUND_NS)) return 0;
  if (ns > LAST_BOUND_NS) return FINITE_BUCKETS;
  // ns ≤ 2^31 here: clz32 of its integer part gives e = floor(log2 ns), and 2^e ≤ ns < 2^(e+1).
  let i = 2 * (31 - Math.clz32(ns) - FIRST_EXPONENT);
  while (ns > BOUNDS_NS[i]!) i++;
  return i;
}

/** Lower bound of bucket i in ns (0 for the first bucket). */
export function lowerBoundNs(i: number): number {
  return i === 0 ? 0 : BOUNDS_NS[i - 1]!;
}

/** A histogram with nothing counted. */
export function emptyHistogram(): LatencyHistogram {
  return { boundsNs: BOUNDS_NS, counts: new Array<number>(BUCKETS).fill(0), sumNs: 0 };
}

/** The histogram of a list of latencies (ns): what a service's counting amounts to. */
export function histogramOf(latenciesNs: Iterable<number>): LatencyHistogram {
  const counts = new Array<number>(BUCKETS).fill(0);
  let sumNs = 0;
  for (const ns of latenciesNs) {
    counts[bucketOf(ns)]!++;
    sumNs += ns > 0 ? ns : 0;
  }
  return { boundsNs: BOUNDS_NS, counts, sumNs };
}

/** Calls counted. */
export function countOf(h: LatencyHistogram): number {
  let n = 0;
  for (const c of h.counts) n += c;
  return n;
}

/**
 * The histogram of both: counts and sums added. Both must have the same
 * bounds (every histogram this project makes does): a ValidationError otherwise.
 */
export function mergeHistograms(a: LatencyHistogram, b: LatencyHistogram): LatencyHistogram {
  if (a.boundsNs.length !== b.boundsNs.length || a.boundsNs.some((x, i) => x !== b.boundsNs[i])) {
    throw new ValidationError('latency', 'histograms with different bucket bounds cannot be merged');
  }
  return { boundsNs: a.boundsNs, counts: a.counts.map((c, i) => c + b.counts[i]!), sumNs: a.sumNs + b.sumNs };
}

/** Merge any number of histograms (null ones are skipped); null when none is given. */
export function mergeAll(hs: Iterable<LatencyHistogram | null>): LatencyHistogram | null {
  let out: LatencyHistogram | null = null;
  for (const h of hs) if (h !== null) out = out === null ? h : mergeHistograms(out, h);
  return out;
}

/**
 * The q-quantile (0 ≤ q ≤ 1) in ns, interpolated linearly inside the bucket
 * holding the rank q·count (as Prometheus' histogram_quantile does): always
 * within that bucket's bounds. The +Inf bucket has no upper bound: a rank
 * landing there answers the last finite bound. null when nothing is counted.
 */
export function quantileNs(h: LatencyHistogram, q: number): number | null {
  const total = countOf(h);
  if (total === 0 || !(q >= 0 && q <= 1)) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i]!;
    if (c > 0 && below + c >= rank) {
      if (i >= h.boundsNs.length) return h.boundsNs[h.boundsNs.length - 1] ?? null;
      const lo = i === 0 ? 0 : h.boundsNs[i - 1]!;
      const hi = h.boundsNs[i]!;
      return lo + (hi - lo) * Math.max(0, (rank - below) / c);
    }
    below += c;
  }
  return null;
}
