/**
 * saxpy on the GPU: one invocation per element, 256 per workgroup, the
 * workgroups laid out in two dimensions past 65535 (the per-dimension limit).
 * The scalar travels in a uniform; x and y in one storage buffer (the
 * input's own layout), the result in another.
 */
import { saxpy } from '../../drivers/twins/saxpy.js';
import type { GpuKernel, PreparedKernel } from '../kernel.js';
import { Staging, computePipeline, dispatchSize } from './support.js';

const WORKGROUP = 256;

const wgsl = /* wgsl */ `
struct Params { a: f32, n: u32, stride: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xy: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = id.x + id.y * p.stride;
  if (i >= p.n) { return; }
  // xy[0] is the scalar a as the input carries it; x starts at 1, y at 1 + n
  out[i] = fma(p.a, xy[1u + i], xy[1u + p.n + i]);
}
`;

export const saxpyGpu: GpuKernel = {
  twin: saxpy,
  wgsl,
  async prepare(device: GPUDevice, maxInputBytes: number): Promise<PreparedKernel> {
    const pipeline = await computePipeline(device, wgsl, 'saxpy');
    const staging = new Staging(device, maxInputBytes, maxInputBytes, 16);
    const bindGroup = staging.bind(pipeline);
    const params = new DataView(new ArrayBuffer(16));
    return {
      async run(input, output) {
        const n = saxpy.outputBytes(input) / 4;
        if (n === 0) return 0;
        const [x, y] = dispatchSize(Math.ceil(n / WORKGROUP), device.limits.maxComputeWorkgroupsPerDimension);
        params.setFloat32(0, new DataView(input.buffer, input.byteOffset, 4).getFloat32(0, true), true);
        params.setUint32(4, n, true);
        params.setUint32(8, x * WORKGROUP, true);
        return staging.run(input, params, output, 4 * n, { pipeline, bindGroup, groups: [x, y] });
      },
      destroy() {
        staging.destroy();
      },
    };
  },
};
