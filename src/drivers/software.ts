/**
 * Software drivers: the paper's two functions (factorial, fibonacci) with
 * exact unsigned 64-bit semantics, and two payload kernels (CRC32, SHA-256)
 * whose cost grows with the payload. See docs/drivers.md for the formats.
 */
import { createHash } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { checkInputSize, DriverInputError, type DriverMeta, type FunctionDriver } from './driver.js';
import { addU64, mulU64, U64 } from './u64.js';

/** Largest n accepted by factorial/fibonacci: keeps one call bounded (about 10^6 steps). */
export const MAX_N = 1_000_000;

function readN(meta: DriverMeta, input: Uint8Array): number {
  checkInputSize(meta, input);
  const n = new DataView(input.buffer, input.byteOffset, 4).getUint32(0, true);
  if (n > MAX_N) throw new DriverInputError(`${meta.name}: n is ${n}, the limit is ${MAX_N}`);
  return n;
}

/** Write (hi:lo) as a u64 little-endian into the first 8 bytes of `output`; returns 8. */
export function writeU64(output: Uint8Array, hi: number, lo: number): number {
  if (output.byteLength < 8) throw new DriverInputError(`output buffer is ${output.byteLength} bytes, needs 8`);
  const dv = new DataView(output.buffer, output.byteOffset, 8);
  dv.setUint32(0, lo, true);
  dv.setUint32(4, hi, true);
  return 8;
}

abstract class StatelessDriver implements FunctionDriver {
  abstract readonly meta: DriverMeta;
  abstract call(input: Uint8Array, output: Uint8Array): number;
  init(): void {}
  reset(): void {}
  exit(): void {}
}

/**
 * n! mod 2^64. Input: n as u32 LE (4 bytes). Output: u64 LE (8 bytes).
 * 51! (67 digits) has 47 factors of two, so it is not 0 mod 2^64: the result
 * is its low 64 bits, 18284192274659147776 = 0xfdbe800000000000 (docs/drivers.md).
 */
export class FactorialDriver extends StatelessDriver {
  readonly meta: DriverMeta = {
    name: 'factorial',
    kind: 'sw',
    version: '1',
    description: 'n! modulo 2^64 (unsigned 64-bit wrap-around, as C unsigned long long)',
    input: { minBytes: 4, maxBytes: 4 },
    maxOutputBytes: 8,
  };
  /** Write n! mod 2^64 (u64 LE) into `output`; returns 8. DriverInputError for an input that is not 4 bytes or an n past MAX_N. */
  call(input: Uint8Array, output: Uint8Array): number {
    const n = readN(this.meta, input);
    return writeU64(output, ...factorialU64(n));
  }
}

/** n! mod 2^64 as [hi, lo]. */
export function factorialU64(n: number): [number, number] {
  let hi = 0;
  let lo = 1;
  for (let i = 2; i <= n; i++) {
    mulU64(hi, lo, 0, i);
    hi = U64[0]!;
    lo = U64[1]!;
    if (hi === 0 && lo === 0) break; // from 66! on, the product has >= 64 factors of two
  }
  return [hi, lo];
}

/**
 * fib(n) mod 2^64 with fib(0) = 0, fib(1) = 1. fib(93) = 12200160415121876738
 * is the largest Fibonacci number below 2^64; from fib(94) on the result wraps.
 */
export class FibonacciDriver extends StatelessDriver {
  readonly meta: DriverMeta = {
    name: 'fibonacci',
    kind: 'sw',
    version: '1',
    description: 'fib(n) modulo 2^64 (unsigned 64-bit wrap-around)',
    input: { minBytes: 4, maxBytes: 4 },
    maxOutputBytes: 8,
  };
  /** Write fib(n) mod 2^64 (u64 LE) into `output`; returns 8. DriverInputError for an input that is not 4 bytes or an n past MAX_N. */
  call(input: Uint8Array, output: Uint8Array): number {
    const n = readN(this.meta, input);
    return writeU64(output, ...fibonacciU64(n));
  }
}

/** fib(n) mod 2^64 as [hi, lo]. */
export function fibonacciU64(n: number): [number, number] {
  let aHi = 0;
  let aLo = 0; // fib(i)
  let bHi = 0;
  let bLo = 1; // fib(i + 1)
  for (let i = 0; i < n; i++) {
    addU64(aHi, aLo, bHi, bLo);
    aHi = bHi;
    aLo = bLo;
    bHi = U64[0]!;
    bLo = U64[1]!;
  }
  return [aHi, aLo];
}

/** CRC-32 (IEEE 802.3, as zlib/gzip) of the whole input. Output: u32 LE (4 bytes). */
export class Crc32Driver extends StatelessDriver {
  readonly meta: DriverMeta = {
    name: 'crc32',
    kind: 'sw',
    version: '1',
    description: 'CRC-32 (IEEE, zlib polynomial) of the payload',
    input: { minBytes: 0, maxBytes: Number.MAX_SAFE_INTEGER },
    maxOutputBytes: 4,
  };
  /** Write the CRC-32 of `input` (u32 LE) into `output`; returns 4. */
  call(input: Uint8Array, output: Uint8Array): number {
    // Little-endian by hand: no DataView allocated per call.
    const c = zlibCrc32(input);
    output[0] = c & 0xff;
    output[1] = (c >>> 8) & 0xff;
    output[2] = (c >>> 16) & 0xff;
    output[3] = c >>> 24;
    return 4;
  }
}

/** SHA-256 of the whole input. Output: the 32-byte digest. */
export class Sha256Driver extends StatelessDriver {
  readonly meta: DriverMeta = {
    name: 'sha256',
    kind: 'sw',
    version: '1',
    description: 'SHA-256 digest of the payload',
    input: { minBytes: 0, maxBytes: Number.MAX_SAFE_INTEGER },
    maxOutputBytes: 32,
  };
  /** Write the SHA-256 digest of `input` into `output`; returns 32. */
  call(input: Uint8Array, output: Uint8Array): number {
    output.set(createHash('sha256').update(input).digest());
    return 32;
  }
}
