/**
 * Exact unsigned 64-bit arithmetic (wrap-around mod 2^64, as C's
 * `unsigned long long`) on pairs of u32, without BigInt on the hot path.
 * A value is held as `hi * 2^32 + lo` with both halves in [0, 2^32).
 */

/** Scratch result of the last operation: [hi, lo]. Reused to avoid allocation. */
export const U64 = new Uint32Array(2);

/** 32 x 32 -> 64 bit product of two u32, into U64. */
function mul32(a: number, b: number): void {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const ll = aLo * bLo; // < 2^32
  const lh = aLo * bHi; // < 2^32
  const hl = aHi * bLo; // < 2^32
  const hh = aHi * bHi; // < 2^32
  // middle = lh + hl + (ll >>> 16) < 3 * 2^32: exact in a double.
  const mid = lh + hl + (ll >>> 16);
  U64[1] = ((mid & 0xffff) << 16) | (ll & 0xffff);
  U64[0] = hh + Math.floor(mid / 0x10000);
}

/** (aHi:aLo) * (bHi:bLo) mod 2^64, into U64. */
export function mulU64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const cross = (Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) >>> 0;
  mul32(aLo >>> 0, bLo >>> 0);
  U64[0] = (U64[0]! + cross) >>> 0;
}

/** (aHi:aLo) + (bHi:bLo) mod 2^64, into U64. */
export function addU64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const lo = aLo + bLo;
  U64[1] = lo >>> 0;
  U64[0] = (aHi + bHi + (lo > 0xffffffff ? 1 : 0)) >>> 0;
}

/** Read the scratch value as a BigInt (for tests and display). */
export function u64ToBigInt(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
