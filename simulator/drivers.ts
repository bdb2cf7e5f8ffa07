/**
 * The simulated devices' drivers, as a family of the driver registry
 * (src/drivers/registry.ts), which knows nothing of the simulator:
 *
 * - `sim-fpga:<kernel>`: a software kernel behind the minimal simulated
 *   device of device-driver.ts (a fixed launch latency and transfer cost);
 * - `sim:<profile>:<fn>`: the function `fn` of a simulated device following
 *   `profile` (simulator/profiles), on one of its slots (hw-driver.ts).
 *
 * Whoever builds drivers by name registers the family once:
 * `registerDriverFamily(simulatorDrivers)`.
 */
import { createSoftwareDriver, softwareDriverNames, type DriverFamily } from '../src/drivers/registry.js';
import type { FunctionDriver } from '../src/drivers/driver.js';
import { SimulatedDeviceDriver } from './device-driver.js';
import { SimulatedFpgaDriver, createRealtimeDevice } from './hw-driver.js';
import { functionProfile, loadProfileSync } from './profile.js';

const SIM_PREFIX = 'sim-fpga:';
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

/** `sim-fpga:<kernel>` and `sim:<profile>:<fn>` drivers. */
export const simulatorDrivers: DriverFamily = {
  names: () => softwareDriverNames().map((k) => SIM_PREFIX + k),
  has(name: string): boolean {
    const dev = deviceDriverParts(name);
    if (dev) {
      try {
        return functionProfile(loadProfileSync(dev.profile), dev.fn) !== undefined;
      } catch {
        return false;
      }
    }
    return name.startsWith(SIM_PREFIX) && softwareDriverNames().includes(name.slice(SIM_PREFIX.length));
  },
  create(name: string): FunctionDriver | undefined {
    const dev = deviceDriverParts(name);
    // Each service builds its own device model from the profile; vFunD's accounting of the device's
    // slots (shared by all functions on it) decides how many instances may hold one at once.
    if (dev) return new SimulatedFpgaDriver(createRealtimeDevice(dev.profile), dev.fn);
    if (!name.startsWith(SIM_PREFIX)) return undefined;
    const kernel = createSoftwareDriver(name.slice(SIM_PREFIX.length));
    return kernel === undefined ? undefined : new SimulatedDeviceDriver(kernel);
  },
};
