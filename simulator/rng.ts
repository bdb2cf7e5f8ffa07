/**
 * A small seeded PRNG for the simulator's jitter and fault draws:
 * xoshiro128** (Blackman & Vigna), seeded through splitmix32. Core logic never
 * reads Math.random; the same seed gives the same sequence on every run.
 *
 * Independent streams (`seed`, `stream`) let the device draw jitter and faults
 * from separate sequences, so injecting a fault does not shift the jitter of
 * later calls.
 */

export interface Rng {
  /** Uniform 32-bit unsigned integer. */
  nextU32(): number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal N(0, 1) (Box–Muller; always consumes two draws). */
  normal(): number;
}

function splitmix32(state: number): () => number {
  let a = state | 0;
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let t = a ^ (a >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    t ^= t >>> 15;
    return t >>> 0;
  };
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

export class Xoshiro128 implements Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** `seed`: any finite number (its integer part, up to 2^53, is used); `stream`: an independent sequence. */
  constructor(seed: number, stream = 0) {
    if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
    const s = Math.trunc(Math.abs(seed));
    const lo = s >>> 0;
    const hi = Math.floor(s / 0x1_0000_0000) >>> 0;
    const mix = splitmix32(lo ^ Math.imul(hi, 0x85ebca6b) ^ Math.imul(stream + 1, 0xc2b2ae35) ^ (seed < 0 ? 0x5bd1e995 : 0));
    this.s0 = mix();
    this.s1 = mix();
    this.s2 = mix();
    this.s3 = mix();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  next(): number {
    return this.nextU32() / 0x1_0000_0000;
  }

  normal(): number {
    const u1 = (this.nextU32() + 1) / 0x1_0000_0001; // (0, 1): log is finite
    const u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
}

/** A seeded generator; `stream` selects an independent sequence for the same seed. */
export function createRng(seed: number, stream = 0): Rng {
  return new Xoshiro128(seed, stream);
}
