/**
 * matmul: C = A·B over f32 matrices, the compute-bound kernel (2·M·K·N
 * flops over 4·(M·K + K·N) bytes in).
 *
 * Input:  M, K, N (u32 LE each), then A (M×K f32, row-major), then B (K×N f32,
 *         row-major): exactly 12 + 4·(M·K + K·N) bytes. Zero dimensions are
 *         allowed (the result is empty, or zeros when K = 0).
 * Output: C (M×N f32, row-major): 4·M·N bytes.
 *
 * The twin sums each c_ij in k order, rounding the product and then the sum
 * to f32 at every step. A GPU sums in the same order but may fuse each
 * multiply-add (one rounding) or flush subnormals, so `compare` accepts
 * 2·K·ε·Σ_k|a_ik·b_kj| plus the subnormal range (the two results are each
 * within K·ε·Σ|a·b| of the exact sum).
 */
import { DriverInputError } from '../driver.js';
import { f32Agree, f32View, F32_EPSILON, F32_MIN_NORMAL, type KernelTwin } from './twin.js';

/** Largest M, K or N. */
export const MATMUL_MAX_DIM = 4096;
/** Largest input: 64 MiB (A and B together), well under a storage binding's guaranteed 128 MiB. */
export const MATMUL_MAX_INPUT = 64 << 20;
/** Size of the header M, K, N. */
export const MATMUL_HEADER = 12;
/** The largest f32. */
const F32_MAX = 3.4028234663852886e38;

/** The dimensions of a matmul call. */
export interface MatmulShape {
  readonly m: number;
  readonly k: number;
  readonly n: number;
}

/** The input size of a matmul call of `shape`: 12 + 4·(M·K + K·N). */
export function matmulInputBytes({ m, k, n }: MatmulShape): number {
  return MATMUL_HEADER + 4 * (m * k + k * n);
}

/** Check `input` against the format; its shape. Throws DriverInputError naming the field and the limit. */
export function matmulShape(input: Uint8Array): MatmulShape {
  const len = input.byteLength;
  if (len < MATMUL_HEADER) throw new DriverInputError(`matmul: input is ${len} bytes, at least ${MATMUL_HEADER} (the header M, K, N as u32)`);
  const dv = new DataView(input.buffer, input.byteOffset, MATMUL_HEADER);
  const shape = { m: dv.getUint32(0, true), k: dv.getUint32(4, true), n: dv.getUint32(8, true) };
  for (const dim of ['m', 'k', 'n'] as const) {
    if (shape[dim] > MATMUL_MAX_DIM) throw new DriverInputError(`matmul: ${dim.toUpperCase()} is ${shape[dim]}, the limit is ${MATMUL_MAX_DIM}`);
  }
  const expected = matmulInputBytes(shape);
  const dims = `M=${shape.m}, K=${shape.k}, N=${shape.n}`;
  if (expected > MATMUL_MAX_INPUT) throw new DriverInputError(`matmul: A and B of ${dims} take ${expected} bytes of input, the limit is ${MATMUL_MAX_INPUT}`);
  if (len !== expected) throw new DriverInputError(`matmul: input is ${len} bytes, expected 12 + 4·(M·K + K·N) = ${expected} for ${dims}`);
  return shape;
}

/** The error bound of element (i, j) and whether its operands reach the f32 range (the result may overflow in one order of rounding and not the other). */
function elementBound(a: Float32Array, b: Float32Array, { k, n }: MatmulShape, i: number, j: number): { bound: number; overflow: boolean } {
  let sum = 0; // Σ|a_ik·b_kj|, in f64 (exact enough: it only scales the bound)
  let mags = 0; // Σ(|a_ik| + |b_kj|): what flushing a subnormal operand may lose, in units of the smallest normal
  for (let p = 0; p < k; p++) {
    const x = a[i * k + p]!;
    const y = b[p * n + j]!;
    sum += Math.abs(x * y);
    mags += Math.abs(x) + Math.abs(y);
  }
  const rel = 2 * k * F32_EPSILON * (1 + k * F32_EPSILON);
  const bound = rel * sum + (mags + 2 * k + 1) * F32_MIN_NORMAL;
  return { bound, overflow: !(sum * (1 + rel) < F32_MAX) || !Number.isFinite(mags) };
}

export const matmul: KernelTwin = {
  name: 'matmul',
  version: '1',
  description: 'C = A·B over f32 matrices: input M, K, N (u32), A (M×K), B (K×N) row-major; output C (M×N)',
  input: { minBytes: MATMUL_HEADER, maxBytes: MATMUL_MAX_INPUT },
  maxOutputBytes: 4 * MATMUL_MAX_DIM * MATMUL_MAX_DIM,
  outputBytes(input) {
    const { m, n } = matmulShape(input);
    return 4 * m * n;
  },
  compute(input, output) {
    const shape = matmulShape(input);
    const { m, k, n } = shape;
    const a = f32View(input, MATMUL_HEADER, m * k);
    const b = f32View(input, MATMUL_HEADER + 4 * m * k, k * n);
    const dv = new DataView(output.buffer, output.byteOffset, 4 * m * n);
    // Row by row, k outermost within a row (B read along its rows): each c_ij still sums in k
    // order, and storing into a Float32Array rounds the sum to f32 at every step.
    const acc = new Float32Array(n);
    for (let i = 0; i < m; i++) {
      acc.fill(0);
      for (let p = 0; p < k; p++) {
        const x = a[i * k + p]!;
        const row = p * n;
        for (let j = 0; j < n; j++) acc[j] = acc[j]! + Math.fround(x * b[row + j]!);
      }
      for (let j = 0; j < n; j++) dv.setFloat32(4 * (i * n + j), acc[j]!, true);
    }
    return 4 * m * n;
  },
  compare(input, expected, actual) {
    const shape = matmulShape(input);
    const { m, k, n } = shape;
    if (actual.byteLength !== 4 * m * n) return `matmul: result is ${actual.byteLength} bytes, expected ${4 * m * n}`;
    const a = f32View(input, MATMUL_HEADER, m * k);
    const b = f32View(input, MATMUL_HEADER + 4 * m * k, k * n);
    const e = f32View(expected, 0, m * n);
    const g = f32View(actual, 0, m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const x = e[i * n + j]!;
        const y = g[i * n + j]!;
        if (Object.is(x, y) || x === y) continue;
        const { bound, overflow } = elementBound(a, b, shape, i, j);
        // Where the operands reach the f32 range, a GPU may overflow (or not) in another step than
        // the twin, and WGSL leaves infinities and NaN to the implementation: only two finite
        // results are held to the bound.
        if (overflow && (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isFinite(bound))) continue;
        if (!f32Agree(x, y, bound)) return `matmul: C[${i}][${j}] is ${y}, expected ${x} (within ${bound})`;
      }
    }
    return null;
  },
  work(input) {
    const { m, k, n } = matmulShape(input);
    return { bytesIn: input.byteLength, bytesOut: 4 * m * n, ops: 2 * m * k * n };
  },
};
