/**
 * saxpy: y' = a·x + y over f32 vectors, a streaming kernel bound by memory
 * bandwidth (three words moved per two flops).
 *
 * Input:  a (f32), x[n] (f32), y[n] (f32): 4 + 8n bytes, n ≥ 0.
 * Output: y'[n] (f32): 4n bytes.
 *
 * The twin rounds a·x and then the sum to f32 (two roundings); a GPU may
 * fuse them (one rounding) or flush subnormals, so `compare` accepts the
 * difference that allows: 2ε(|a·x| + |y|) plus the subnormal range.
 */
import { DriverInputError } from '../driver.js';
import { f32Agree, f32View, F32_EPSILON, F32_MIN_NORMAL, type KernelTwin } from './twin.js';

/** Largest input: 64 MiB (8M elements), well under a storage binding's guaranteed 128 MiB. */
export const SAXPY_MAX_INPUT = 4 + 8 * (8 << 20);

function lengthOf(input: Uint8Array): number {
  const len = input.byteLength;
  if (len < 4) throw new DriverInputError(`saxpy: input is ${len} bytes, at least 4 (the scalar a)`);
  if ((len - 4) % 8 !== 0) throw new DriverInputError(`saxpy: input is ${len} bytes; after the scalar a it must hold x[n] and y[n], 8 bytes per element (${len - 4} is not a multiple of 8)`);
  if (len > SAXPY_MAX_INPUT) throw new DriverInputError(`saxpy: input is ${len} bytes, the limit is ${SAXPY_MAX_INPUT}`);
  return (len - 4) / 8;
}

export const saxpy: KernelTwin = {
  name: 'saxpy',
  version: '1',
  description: "a·x + y over f32 vectors (BLAS saxpy): input a, x[n], y[n]; output y'[n]",
  input: { minBytes: 4, maxBytes: SAXPY_MAX_INPUT },
  maxOutputBytes: SAXPY_MAX_INPUT - 4,
  outputBytes(input) {
    return lengthOf(input) * 4;
  },
  compute(input, output) {
    const n = lengthOf(input);
    const a = f32View(input, 0, 1)[0]!;
    const x = f32View(input, 4, n);
    const y = f32View(input, 4 + 4 * n, n);
    const dv = new DataView(output.buffer, output.byteOffset, 4 * n);
    for (let i = 0; i < n; i++) dv.setFloat32(4 * i, Math.fround(Math.fround(a * x[i]!) + y[i]!), true);
    return 4 * n;
  },
  compare(input, expected, actual) {
    const n = lengthOf(input);
    if (actual.byteLength !== 4 * n) return `saxpy: result is ${actual.byteLength} bytes, expected ${4 * n}`;
    const a = f32View(input, 0, 1)[0]!;
    const x = f32View(input, 4, n);
    const y = f32View(input, 4 + 4 * n, n);
    const e = f32View(expected, 0, n);
    const g = f32View(actual, 0, n);
    for (let i = 0; i < n; i++) {
      // flushing a subnormal a loses |a·x| < |x|·MIN_NORMAL; a subnormal x, |a|·MIN_NORMAL; y or the result, MIN_NORMAL each
      const bound = 2 * F32_EPSILON * (Math.abs(a * x[i]!) + Math.abs(y[i]!)) + (Math.abs(a) + Math.abs(x[i]!) + 2) * F32_MIN_NORMAL;
      if (!f32Agree(e[i]!, g[i]!, bound)) return `saxpy: element ${i} is ${g[i]}, expected ${e[i]} (a=${a}, x=${x[i]}, y=${y[i]})`;
    }
    return null;
  },
  work(input) {
    const n = lengthOf(input);
    return { bytesIn: input.byteLength, bytesOut: 4 * n, ops: 2 * n };
  },
};
