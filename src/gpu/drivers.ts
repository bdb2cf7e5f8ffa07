/**
 * Names of the WebGPU drivers: `webgpu:<fn>`, optionally `webgpu:<fn>?crossCheck=N`.
 * (Placeholder of the names only; the driver family comes with the driver.)
 */
import { gpuKernel, gpuKernelNames } from './kernels/index.js';

/** The driver name of GPU function `fn`. */
export function webgpuDriverName(fn: string, options: { crossCheck?: number } = {}): string {
  return options.crossCheck === undefined ? `webgpu:${fn}` : `webgpu:${fn}?crossCheck=${options.crossCheck}`;
}

/** The function and options of a `webgpu:` driver name, or null. */
export function webgpuDriverParts(name: string): { fn: string; crossCheck?: number } | null {
  const m = /^webgpu:([a-z0-9-]+)(?:\?crossCheck=([1-9][0-9]{0,8}))?$/.exec(name);
  if (m === null || gpuKernel(m[1]!) === undefined) return null;
  return m[2] === undefined ? { fn: m[1]! } : { fn: m[1]!, crossCheck: Number(m[2]) };
}

export const WEBGPU_FUNCTIONS = gpuKernelNames;
