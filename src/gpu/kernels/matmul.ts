/**
 * matmul on the GPU: one invocation per element of C, in 16×16 workgroups
 * over 16×16 tiles of C. Each workgroup walks K in steps of 16, loading a
 * tile of A and a tile of B into workgroup memory once for its 256
 * invocations (zeros past the edges, so M, K and N need not be multiples of
 * 16), and every invocation sums its c_ij in k order with fused
 * multiply-adds, the order the twin sums in.
 *
 * A and B stay in the input's own layout in one storage buffer (the header
 * M, K, N in words 0..2, A from word 3, B after it); the dimensions travel in
 * a uniform as well.
 */
import { DriverInputError } from '../../drivers/driver.js';
import { matmul, matmulShape, MATMUL_HEADER } from '../../drivers/twins/matmul.js';
import type { GpuKernel, PreparedKernel } from '../kernel.js';
import { Staging, computePipeline } from './support.js';

/** Tile edge: a workgroup computes a TILE×TILE block of C. */
export const MATMUL_TILE = 16;

const wgsl = /* wgsl */ `
struct Params { m: u32, k: u32, n: u32, b: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ab: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;

const T = ${MATMUL_TILE}u;
const A0 = ${MATMUL_HEADER / 4}u; // A starts after the header's three words
var<workgroup> ta: array<array<f32, T>, T>;
var<workgroup> tb: array<array<f32, T>, T>;

@compute @workgroup_size(T, T)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let i = id.y; // row of C
  let j = id.x; // column of C
  var acc = 0.0;
  let tiles = (p.k + T - 1u) / T;
  for (var t = 0u; t < tiles; t++) {
    let ka = t * T + l.x; // column of A this invocation loads
    let kb = t * T + l.y; // row of B this invocation loads
    var x = 0.0;
    if (i < p.m && ka < p.k) { x = ab[A0 + i * p.k + ka]; }
    var y = 0.0;
    if (kb < p.k && j < p.n) { y = ab[p.b + kb * p.n + j]; }
    ta[l.y][l.x] = x;
    tb[l.y][l.x] = y;
    workgroupBarrier();
    // past K, both tiles hold zeros: fma(0, 0, acc) is acc
    for (var q = 0u; q < T; q++) { acc = fma(ta[l.y][q], tb[q][l.x], acc); }
    workgroupBarrier();
  }
  if (i < p.m && j < p.n) { c[i * p.n + j] = acc; }
}
`;

export const matmulGpu: GpuKernel = {
  twin: matmul,
  wgsl,
  async prepare(device: GPUDevice, maxInputBytes: number): Promise<PreparedKernel> {
    const pipeline = await computePipeline(device, wgsl, 'matmul');
    // A result travels back through the same region as the input: no larger than it (and the device's binding).
    const maxOutputBytes = Math.min(matmul.maxOutputBytes, Math.max(4, maxInputBytes), device.limits.maxStorageBufferBindingSize);
    const staging = new Staging(device, maxInputBytes, maxOutputBytes, 16);
    const bindGroup = staging.bind(pipeline);
    const params = new DataView(new ArrayBuffer(16));
    return {
      async run(input, output) {
        const { m, k, n } = matmulShape(input);
        if (m === 0 || n === 0) return 0;
        if (4 * m * n > maxOutputBytes) throw new DriverInputError(`matmul: the result of M=${m}, N=${n} is ${4 * m * n} bytes, the limit of the prepared kernel is ${maxOutputBytes}`);
        params.setUint32(0, m, true);
        params.setUint32(4, k, true);
        params.setUint32(8, n, true);
        params.setUint32(12, MATMUL_HEADER / 4 + m * k, true); // B's first word
        return staging.run(input, params, output, 4 * m * n, { pipeline, bindGroup, groups: [Math.ceil(n / MATMUL_TILE), Math.ceil(m / MATMUL_TILE)] });
      },
      destroy() {
        staging.destroy();
      },
    };
  },
};
