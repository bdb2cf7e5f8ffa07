/**
 * The high-level driver of the paper (§3.3): init / call / exit, plus
 * metadata. Low-level vendor code sits below a driver and is not our concern.
 *
 * `call` works on caller-owned buffers so the call path allocates nothing:
 * it reads `input` (a view of the request payload) and writes at most
 * `output.byteLength` bytes into `output`, returning how many it wrote.
 */
import type { DriverActivation, DriverNotice, Kind } from '../domain/types.js';
import { VirtFunError } from '../errors.js';

/** What a driver says of itself: its name, kind, version, and the sizes it accepts and returns (journaled at start for a driver module's drivers). */
export interface DriverMeta {
  /** Registry name, e.g. `factorial`. */
  readonly name: string;
  readonly kind: Kind;
  readonly version: string;
  readonly description: string;
  /** Accepted input sizes in bytes (inclusive). */
  readonly input: { readonly minBytes: number; readonly maxBytes: number };
  /** Largest result the driver can write, in bytes (`Infinity` = as large as the input allows). */
  readonly maxOutputBytes: number;
}

/** What the service tells a driver at init. */
export interface DriverContext {
  /** The region's payload capacity in bytes: no input and no result is larger (a device driver sizes its buffers by it). */
  readonly capacity: number;
}

/** The driver of one instance: init, call, reset (`rst`), exit, and its metadata (docs/drivers.md, docs/writing-a-driver.md). */
export interface FunctionDriver {
  readonly meta: DriverMeta;
  /** device_driver_init: make the function ready (the service passes its region's capacity). */
  init(context?: DriverContext): void | Promise<void>;
  /** driver_function: compute. Throws DriverInputError for arguments it refuses. */
  call(input: Uint8Array, output: Uint8Array): number | Promise<number>;
  /** rst: clear any state the function keeps between calls. */
  reset(): void | Promise<void>;
  /** device_driver_exit: free what init took. */
  exit(): void | Promise<void>;
  /** After init: what making the function ready took (the device, its adapter, the time), journaled in activation.acked. */
  activation?(): DriverActivation | undefined;
  /** Be told of what vFunD must journal (a failover to the software twin, a cross-check mismatch); never per call. */
  onNotice?(listener: (notice: DriverNotice) => void): void;
  /**
   * Per-call tracing without clock reads of the driver's own: after each answer to a SET, once it
   * is published (off the client's path), the service passes the two `performance.now()` readings
   * it takes anyway: when it saw the request, and just after it published the answer. A driver
   * that records traces implements it (the paper's drivers, `bench paper --trace`).
   */
  traced?(seenMs: number, answeredMs: number): void;
}

const INPUT_ERROR: unique symbol = Symbol.for('virtfun.driver-input-error');

/**
 * The driver refused its arguments: the service answers BAD_INPUT, not DRIVER_FAULT. Recognised by
 * `instanceof` across copies of this library (a driver module may import another copy than the service's).
 */
export class DriverInputError extends VirtFunError {
  override readonly name = 'DriverInputError';
  readonly [INPUT_ERROR] = true;
  /** Whether `x` is a DriverInputError of any copy of the library (a registered symbol marks it). */
  static override [Symbol.hasInstance](x: unknown): boolean {
    return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[INPUT_ERROR] === true;
  }
  constructor(message: string) {
    super('DRIVER', message);
  }
}

/** Check an input length against a driver's metadata; throws DriverInputError naming the limit. */
export function checkInputSize(meta: DriverMeta, input: Uint8Array): void {
  const n = input.byteLength;
  if (n < meta.input.minBytes || n > meta.input.maxBytes) {
    const range =
      meta.input.minBytes === meta.input.maxBytes
        ? `exactly ${meta.input.minBytes}`
        : `${meta.input.minBytes}..${meta.input.maxBytes}`;
    throw new DriverInputError(`${meta.name}: input is ${n} bytes, expected ${range}`);
  }
}
