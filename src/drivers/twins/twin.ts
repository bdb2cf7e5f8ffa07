/**
 * A kernel's software twin: the input and output format of a function that
 * also runs on an accelerator (src/gpu/kernels), computed on the CPU. The
 * twin is the reference: a GPU result is checked against it (`compare`), a
 * guest falls back to it, and a lost device fails over to it.
 *
 * Everything here is pure: no I/O, no clock. Formats are little-endian and
 * documented in docs/gpu.md.
 */
import { checkInputSize, DriverInputError, type DriverMeta, type FunctionDriver } from '../driver.js';

/** What one call asks of the device, for the simulator's transfer and throughput model. */
export interface KernelWork {
  /** Bytes moved to the device (the input). */
  readonly bytesIn: number;
  /** Bytes moved back (the output). */
  readonly bytesOut: number;
  /** Arithmetic or byte operations the kernel performs (2·M·K·N for matmul, 2·n for saxpy, message bytes for CRC32). */
  readonly ops: number;
}

export interface KernelTwin {
  /** Function name, e.g. `matmul`; the software driver has this name. */
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly input: DriverMeta['input'];
  readonly maxOutputBytes: number;
  /**
   * Check `input` against the format and return the output size in bytes. Throws
   * DriverInputError naming the field and the limit (a guest's bad input becomes BAD_INPUT).
   */
  outputBytes(input: Uint8Array): number;
  /** Compute on the CPU into `output` (at least outputBytes(input) long); returns the bytes written. */
  compute(input: Uint8Array, output: Uint8Array): number;
  /**
   * null when `actual` is an acceptable result for `input`, given the twin's `expected`; otherwise
   * what differs (the first element and both values). Integer kernels compare exactly; f32 kernels
   * within the rounding the kernel's arithmetic allows.
   */
  compare(input: Uint8Array, expected: Uint8Array, actual: Uint8Array): string | null;
  /** What one call with `input` asks of a device. Input must be valid. */
  work(input: Uint8Array): KernelWork;
}

/** The software driver of a twin (kind `sw`). */
export class TwinDriver implements FunctionDriver {
  readonly meta: DriverMeta;
  constructor(readonly twin: KernelTwin) {
    this.meta = { name: twin.name, kind: 'sw', version: twin.version, description: twin.description, input: twin.input, maxOutputBytes: twin.maxOutputBytes };
  }
  init(): void {}
  call(input: Uint8Array, output: Uint8Array): number {
    checkInputSize(this.meta, input);
    const n = this.twin.outputBytes(input);
    if (n > output.byteLength) throw new DriverInputError(`${this.twin.name}: the result is ${n} bytes, the region holds ${output.byteLength}`);
    return this.twin.compute(input, output);
  }
  reset(): void {}
  exit(): void {}
}

/** A view of `bytes` as little-endian words, without copying when aligned. */
export function f32View(bytes: Uint8Array, byteOffset: number, count: number): Float32Array {
  const at = bytes.byteOffset + byteOffset;
  if (at % 4 === 0) return new Float32Array(bytes.buffer, at, count);
  return new Float32Array(bytes.slice(byteOffset, byteOffset + count * 4).buffer);
}

/** The smallest normal f32: a GPU may flush subnormal inputs and results to zero (WGSL allows it). */
export const F32_MIN_NORMAL = 2 ** -126;
/** The f32 unit roundoff (half an ULP at 1). */
export const F32_EPSILON = 2 ** -24;

/** The ULP distance between two f32 values (any two NaNs are 0 apart; a NaN and a number are Infinity apart). */
export function ulpDistance(a: number, b: number): number {
  if (Number.isNaN(a) && Number.isNaN(b)) return 0;
  if (Number.isNaN(a) || Number.isNaN(b)) return Infinity;
  const u = new Uint32Array(new Float32Array([a, b]).buffer);
  const ordered = (x: number) => (x & 0x80000000 ? 0x80000000 - (x & 0x7fffffff) : 0x80000000 + x);
  return Math.abs(ordered(u[0]!) - ordered(u[1]!));
}

/**
 * Whether two f32 results agree within `bound` (an absolute error bound computed from the
 * operands); non-finite results must match exactly unless the bound itself is not finite.
 */
export function f32Agree(expected: number, actual: number, bound: number): boolean {
  if (Object.is(expected, actual) || expected === actual) return true;
  if (!Number.isFinite(bound)) return !Number.isFinite(expected) && !Number.isFinite(actual); // operands beyond f32: both overflow or NaN
  if (!Number.isFinite(expected) || !Number.isFinite(actual)) return false;
  return Math.abs(expected - actual) <= bound;
}
