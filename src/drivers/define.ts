/**
 * Drivers of one's own: `defineDriver` turns a plain description of a
 * function (its name, metadata and `call`, or a `create` for a driver with
 * state) into a DriverDefinition that a driver module exports and vFunD's
 * services build by name (docs/writing-a-driver.md).
 *
 * The description is checked at once, naming the field and the limit, so a
 * mistake in a driver module is an error when the module loads, never on
 * the first call. A driver built from a `call` checks each input's size
 * against `input` before the call, as the built-in drivers do.
 */
import type { Kind } from '../domain/types.js';
import { ValidationError } from '../errors.js';
import { MAX_CAPACITY } from '../dataplane/layout.js';
import { checkName } from '../util/names.js';
import { checkInputSize, type DriverContext, type DriverMeta, type FunctionDriver } from './driver.js';

/** What `defineDriver` is given: a driver's metadata, and either `call` (with optional hooks) or `create`. */
export interface DriverSpec {
  /** The name a configuration gives as `driver` (letters, digits, '-', '_'; at most 63 characters). */
  readonly name: string;
  /** The kind of vFunction it serves (default `sw`: software run by the host's CPU). */
  readonly kind?: Kind;
  /** The driver's own version, journaled with its metadata (semver recommended). */
  readonly version: string;
  /** One line saying what it computes. */
  readonly description: string;
  /** Accepted input sizes in bytes, inclusive (checked before each call). */
  readonly input: { readonly minBytes: number; readonly maxBytes: number };
  /** Largest result in bytes. */
  readonly maxOutputBytes: number;
  /** Compute: read `input`, write at most `output.byteLength` bytes into `output`, return how many. Throw DriverInputError to refuse the input. */
  readonly call?: (input: Uint8Array, output: Uint8Array) => number | Promise<number>;
  /** With `call`: make the function ready (the region's capacity is given). */
  readonly init?: (context: DriverContext) => void | Promise<void>;
  /** With `call`: clear state kept between calls (the guest's `rst`). */
  readonly reset?: () => void | Promise<void>;
  /** With `call`: free what init took. */
  readonly exit?: () => void | Promise<void>;
  /** Instead of `call`: build a fresh driver for each instance (a driver with state of its own). */
  readonly create?: () => FunctionDriver | Promise<FunctionDriver>;
}

const BRAND: unique symbol = Symbol.for('virtfun.driver-definition');

/** A driver a module exports: its metadata and how to build one instance of it. */
export interface DriverDefinition {
  readonly [BRAND]: true;
  readonly meta: DriverMeta;
  /** A new driver for one instance (one per service). */
  create(): Promise<FunctionDriver>;
}

/** Whether `x` is a DriverDefinition (made by `defineDriver` of any copy of this library). */
export function isDriverDefinition(x: unknown): x is DriverDefinition {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[BRAND] === true;
}

const field = (name: string, f: string): string => `driver '${name}': ${f}`;

function checkSize(at: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ValidationError(at, `must be a whole number of bytes from ${min} to ${max} (got ${String(v)})`);
  }
  return v;
}

/**
 * Describe a driver; throws ValidationError naming the field and the limit.
 * Give `call` for a function without state between instances, or `create`.
 */
export function defineDriver(spec: DriverSpec): DriverDefinition {
  if (typeof spec !== 'object' || spec === null) throw new ValidationError('driver', 'defineDriver takes an object');
  const nameProblem = checkName('name', spec.name);
  if (nameProblem !== null) throw new ValidationError('driver.name', nameProblem);
  const name = spec.name;
  const kind = spec.kind ?? 'sw';
  if (kind !== 'sw' && kind !== 'hw') throw new ValidationError(field(name, 'kind'), `must be 'sw' or 'hw' (got ${String(kind)})`);
  for (const k of ['version', 'description'] as const) {
    const v = spec[k];
    if (typeof v !== 'string' || v.length === 0 || v.length > 200) throw new ValidationError(field(name, k), 'must be a string of 1 to 200 characters');
  }
  const minBytes = checkSize(field(name, 'input.minBytes'), spec.input?.minBytes, 0, MAX_CAPACITY);
  const maxBytes = checkSize(field(name, 'input.maxBytes'), spec.input?.maxBytes, minBytes, MAX_CAPACITY);
  const maxOutputBytes = checkSize(field(name, 'maxOutputBytes'), spec.maxOutputBytes, 0, MAX_CAPACITY);
  if ((spec.call === undefined) === (spec.create === undefined)) throw new ValidationError(field(name, 'call'), 'give call (a function) or create (a factory), exactly one');
  for (const k of ['call', 'init', 'reset', 'exit', 'create'] as const) {
    if (spec[k] !== undefined && typeof spec[k] !== 'function') throw new ValidationError(field(name, k), 'must be a function');
  }
  if (spec.create !== undefined) {
    for (const k of ['init', 'reset', 'exit'] as const) {
      if (spec[k] !== undefined) throw new ValidationError(field(name, k), 'only with call: a driver from create has its own');
    }
  }
  const meta: DriverMeta = Object.freeze({
    name,
    kind,
    version: spec.version,
    description: spec.description,
    input: Object.freeze({ minBytes, maxBytes }),
    maxOutputBytes,
  });
  const create = async (): Promise<FunctionDriver> => {
    if (spec.create !== undefined) {
      const d = await spec.create();
      if (typeof d?.call !== 'function') throw new ValidationError(field(name, 'create'), 'must return a driver (an object with call, init, reset and exit)');
      return d;
    }
    return new DefinedDriver(meta, spec);
  };
  return Object.freeze({ [BRAND]: true as const, meta, create });
}

/** The driver of a spec with `call`: input sizes checked, hooks optional. */
class DefinedDriver implements FunctionDriver {
  constructor(
    readonly meta: DriverMeta,
    private readonly spec: DriverSpec,
  ) {}
  init(context?: DriverContext): void | Promise<void> {
    return this.spec.init?.(context ?? { capacity: this.meta.input.maxBytes });
  }
  call(input: Uint8Array, output: Uint8Array): number | Promise<number> {
    checkInputSize(this.meta, input);
    return this.spec.call!(input, output);
  }
  reset(): void | Promise<void> {
    return this.spec.reset?.();
  }
  exit(): void | Promise<void> {
    return this.spec.exit?.();
  }
}
