/**
 * Inputs of the GPU functions' formats (docs/drivers.md), and fast-check
 * arbitraries over their sizes and contents, for the twins' unit tests and
 * the kernels' tests on a real adapter.
 */
import { fc } from '@fast-check/vitest';

/** saxpy input: a, x[n], y[n]. */
export function saxpyInput(a: number, x: Float32Array, y: Float32Array): Uint8Array {
  const f = new Float32Array(1 + 2 * x.length);
  f[0] = a;
  f.set(x, 1);
  f.set(y, 1 + x.length);
  return new Uint8Array(f.buffer);
}

/** matmul input: M, K, N, A (M×K), B (K×N). */
export function matmulInput(m: number, k: number, n: number, a: Float32Array, b: Float32Array): Uint8Array {
  const bytes = new Uint8Array(12 + 4 * (m * k + k * n));
  const dv = new DataView(bytes.buffer);
  dv.setUint32(0, m, true);
  dv.setUint32(4, k, true);
  dv.setUint32(8, n, true);
  new Float32Array(bytes.buffer, 12, m * k).set(a);
  new Float32Array(bytes.buffer, 12 + 4 * m * k, k * n).set(b);
  return bytes;
}

/** crc32-batch input: count, lengths, the messages. */
export function crc32BatchInput(messages: readonly Uint8Array[]): Uint8Array {
  const total = messages.reduce((s, m) => s + m.byteLength, 0);
  const bytes = new Uint8Array(4 + 4 * messages.length + total);
  const dv = new DataView(bytes.buffer);
  dv.setUint32(0, messages.length, true);
  let at = 4 + 4 * messages.length;
  messages.forEach((m, i) => {
    dv.setUint32(4 + 4 * i, m.byteLength, true);
    bytes.set(m, at);
    at += m.byteLength;
  });
  return bytes;
}

/** A copy of `bytes` in shared memory at byte `offset`, as the service hands a payload to a driver. */
export function sharedCopy(bytes: Uint8Array, offset = 0): Uint8Array {
  const view = new Uint8Array(new SharedArrayBuffer(offset + bytes.byteLength + 8), offset, bytes.byteLength);
  view.set(bytes);
  return view;
}

/** f32 operands in a range where no result overflows, with zeros, -0 and subnormals among them. */
export const f32Operand = (max: number) => fc.float({ min: Math.fround(-max), max: Math.fround(max), noNaN: true });

/** Sizes around the edges: 0, 1, odd, one past a workgroup or tile. */
const edgy = (sizes: number[], max: number) => fc.oneof(fc.constantFrom(...sizes), fc.integer({ min: 0, max }));

export const saxpyArb = (maxN: number, maxValue = 1e6) =>
  edgy([0, 1, 3, 255, 256, 257], maxN).chain((n) =>
    fc.tuple(f32Operand(maxValue), fc.float32Array({ minLength: n, maxLength: n, noNaN: true, min: -maxValue, max: maxValue }), fc.float32Array({ minLength: n, maxLength: n, noNaN: true, min: -maxValue, max: maxValue })),
  );

export const matmulArb = (maxDim: number, maxValue = 1e3) =>
  fc.tuple(edgy([0, 1, 3, 15, 16, 17], maxDim), edgy([0, 1, 3, 15, 16, 17], maxDim), edgy([0, 1, 3, 15, 16, 17], maxDim)).chain(([m, k, n]) =>
    fc.tuple(
      fc.constant(m),
      fc.constant(k),
      fc.constant(n),
      fc.float32Array({ minLength: m * k, maxLength: m * k, noNaN: true, min: -maxValue, max: maxValue }),
      fc.float32Array({ minLength: k * n, maxLength: k * n, noNaN: true, min: -maxValue, max: maxValue }),
    ),
  );

/** Messages of any length (0 and odd ones among them), so they start at any offset. */
export const messagesArb = (maxCount: number, maxLength: number) => fc.array(fc.uint8Array({ maxLength }), { maxLength: maxCount });
