/** The software twins of the GPU functions (src/gpu/kernels), by function name. */
import { crc32Batch } from './crc32-batch.js';
import { matmul } from './matmul.js';
import { saxpy } from './saxpy.js';
import type { KernelTwin } from './twin.js';

export const KERNEL_TWINS: Readonly<Record<string, KernelTwin>> = {
  saxpy,
  matmul,
  'crc32-batch': crc32Batch,
};

/** The twin of function `name`, or undefined. */
export function kernelTwin(name: string): KernelTwin | undefined {
  return Object.hasOwn(KERNEL_TWINS, name) ? KERNEL_TWINS[name] : undefined;
}
