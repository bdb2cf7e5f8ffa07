/**
 * From timings measured on a WebGPU device to the simulator's figures, as
 * pure functions (`vfun sim calibrate --device webgpu` measures, this fits):
 *
 * - launch overhead: per kernel, the median time of a call with its smallest input;
 * - transfer: ns per byte moved (input + output), the least-squares slope of the
 *   median call time over a sweep of sizes of the memory-bound kernel (the one
 *   doing the fewest operations per byte; saxpy): its whole size-dependent cost
 *   counts as transfer;
 * - throughput: per kernel, what is left of each size's median once launch and
 *   transfer are taken off, fitted against the kernel's operations
 *   (`KernelTwin.work`): the slope is ns per operation. A kernel whose time is
 *   all launch and transfer (the memory-bound one itself) gets MAX_OPS_PER_SECOND
 *   and says so (`computeResolved: false`);
 * - reconfiguration (the simulator's loadMs): the median time of `prepare`;
 * - jitter: uniform, the fraction (p90 − p50) / p50 of the smallest input's times.
 */

/** One input size of one kernel: what a call moves and computes, and each repetition's time. */
export interface SizeTiming {
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly ops: number;
  /** Wall time of each repetition, ns. */
  readonly ns: readonly number[];
}

export interface KernelTimings {
  readonly name: string;
  /** Time of each `prepare` (pipelines compiled, buffers allocated), ms. */
  readonly prepareMs: readonly number[];
  /** Ascending sizes; the first is the smallest input (the launch overhead). */
  readonly sizes: readonly SizeTiming[];
}

export interface KernelFigures {
  readonly name: string;
  readonly launchMicros: number;
  readonly opsPerSecond: number;
  /** False when the sweep left nothing to compute after launch and transfer (opsPerSecond is then MAX_OPS_PER_SECOND). */
  readonly computeResolved: boolean;
  readonly loadMs: number;
  readonly jitterFraction: number;
  /** The largest input measured, bytes. */
  readonly maxBytesIn: number;
}

export interface CalibrationFit {
  readonly transferNanosPerByte: number;
  /** The kernel whose sweep gave the transfer cost. */
  readonly transferKernel: string;
  readonly kernels: readonly KernelFigures[];
}

/** The throughput given to a kernel whose compute time the sweep does not resolve: 10^15 operations per second. */
export const MAX_OPS_PER_SECOND = 1e15;

/** Linear interpolation-free quantile: the smallest value with at least q of the values at or below it. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/** The median (the lower middle value of an even count). */
export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

/** Ordinary least squares y = intercept + slope · x (slope 0 when every x is the same). */
export function leastSquares(points: readonly { readonly x: number; readonly y: number }[]): { slope: number; intercept: number } {
  const n = points.length;
  if (n === 0) return { slope: 0, intercept: 0 };
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    sxx += (p.x - mx) ** 2;
    sxy += (p.x - mx) * (p.y - my);
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

const moved = (s: SizeTiming): number => s.bytesIn + s.bytesOut;

/** The kernel with the fewest operations per byte moved at its largest size: the memory-bound one. */
export function memoryBound(kernels: readonly KernelTimings[]): KernelTimings {
  const intensity = (k: KernelTimings): number => {
    const last = k.sizes[k.sizes.length - 1]!;
    return last.ops / Math.max(1, moved(last));
  };
  return [...kernels].sort((a, b) => intensity(a) - intensity(b) || a.name.localeCompare(b.name))[0]!;
}

function checkTimings(kernels: readonly KernelTimings[]): void {
  if (kernels.length === 0) throw new RangeError('calibration: no kernel was measured');
  for (const k of kernels) {
    if (k.sizes.length < 2) throw new RangeError(`calibration: ${k.name} was measured at ${k.sizes.length} size(s), needs 2 or more`);
    if (k.prepareMs.length === 0) throw new RangeError(`calibration: ${k.name} has no prepare time`);
    for (const s of k.sizes) if (s.ns.length === 0) throw new RangeError(`calibration: ${k.name} has a size without timings`);
  }
}

/** The figures of every kernel (pure): see the module comment. Throws RangeError for too few timings. */
export function fitCalibration(kernels: readonly KernelTimings[]): CalibrationFit {
  checkTimings(kernels);
  const ref = memoryBound(kernels);
  const transfer = Math.max(0, leastSquares(ref.sizes.map((s) => ({ x: moved(s), y: median(s.ns) }))).slope);
  const figures = kernels.map((k): KernelFigures => {
    const small = k.sizes[0]!.ns;
    const launchNs = median(small);
    const rest = k.sizes.map((s) => ({ x: s.ops, y: median(s.ns) - launchNs - transfer * moved(s) }));
    const nsPerOp = leastSquares(rest).slope;
    const resolved = k.name !== ref.name && nsPerOp > 1e9 / MAX_OPS_PER_SECOND;
    return {
      name: k.name,
      launchMicros: launchNs / 1000,
      opsPerSecond: resolved ? 1e9 / nsPerOp : MAX_OPS_PER_SECOND,
      computeResolved: resolved,
      loadMs: median(k.prepareMs),
      jitterFraction: Math.min(100, Math.max(0, (quantile(small, 0.9) - launchNs) / Math.max(1, launchNs))),
      maxBytesIn: Math.max(...k.sizes.map((s) => s.bytesIn)),
    };
  });
  return { transferNanosPerByte: transfer, transferKernel: ref.name, kernels: figures };
}
