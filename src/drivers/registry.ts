/**
 * Driver registry: vFunD's configuration names drivers; the service (in its
 * worker) builds them here by name. The software drivers are built in;
 * other drivers come in families registered with `registerDriverFamily`
 * (the simulated devices' `sim-fpga:<kernel>` and `sim:<profile>:<fn>`:
 * simulator/drivers.ts), so this module depends on no implementation of
 * hardware.
 */
import { ValidationError } from '../errors.js';
import type { FunctionDriver } from './driver.js';
import { Crc32Driver, FactorialDriver, FibonacciDriver, Sha256Driver } from './software.js';
import { KERNEL_TWINS } from './twins/index.js';
import { TwinDriver } from './twins/twin.js';

const SOFTWARE: Readonly<Record<string, () => FunctionDriver>> = {
  factorial: () => new FactorialDriver(),
  fibonacci: () => new FibonacciDriver(),
  crc32: () => new Crc32Driver(),
  sha256: () => new Sha256Driver(),
  // The software twins of the GPU functions (saxpy, matmul, crc32-batch): same formats, on the CPU.
  ...Object.fromEntries(Object.entries(KERNEL_TWINS).map(([name, twin]) => [name, () => new TwinDriver(twin)])),
};

/** Drivers named by a pattern of their own, built outside this module (e.g. a device's functions). */
export interface DriverFamily {
  /** The names the family always offers, listed by `driverNames()`. */
  names(): readonly string[];
  /** Whether `name` is a driver of the family that can be built (it may accept names beyond `names()`). */
  has(name: string): boolean;
  /** Build the driver `name`; undefined when the name is not of the family (it may throw for one that is but cannot be built). */
  create(name: string): FunctionDriver | undefined;
}

const families = new Set<DriverFamily>();

/**
 * Add a family of drivers to the registry; registering the same family again
 * does nothing. Returns the undo: it removes the family if this call added it.
 */
export function registerDriverFamily(family: DriverFamily): () => void {
  if (families.has(family)) return () => undefined;
  families.add(family);
  return () => {
    families.delete(family);
  };
}

/** Names of the built-in software drivers. */
export function softwareDriverNames(): string[] {
  return Object.keys(SOFTWARE);
}

/** A new built-in software driver, or undefined when `name` is not one. */
export function createSoftwareDriver(name: string): FunctionDriver | undefined {
  const make = Object.hasOwn(SOFTWARE, name) ? SOFTWARE[name] : undefined;
  return make?.();
}

/** Every driver name `createDriver` accepts: the software drivers, then each registered family's. */
export function driverNames(): string[] {
  return [...softwareDriverNames(), ...[...families].flatMap((f) => f.names())];
}

/** Whether `createDriver(name)` builds a driver. */
export function hasDriver(name: string): boolean {
  if (Object.hasOwn(SOFTWARE, name)) return true;
  for (const f of families) if (f.has(name)) return true;
  return false;
}

/** Build the driver `name`; throws ValidationError listing the known names when there is none. */
export function createDriver(name: string): FunctionDriver {
  const sw = createSoftwareDriver(name);
  if (sw !== undefined) return sw;
  for (const f of families) {
    const d = f.create(name);
    if (d !== undefined) return d;
  }
  throw new ValidationError('driver', `unknown driver '${name}'; known: ${driverNames().join(', ')}`);
}
