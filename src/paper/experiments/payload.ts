/**
 * The experiments' payloads and what the functions answer to them: seeded bytes (the same seed,
 * the same bytes in every process), and the expected output of sha256 or crc32, computed by the
 * very driver the service runs, so each process can check every answer it gets.
 */
import { createDriver } from '../../drivers/registry.js';
import { VirtFunError } from '../../errors.js';
import { createRng } from '../../../simulator/rng.js';
import type { PayloadFn } from './options.js';

/** The largest output of the payload functions (sha256's digest). */
export const MAX_OUTPUT_BYTES = 32;

/** `size` seeded bytes: stream `size` of the generator seeded with `seed`. */
export function makePayload(size: number, seed: number): Uint8Array {
  const rng = createRng(seed, size);
  const out = new Uint8Array(size);
  const words = new Uint32Array(out.buffer, 0, size >>> 2);
  for (let i = 0; i < words.length; i++) words[i] = rng.nextU32();
  for (let i = words.length * 4; i < size; i++) out[i] = rng.nextU32() & 0xff;
  return out;
}

/** A payload function's driver, called synchronously (the software drivers answer at once). */
export function payloadDriver(fn: string): (input: Uint8Array, out: Uint8Array) => number {
  const driver = createDriver(fn);
  return (input, out) => {
    const n = driver.call(input, out);
    if (typeof n !== 'number') throw new VirtFunError('DRIVER', `${fn}: the driver answered asynchronously; the experiments call synchronous drivers`);
    return n;
  };
}

/** What `fn` answers to `input` (the driver's own output). */
export function expectedOutput(fn: PayloadFn, input: Uint8Array): Uint8Array {
  const out = new Uint8Array(MAX_OUTPUT_BYTES);
  const n = payloadDriver(fn)(input, out);
  return out.slice(0, n);
}

/** Whether the first `len` bytes of `got` are `want`. */
export function sameOutput(got: Uint8Array, len: number, want: Uint8Array): boolean {
  if (len !== want.length) return false;
  for (let i = 0; i < len; i++) if (got[i] !== want[i]) return false;
  return true;
}
