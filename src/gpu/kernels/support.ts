/**
 * What every GPU kernel needs around its dispatch: a uniform for its
 * parameters, an input and an output storage buffer sized once at prepare
 * (activation), a readback buffer, and the round trip of one call — write
 * the input, dispatch, copy the result back, map, copy it into the region.
 */

/** Round up to a multiple of 4 (WebGPU copies and buffer sizes are in 4-byte units), at least 4. */
export const align4 = (n: number): number => Math.max(4, Math.ceil(n / 4) * 4);

/**
 * Workgroup counts in two dimensions for `groups` workgroups, each dimension at most `maxPerDim`:
 * [x, y] with x·y ≥ groups. The kernel computes its index as id.x + id.y · (x · workgroup size).
 */
export function dispatchSize(groups: number, maxPerDim: number): [number, number] {
  if (groups <= maxPerDim) return [Math.max(1, groups), 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}

/** Compile a WGSL compute shader's `main` into a pipeline (the layout from the shader). */
export async function computePipeline(device: GPUDevice, code: string, label: string): Promise<GPUComputePipeline> {
  const module = device.createShaderModule({ code, label });
  return device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' }, label });
}

/** What one call dispatches: a pipeline, its bind group, and the workgroup counts. */
export interface Dispatch {
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly groups: readonly [number, number];
}

export class Staging {
  readonly params: GPUBuffer;
  readonly input: GPUBuffer;
  readonly output: GPUBuffer;
  private readonly readback: GPUBuffer;
  /** Scratch for inputs whose length is not a multiple of 4 or that live in shared memory. */
  private scratch: Uint8Array;

  constructor(
    private readonly device: GPUDevice,
    maxInputBytes: number,
    maxOutputBytes: number,
    paramBytes: number,
  ) {
    const { STORAGE, COPY_DST, COPY_SRC, UNIFORM, MAP_READ } = GPUBufferUsage;
    this.params = device.createBuffer({ size: align4(paramBytes), usage: UNIFORM | COPY_DST, label: 'params' });
    this.input = device.createBuffer({ size: align4(maxInputBytes), usage: STORAGE | COPY_DST, label: 'input' });
    this.output = device.createBuffer({ size: align4(maxOutputBytes), usage: STORAGE | COPY_SRC, label: 'output' });
    this.readback = device.createBuffer({ size: align4(maxOutputBytes), usage: MAP_READ | COPY_DST, label: 'readback' });
    this.scratch = new Uint8Array(0);
  }

  /** The bind group of `pipeline`: params at binding 0, input at 1, output at 2, then `extra` from binding 3 on. */
  bind(pipeline: GPUComputePipeline, extra: readonly GPUBuffer[] = []): GPUBindGroup {
    const buffers = [this.params, this.input, this.output, ...extra];
    return this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })) });
  }

  /** A copy-free view of `bytes` that WebGPU takes (an ArrayBuffer, a multiple of 4 long), or a padded copy. */
  private uploadable(bytes: Uint8Array): Uint8Array {
    if (!(bytes.buffer instanceof SharedArrayBuffer) && bytes.byteLength % 4 === 0 && bytes.byteOffset % 4 === 0) return bytes;
    const n = align4(bytes.byteLength);
    if (this.scratch.byteLength < n) this.scratch = new Uint8Array(n);
    const s = this.scratch.subarray(0, n);
    s.set(bytes);
    s.fill(0, bytes.byteLength);
    return s;
  }

  /** One call: upload `input` and `params`, dispatch, read `outBytes` back into `output`. */
  async run(input: Uint8Array, params: DataView, output: Uint8Array, outBytes: number, dispatch: Dispatch): Promise<number> {
    const q = this.device.queue;
    if (input.byteLength > 0) q.writeBuffer(this.input, 0, this.uploadable(input));
    q.writeBuffer(this.params, 0, params.buffer, params.byteOffset, params.byteLength);
    const enc = this.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(dispatch.pipeline);
    pass.setBindGroup(0, dispatch.bindGroup);
    pass.dispatchWorkgroups(dispatch.groups[0], dispatch.groups[1]);
    pass.end();
    const size = align4(outBytes);
    enc.copyBufferToBuffer(this.output, 0, this.readback, 0, size);
    q.submit([enc.finish()]);
    await this.readback.mapAsync(GPUMapMode.READ, 0, size);
    try {
      output.set(new Uint8Array(this.readback.getMappedRange(0, size), 0, outBytes));
    } finally {
      this.readback.unmap();
    }
    return outBytes;
  }

  destroy(): void {
    for (const b of [this.params, this.input, this.output, this.readback]) b.destroy();
  }
}
