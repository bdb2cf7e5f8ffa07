/**
 * crc32-batch on the GPU: one invocation per message, 64 per workgroup, the
 * workgroups laid out in two dimensions past 65535. Each invocation runs the
 * byte-wise table CRC (zlib's, reflected polynomial 0xEDB88320) over its
 * message, reading bytes out of the input's u32 words at any offset.
 *
 * The input stays in its own layout in one storage buffer (the lengths table
 * is read from it); where each message starts is a prefix sum of the lengths,
 * computed on the CPU (one pass over the table) and uploaded beside it.
 */
import { DriverInputError } from '../../drivers/driver.js';
import { crc32Batch, readCrc32Batch, CRC32_BATCH_MAX_COUNT } from '../../drivers/twins/crc32-batch.js';
import type { GpuKernel, PreparedKernel } from '../kernel.js';
import { Staging, align4, computePipeline, dispatchSize } from './support.js';

const WORKGROUP = 64;

/** The byte-wise CRC-32 table of the reflected IEEE polynomial. */
function crcTable(): number[] {
  const table: number[] = [];
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table.push(c >>> 0);
  }
  return table;
}

const wgsl = /* wgsl */ `
struct Params { count: u32, stride: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> data: array<u32>;
@group(0) @binding(2) var<storage, read_write> crc: array<u32>;
@group(0) @binding(3) var<storage, read> start: array<u32>;

const TABLE = array<u32, 256>(
${crcTable()
  .map((c) => `0x${c.toString(16).padStart(8, '0')}u`)
  .join(', ')
  .replace(/((?:0x[0-9a-f]{8}u, ){8})/g, '$1\n')}
);

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3u) {
  let m = id.x + id.y * p.stride;
  if (m >= p.count) { return; }
  let len = data[1u + m]; // the lengths table follows the count
  var at = start[m];
  let end = at + len;
  var c = 0xffffffffu;
  var w = 0u;
  if (len > 0u) { w = data[at >> 2u] >> ((at & 3u) * 8u); }
  while (at < end) {
    if ((at & 3u) == 0u) { w = data[at >> 2u]; }
    c = TABLE[(c ^ w) & 0xffu] ^ (c >> 8u);
    w = w >> 8u;
    at = at + 1u;
  }
  crc[m] = ~c;
}
`;

export const crc32BatchGpu: GpuKernel = {
  twin: crc32Batch,
  wgsl,
  async prepare(device: GPUDevice, maxInputBytes: number): Promise<PreparedKernel> {
    const pipeline = await computePipeline(device, wgsl, 'crc32-batch');
    // The output (4 bytes a message) is never larger than the lengths table of the input.
    const maxCount = Math.min(CRC32_BATCH_MAX_COUNT, Math.max(1, Math.floor((maxInputBytes - 4) / 4)));
    const staging = new Staging(device, maxInputBytes, 4 * maxCount, 16);
    const starts = device.createBuffer({ size: align4(4 * maxCount), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, label: 'starts' });
    const scratch = new Uint32Array(maxCount);
    const bindGroup = staging.bind(pipeline, [starts]);
    const params = new DataView(new ArrayBuffer(16));
    return {
      async run(input, output) {
        const batch = readCrc32Batch(input);
        const { count } = batch;
        if (count === 0) return 0;
        if (count > maxCount) throw new DriverInputError(`crc32-batch: count is ${count}, the limit of the prepared kernel is ${maxCount}`);
        let at = batch.dataOffset;
        for (let i = 0; i < count; i++) {
          scratch[i] = at;
          at += batch.length(i);
        }
        device.queue.writeBuffer(starts, 0, scratch, 0, count);
        const [x, y] = dispatchSize(Math.ceil(count / WORKGROUP), device.limits.maxComputeWorkgroupsPerDimension);
        params.setUint32(0, count, true);
        params.setUint32(4, x * WORKGROUP, true);
        return staging.run(input, params, output, 4 * count, { pipeline, bindGroup, groups: [x, y] });
      },
      destroy() {
        staging.destroy();
        starts.destroy();
      },
    };
  },
};
