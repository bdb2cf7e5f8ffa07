/**
 * fast-check arbitraries for what a guest sends a function: payloads a
 * driver accepts, payloads it must refuse, and sequences of the channel's
 * operations (call, set, get, rst). The sizes come from the driver's own
 * metadata, so one test serves any driver.
 */
import * as fc from 'fast-check';
import type { DriverMeta } from '../../drivers/driver.js';

/** Default cap on generated payloads: large enough to cross cache lines and pages, small enough for many runs. */
export const DEFAULT_MAX_PAYLOAD = 4096;

/** Payloads whose size `meta.input` accepts (capped at `maxBytes`, default DEFAULT_MAX_PAYLOAD, and at the region's capacity). */
export function payloadArb(meta: DriverMeta, options: { readonly maxBytes?: number; readonly capacity?: number } = {}): fc.Arbitrary<Uint8Array> {
  const cap = Math.min(meta.input.maxBytes, options.maxBytes ?? DEFAULT_MAX_PAYLOAD, options.capacity ?? Number.MAX_SAFE_INTEGER);
  const min = meta.input.minBytes;
  if (cap < min) throw new RangeError(`payloadArb: ${meta.name} takes at least ${min} bytes, more than the cap of ${cap}`);
  return fc.uint8Array({ minLength: min, maxLength: cap });
}

/**
 * Payloads of a size `meta.input` refuses but the region can carry (at most `capacity` bytes): the
 * driver must answer BAD_INPUT. Null when every size up to the capacity is accepted.
 */
export function badPayloadArb(meta: DriverMeta, capacity: number): fc.Arbitrary<Uint8Array> | null {
  const sizes: fc.Arbitrary<number>[] = [];
  if (meta.input.minBytes > 0) sizes.push(fc.integer({ min: 0, max: meta.input.minBytes - 1 }));
  if (meta.input.maxBytes < capacity) sizes.push(fc.integer({ min: meta.input.maxBytes + 1, max: Math.min(capacity, meta.input.maxBytes + DEFAULT_MAX_PAYLOAD) }));
  if (sizes.length === 0) return null;
  return fc.oneof(...sizes).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));
}

/** One operation of the computation phase, as a guest issues it. */
export type ChannelOp =
  | { readonly op: 'call'; readonly input: Uint8Array }
  | { readonly op: 'set'; readonly input: Uint8Array }
  | { readonly op: 'get' }
  | { readonly op: 'rst' };

/** Sequences of channel operations on one vFunction, mostly calls; inputs from `input` (default: payloadArb(meta)). */
export function channelOpsArb(
  meta: DriverMeta,
  options: { readonly input?: fc.Arbitrary<Uint8Array>; readonly maxLength?: number } = {},
): fc.Arbitrary<ChannelOp[]> {
  const input = options.input ?? payloadArb(meta);
  const op: fc.Arbitrary<ChannelOp> = fc.oneof(
    { weight: 6, arbitrary: input.map((i) => ({ op: 'call' as const, input: i })) },
    { weight: 2, arbitrary: input.map((i) => ({ op: 'set' as const, input: i })) },
    { weight: 2, arbitrary: fc.constant({ op: 'get' as const }) },
    { weight: 1, arbitrary: fc.constant({ op: 'rst' as const }) },
  );
  return fc.array(op, { minLength: 1, maxLength: options.maxLength ?? 20 });
}

/** A workload over several functions: which function each call goes to, and its input. */
export interface WorkloadCall {
  readonly fn: string;
  readonly input: Uint8Array;
}

/** Interleaved calls to the given functions (name → its driver's metadata), each input one its driver accepts. */
export function workloadArb(functions: Readonly<Record<string, DriverMeta>>, options: { readonly maxCalls?: number; readonly maxBytes?: number } = {}): fc.Arbitrary<WorkloadCall[]> {
  const names = Object.keys(functions);
  if (names.length === 0) throw new RangeError('workloadArb: give at least one function');
  const call = fc.oneof(
    ...names.map((fn) => payloadArb(functions[fn]!, options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }).map((input) => ({ fn, input }))),
  );
  return fc.array(call, { minLength: 1, maxLength: options.maxCalls ?? 50 });
}
