/**
 * The timed loop every experiment measures with: `calls` calls of one input, each timed alone
 * with performance.now() (the pair's own cost, tens of ns, is inside every sample), each answer
 * checked against the expected output. A synchronous channel (a driver in process, the shared
 * memory region) is never awaited; an asynchronous one (TCP) is awaited call by call.
 */
import { nowNs } from '../traces.js';
import { sameOutput } from './payload.js';

/** A call: writes the answer into `out`, returns its length. */
export type SyncCall = (input: Uint8Array, out: Uint8Array) => number;
/** The same through a promise. */
export type AsyncCall = (input: Uint8Array, out: Uint8Array) => Promise<number>;

/** One batch of timed calls. */
export interface TimedCalls {
  /** Latency of each call, µs (rounded to the ns). */
  readonly latencies_us: number[];
  /** Calls whose answer was not the expected one. */
  readonly bad: number;
  /** Start and end of the batch on the monotonic clock every process shares, ns. */
  readonly startNs: number;
  readonly endNs: number;
}

const roundNs = (us: number): number => Math.round(us * 1000) / 1000;

/** Time `calls` synchronous calls of `input`. */
export function timeSync(call: SyncCall, input: Uint8Array, want: Uint8Array, calls: number, out: Uint8Array): TimedCalls {
  const lat = new Float64Array(calls);
  let bad = 0;
  const startNs = nowNs();
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    const n = call(input, out);
    lat[i] = (performance.now() - t0) * 1000;
    if (!sameOutput(out, n, want)) bad++;
  }
  return { latencies_us: Array.from(lat, roundNs), bad, startNs, endNs: nowNs() };
}

/** Time `calls` asynchronous calls of `input`, one in flight. */
export async function timeAsync(call: AsyncCall, input: Uint8Array, want: Uint8Array, calls: number, out: Uint8Array): Promise<TimedCalls> {
  const lat = new Float64Array(calls);
  let bad = 0;
  const startNs = nowNs();
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    const n = await call(input, out);
    lat[i] = (performance.now() - t0) * 1000;
    if (!sameOutput(out, n, want)) bad++;
  }
  return { latencies_us: Array.from(lat, roundNs), bad, startNs, endNs: nowNs() };
}
