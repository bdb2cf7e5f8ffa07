/** The functions that run on a WebGPU device, by name (each beside its software twin of the same name). */
import type { GpuKernel } from '../kernel.js';
import { crc32BatchGpu } from './crc32-batch.js';
import { matmulGpu } from './matmul.js';
import { saxpyGpu } from './saxpy.js';

export const GPU_KERNELS: Readonly<Record<string, GpuKernel>> = {
  saxpy: saxpyGpu,
  matmul: matmulGpu,
  'crc32-batch': crc32BatchGpu,
};

/** Names of the GPU functions, in a stable order. */
export function gpuKernelNames(): string[] {
  return Object.keys(GPU_KERNELS);
}

/** The GPU kernel of function `name`, or undefined. */
export function gpuKernel(name: string): GpuKernel | undefined {
  return Object.hasOwn(GPU_KERNELS, name) ? GPU_KERNELS[name] : undefined;
}
