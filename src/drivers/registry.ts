/**
 * Driver registry: vFunD's configuration names drivers; the service (in its
 * worker) builds them here by name. `sim-fpga:<kernel>` wraps a software
 * kernel in the simulated device.
 */
import { ValidationError } from '../errors.js';
import { SimulatedDeviceDriver } from '../../simulator/device-driver.js';
import { SimulatedFpgaDriver, createRealtimeDevice } from '../../simulator/hw-driver.js';
import { loadProfileSync, functionProfile } from '../../simulator/profile.js';
import type { FunctionDriver } from './driver.js';
import { Crc32Driver, FactorialDriver, FibonacciDriver, Sha256Driver } from './software.js';

const SOFTWARE: Readonly<Record<string, () => FunctionDriver>> = {
  factorial: () => new FactorialDriver(),
  fibonacci: () => new FibonacciDriver(),
  crc32: () => new Crc32Driver(),
  sha256: () => new Sha256Driver(),
};

const SIM_PREFIX = 'sim-fpga:';
/** `sim:<profile>:<fn>`: the function `fn` of a simulated device following `profile` (simulator/profiles). */
const DEVICE_PREFIX = 'sim:';

/** The profile and function of a `sim:<profile>:<fn>` driver name, or null for any other name. */
export function deviceDriverParts(name: string): { profile: string; fn: string } | null {
  if (!name.startsWith(DEVICE_PREFIX)) return null;
  const rest = name.slice(DEVICE_PREFIX.length);
  const colon = rest.lastIndexOf(':');
  if (colon <= 0) return null;
  return { profile: rest.slice(0, colon), fn: rest.slice(colon + 1) };
}

/** The driver name of function `fn` on a simulated device with `profile`. */
export function deviceDriverName(profile: string, fn: string): string {
  return `${DEVICE_PREFIX}${profile}:${fn}`;
}

/** Every driver name `createDriver` accepts. */
export function driverNames(): string[] {
  const sw = Object.keys(SOFTWARE);
  return [...sw, ...sw.map((k) => SIM_PREFIX + k)];
}

export function hasDriver(name: string): boolean {
  const dev = deviceDriverParts(name);
  if (dev) {
    try {
      return functionProfile(loadProfileSync(dev.profile), dev.fn) !== undefined;
    } catch {
      return false;
    }
  }
  return driverNames().includes(name);
}

export function createDriver(name: string): FunctionDriver {
  const dev = deviceDriverParts(name);
  // Each service builds its own device model from the profile; vFunD's accounting of the device's
  // slots (shared by all functions on it) decides how many instances may hold one at once.
  if (dev) return new SimulatedFpgaDriver(createRealtimeDevice(dev.profile), dev.fn);
  const kernelName = name.startsWith(SIM_PREFIX) ? name.slice(SIM_PREFIX.length) : name;
  const make = Object.hasOwn(SOFTWARE, kernelName) ? SOFTWARE[kernelName] : undefined;
  if (!make) {
    throw new ValidationError('driver', `unknown driver '${name}'; known: ${driverNames().join(', ')}`);
  }
  return name.startsWith(SIM_PREFIX) ? new SimulatedDeviceDriver(make()) : make();
}
