/**
 * The GPU functions' driver names, and their family in the driver registry
 * (src/drivers/registry.ts): `webgpu:<fn>` runs the kernel `fn`
 * (src/gpu/kernels) on this host's WebGPU adapter, and
 * `webgpu:<fn>?crossCheck=<N>` also computes every Nth call on the software
 * twin and compares (driver.ts).
 *
 * Whoever builds drivers by name registers the family once:
 * `registerDriverFamily(webgpuDrivers)`.
 */
import type { DriverFamily } from '../drivers/registry.js';
import type { FunctionDriver } from '../drivers/driver.js';
import { WebGpuDriver } from './driver.js';
import { gpuKernel, gpuKernelNames } from './kernels/index.js';

const PREFIX = 'webgpu:';
/** A function name: lower-case letters, digits and inner dashes (`saxpy`, `crc32-batch`). */
const FN = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
/** A positive integer without a leading zero… */
const COUNT = /^[1-9][0-9]{0,9}$/;
/** …up to this (the configuration's bound). */
export const MAX_CROSS_CHECK = 1_000_000_000;
const isCount = (s: string): boolean => COUNT.test(s) && Number(s) <= MAX_CROSS_CHECK;

export interface WebGpuDriverOptions {
  /** Compare every Nth call with the software twin (1: every call); absent: never. */
  readonly crossCheck?: number;
}

/** The parts of a `webgpu:` driver name. */
export interface WebGpuDriverParts extends WebGpuDriverOptions {
  readonly fn: string;
}

/** The driver name of GPU function `fn`: `webgpu:<fn>`, or `webgpu:<fn>?crossCheck=<N>`. Throws RangeError for what no name can say. */
export function webgpuDriverName(fn: string, options: WebGpuDriverOptions = {}): string {
  if (!FN.test(fn)) throw new RangeError(`'${fn}' is not a function name (lower-case letters, digits, inner dashes)`);
  const n = options.crossCheck;
  if (n === undefined) return PREFIX + fn;
  if (!isCount(String(n))) throw new RangeError(`crossCheck ${n}: a positive integer up to ${MAX_CROSS_CHECK}`);
  return `${PREFIX}${fn}?crossCheck=${n}`;
}

/** The function and options of a `webgpu:` driver name; null for any other name or one that does not parse exactly. */
export function webgpuDriverParts(name: string): WebGpuDriverParts | null {
  if (!name.startsWith(PREFIX)) return null;
  const rest = name.slice(PREFIX.length);
  const q = rest.indexOf('?');
  const fn = q < 0 ? rest : rest.slice(0, q);
  if (!FN.test(fn)) return null;
  if (q < 0) return { fn };
  const m = /^crossCheck=(.*)$/.exec(rest.slice(q + 1));
  if (m === null || !isCount(m[1]!)) return null;
  return { fn, crossCheck: Number(m[1]) };
}

/** `webgpu:<fn>[?crossCheck=N]` drivers, for the kernels of src/gpu/kernels. */
export const webgpuDrivers: DriverFamily = {
  names: () => gpuKernelNames().map((fn) => PREFIX + fn),
  has(name: string): boolean {
    const parts = webgpuDriverParts(name);
    return parts !== null && gpuKernel(parts.fn) !== undefined;
  },
  create(name: string): FunctionDriver | undefined {
    const parts = webgpuDriverParts(name);
    const kernel = parts === null ? undefined : gpuKernel(parts.fn);
    if (parts === null || kernel === undefined) return undefined;
    return new WebGpuDriver(kernel, parts.crossCheck === undefined ? {} : { crossCheck: parts.crossCheck });
  },
};
