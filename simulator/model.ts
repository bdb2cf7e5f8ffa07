/**
 * The timing model, as pure functions (docs/simulator.md, "Model"). All
 * durations are integer nanoseconds, each term rounded up, so the jitter-free
 * cost is an exact lower bound of every simulated call:
 *
 *   transferIn  = ⌈inputBytes  · transferNanosPerByte⌉
 *   launch      = ⌈launchMicros · 1000⌉
 *   compute     = ⌈work · 10^9 / throughput⌉     (work: bytes, items or ops, see kernels.ts)
 *   transferOut = ⌈outputBytes · transferNanosPerByte⌉
 *   call        = transferIn + launch + compute + transferOut + jitter(call)
 *   load        = ⌈loadMs · 10^6⌉ + jitter(load)
 *
 * with jitter ≥ 0 drawn from the function's JitterSpec.
 */
import type { FunctionProfile, JitterSpec } from './profile.js';
import type { Rng } from './rng.js';

/** The jitter-free cost of one call by the device model, in nanoseconds, term by term (see the module's formula). */
export interface CallCost {
  readonly transferInNs: number;
  readonly launchNs: number;
  readonly computeNs: number;
  readonly transferOutNs: number;
  /** Sum of the four terms: the least time a call can take (no jitter). */
  readonly totalNs: number;
}

/** Round a duration up to whole nanoseconds, ignoring floating-point dust (100.00000000000001 → 100). */
export function ceilNs(x: number): number {
  return Math.max(0, Math.ceil(x - 1e-6));
}

/** Jitter-free cost of one call. */
export function callCost(fn: FunctionProfile, inputBytes: number, outputBytes: number, work: number): CallCost {
  const transferInNs = ceilNs(inputBytes * fn.transferNanosPerByte);
  const launchNs = ceilNs(fn.launchMicros * 1_000);
  const rate = fn.bytesPerSecond ?? fn.itemsPerSecond ?? fn.opsPerSecond ?? Infinity;
  const computeNs = ceilNs((work * 1e9) / rate);
  const transferOutNs = ceilNs(outputBytes * fn.transferNanosPerByte);
  return {
    transferInNs,
    launchNs,
    computeNs,
    transferOutNs,
    totalNs: transferInNs + launchNs + computeNs + transferOutNs,
  };
}

/** Jitter-free reconfiguration time of a function. */
export function loadCostNs(fn: FunctionProfile): number {
  return ceilNs(fn.loadMs * 1e6);
}

/**
 * Non-negative jitter for a duration `baseNs`, in whole nanoseconds. Always
 * consumes the same number of draws for a given kind (uniform: 1, lognormal: 2),
 * whatever the fraction, so timelines stay aligned across profiles.
 */
export function drawJitterNs(baseNs: number, spec: JitterSpec, rng: Rng): number {
  const x = spec.kind === 'uniform' ? rng.next() : Math.exp((spec.sigma ?? 0.5) * rng.normal());
  return Math.floor(baseNs * spec.fraction * x);
}
