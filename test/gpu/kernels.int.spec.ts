/**
 * The GPU kernels on this host's WebGPU adapter against their software twins.
 * Needs an adapter (a GPU with its Vulkan driver, or Mesa's lavapipe):
 * without one the file fails, naming the set-up that installs it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import type { PreparedKernel } from '../../src/gpu/kernel.js';
import { gpuKernel, gpuKernelNames } from '../../src/gpu/kernels/index.js';
import { identityOf, requestAdapter } from '../../src/gpu/webgpu.js';
import type { KernelTwin } from '../../src/drivers/twins/twin.js';
import { crc32BatchInput, matmulArb, matmulInput, messagesArb, saxpyArb, saxpyInput, sharedCopy } from '../support/kernel-inputs.js';

/** The region capacity the kernels are prepared for. */
const CAPACITY = 1 << 20;
const RUNS = { numRuns: 25 };

let device: GPUDevice;
const prepared = new Map<string, PreparedKernel>();
const gpuErrors: string[] = [];

beforeAll(async () => {
  const r = await requestAdapter();
  if ('error' in r) throw new Error(`the GPU kernels need a WebGPU adapter (run \`npm run setup:gpu\`): ${r.error}`);
  device = await r.adapter.requestDevice();
  device.addEventListener('uncapturederror', (e) => gpuErrors.push((e as GPUUncapturedErrorEvent).error.message));
  void device.lost.then((info) => gpuErrors.push(`device lost: ${info.reason} ${info.message}`));
  console.log('adapter', identityOf(r.adapter));
  for (const name of gpuKernelNames()) prepared.set(name, await gpuKernel(name)!.prepare(device, CAPACITY));
});

afterAll(() => {
  for (const p of prepared.values()) p.destroy();
  device?.destroy();
});

/**
 * Run `input` on the GPU from shared memory (the request payload) into shared memory (the result
 * payload), as the service does; the result must be what the twin's `compare` accepts.
 */
async function onGpu(twin: KernelTwin, bytes: Uint8Array, offset: number): Promise<{ gpu: Uint8Array; twin: Uint8Array }> {
  const input = sharedCopy(bytes, offset);
  const size = twin.outputBytes(input);
  const expected = new Uint8Array(size);
  twin.compute(input, expected);
  const result = sharedCopy(new Uint8Array(size + 4).fill(0xee), offset);
  const n = await prepared.get(twin.name)!.run(input, result);
  expect(n).toBe(size);
  expect([...result.subarray(size)]).toEqual([0xee, 0xee, 0xee, 0xee]); // nothing written past the result
  const gpu = result.slice(0, size);
  expect(twin.compare(input, expected, gpu)).toBeNull();
  expect(gpuErrors).toEqual([]);
  return { gpu, twin: expected };
}

const offsets = fc.constantFrom(0, 4, 8, 1, 3);

describe('GPU kernels against their twins', () => {
  it('every GPU function has a twin of its name', () => {
    expect(gpuKernelNames()).toEqual(['saxpy', 'matmul', 'crc32-batch']);
    for (const name of gpuKernelNames()) expect(gpuKernel(name)!.twin.name).toBe(name);
  });

  test.prop([saxpyArb(3000), offsets], RUNS)('saxpy', async ([a, x, y], offset) => {
    await onGpu(gpuKernel('saxpy')!.twin, saxpyInput(a, x, y), offset);
  });

  test.prop([matmulArb(40), offsets], RUNS)('matmul, M, K and N not multiples of the tile', async ([m, k, n, a, b], offset) => {
    await onGpu(gpuKernel('matmul')!.twin, matmulInput(m, k, n, a, b), offset);
  });

  it('matmul over several tiles each way, K = 0, and the result as large as the capacity', async () => {
    const twin = gpuKernel('matmul')!.twin;
    const random = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 10);
    await onGpu(twin, matmulInput(67, 129, 45, random(67 * 129), random(129 * 45)), 0);
    const zeros = await onGpu(twin, matmulInput(5, 0, 9, new Float32Array(0), new Float32Array(0)), 0);
    expect(zeros.gpu.every((b) => b === 0)).toBe(true);
    await onGpu(twin, matmulInput(512, 1, 511, random(512), random(511)), 0); // 1 MiB - 2 KiB of result
  });

  test.prop([messagesArb(40, 300), offsets], RUNS)('crc32-batch, byte for byte, messages of any length at any offset', async (messages, offset) => {
    const { gpu, twin } = await onGpu(gpuKernel('crc32-batch')!.twin, crc32BatchInput(messages), offset);
    expect(Buffer.from(gpu).equals(Buffer.from(twin))).toBe(true);
  });

  it('crc32-batch over a long message beside empty ones, and 100,000 messages of 0 to 3 bytes', async () => {
    const twin = gpuKernel('crc32-batch')!.twin;
    const long = Uint8Array.from({ length: 100_003 }, (_, i) => (i * 31 + (i >> 7)) & 0xff);
    await onGpu(twin, crc32BatchInput([new Uint8Array(0), long, new Uint8Array(0), long.subarray(1, 6)]), 1);
    const many = Array.from({ length: 100_000 }, (_, i) => Uint8Array.of(i & 0xff, i >> 8, 3).subarray(0, i % 4));
    const input = crc32BatchInput(many);
    const { gpu, twin: expected } = await onGpu(twin, input, 0);
    expect(Buffer.from(gpu).equals(Buffer.from(expected))).toBe(true);
  });
});
