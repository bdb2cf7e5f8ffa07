/**
 * Driver registry: vFunD's configuration names drivers; the service (in its
 * worker) builds them here by name. `sim-fpga:<kernel>` wraps a software
 * kernel in the simulated device.
 */
import { ValidationError } from '../errors.js';
import { SimulatedDeviceDriver } from '../../simulator/device-driver.js';
import type { FunctionDriver } from './driver.js';
import { Crc32Driver, FactorialDriver, FibonacciDriver, Sha256Driver } from './software.js';

const SOFTWARE: Readonly<Record<string, () => FunctionDriver>> = {
  factorial: () => new FactorialDriver(),
  fibonacci: () => new FibonacciDriver(),
  crc32: () => new Crc32Driver(),
  sha256: () => new Sha256Driver(),
};

const SIM_PREFIX = 'sim-fpga:';

/** Every driver name `createDriver` accepts. */
export function driverNames(): string[] {
  const sw = Object.keys(SOFTWARE);
  return [...sw, ...sw.map((k) => SIM_PREFIX + k)];
}

export function hasDriver(name: string): boolean {
  return driverNames().includes(name);
}

export function createDriver(name: string): FunctionDriver {
  const kernelName = name.startsWith(SIM_PREFIX) ? name.slice(SIM_PREFIX.length) : name;
  const make = Object.hasOwn(SOFTWARE, kernelName) ? SOFTWARE[kernelName] : undefined;
  if (!make) {
    throw new ValidationError('driver', `unknown driver '${name}'; known: ${driverNames().join(', ')}`);
  }
  return name.startsWith(SIM_PREFIX) ? new SimulatedDeviceDriver(make()) : make();
}
