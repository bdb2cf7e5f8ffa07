/**
 * Inputs of a given size for the GPU functions, for calibration and the GPU
 * bench: each format has its own way to grow (saxpy: the vector length;
 * matmul: square matrices; crc32-batch: more 256-byte messages). Contents are
 * seeded pseudo-random, so runs compare. A GPU function without a sample here
 * is listed as not measured (calibrate and bench say so) rather than guessed.
 */

/** Builds a valid input of about `bytes` bytes (at least the smallest the format allows). */
export type SampleInput = (bytes: number, seed?: number) => Uint8Array;

/** xorshift32: a few million pseudo-random words per ms, seeded. */
function fill(view: Uint32Array, seed: number): void {
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < view.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    view[i] = x;
  }
}

/** f32 values in [-1, 1) (finite, normal or zero), from pseudo-random words. */
function fillF32(f: Float32Array, seed: number): void {
  const w = new Uint32Array(f.length);
  fill(w, seed);
  for (let i = 0; i < f.length; i++) f[i] = w[i]! / 2 ** 31 - 1;
}

const SAMPLES: Readonly<Record<string, SampleInput>> = {
  saxpy(bytes, seed = 1) {
    const n = Math.max(0, Math.floor((bytes - 4) / 8));
    const f = new Float32Array(1 + 2 * n);
    fillF32(f, seed);
    return new Uint8Array(f.buffer);
  },
  matmul(bytes, seed = 1) {
    const d = Math.max(1, Math.floor(Math.sqrt(Math.max(0, bytes - 12) / 8)));
    const out = new Uint8Array(12 + 8 * d * d);
    const dv = new DataView(out.buffer);
    for (const at of [0, 4, 8]) dv.setUint32(at, d, true);
    fillF32(new Float32Array(out.buffer, 12, 2 * d * d), seed);
    return out;
  },
  'crc32-batch'(bytes, seed = 1) {
    const MESSAGE = 256;
    const count = Math.max(1, Math.floor((bytes - 4) / (4 + MESSAGE)));
    const out = new Uint8Array(4 + 4 * count + count * MESSAGE);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, count, true);
    for (let i = 0; i < count; i++) dv.setUint32(4 + 4 * i, MESSAGE, true);
    fill(new Uint32Array(out.buffer, 4 + 4 * count, (count * MESSAGE) / 4), seed);
    return out;
  },
};

/** The sample-input builder of GPU function `name`, or undefined when there is none. */
export function sampleInput(name: string): SampleInput | undefined {
  return Object.hasOwn(SAMPLES, name) ? SAMPLES[name] : undefined;
}
