/**
 * A function that runs as WGSL compute kernels on a WebGPU device, beside
 * its software twin (src/drivers/twins): the same input, the same output
 * format, so a result can be checked against the twin and a guest can fall
 * back to it.
 *
 * `prepare` is the GPU's counterpart of loading a bitstream: it compiles the
 * pipelines and allocates buffers big enough for the largest input the
 * region can carry. A prepared kernel runs one call at a time.
 */
import type { KernelTwin } from '../drivers/twins/twin.js';

export interface PreparedKernel {
  /** Run one call: input already validated by `twin.outputBytes`; writes the result into `output`, returns its length. */
  run(input: Uint8Array, output: Uint8Array): Promise<number>;
  /** Free the buffers and pipelines (the device stays). */
  destroy(): void;
}

export interface GpuKernel {
  readonly twin: KernelTwin;
  /** The WGSL source of its compute shaders (for `vfun gpu info` and the docs). */
  readonly wgsl: string;
  /** Compile and allocate for inputs up to `maxInputBytes` (the region's capacity, bounded by the device's limits). */
  prepare(device: GPUDevice, maxInputBytes: number): Promise<PreparedKernel>;
}
