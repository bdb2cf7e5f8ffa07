import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { DriverInputError } from '../../src/drivers/driver.js';
import { createDriver, softwareDriverNames } from '../../src/drivers/registry.js';
import { CRC32_BATCH_MAX_COUNT, CRC32_BATCH_MAX_INPUT, crc32Batch } from '../../src/drivers/twins/crc32-batch.js';
import { KERNEL_TWINS, kernelTwin } from '../../src/drivers/twins/index.js';
import { MATMUL_MAX_DIM, MATMUL_MAX_INPUT, matmul } from '../../src/drivers/twins/matmul.js';
import { SAXPY_MAX_INPUT, saxpy } from '../../src/drivers/twins/saxpy.js';
import { F32_EPSILON, F32_MIN_NORMAL, TwinDriver, type KernelTwin } from '../../src/drivers/twins/twin.js';
import { crc32BatchInput, matmulArb, matmulInput, messagesArb, saxpyArb, saxpyInput, sharedCopy } from '../support/kernel-inputs.js';

function run(twin: KernelTwin, input: Uint8Array): Uint8Array {
  const out = new Uint8Array(twin.outputBytes(input));
  expect(twin.compute(input, out)).toBe(out.byteLength);
  return out;
}
const f32s = (bytes: Uint8Array) => new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
const header = (...words: number[]) => new Uint8Array(new Uint32Array(words).buffer);
/** A GPU that flushes subnormals: operands and results below the smallest normal become zero. */
const ftz = (x: number) => (Math.abs(x) < F32_MIN_NORMAL ? 0 : x);

/** The refusal `fn` throws: a DriverInputError whose message holds every one of `parts`. */
function refusal(fn: () => unknown, ...parts: string[]): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(DriverInputError);
  for (const p of parts) expect((error as Error).message).toContain(p);
}

/** C = A·B as matmul's twin may not (each step rounded once, as a fused multiply-add), and flushed. */
function matmulVariants(m: number, k: number, n: number, a: Float32Array, b: Float32Array) {
  const fused = new Float32Array(m * n);
  const flushed = new Float32Array(m * n);
  const exact = new Float64Array(m * n);
  const magnitude = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let f = 0;
      let z = 0;
      for (let p = 0; p < k; p++) {
        const x = a[i * k + p]!;
        const y = b[p * n + j]!;
        f = Math.fround(f + x * y);
        z = ftz(Math.fround(z + ftz(Math.fround(ftz(x) * ftz(y)))));
        exact[i * n + j]! += x * y;
        magnitude[i * n + j]! += Math.abs(x * y);
      }
      fused[i * n + j] = f;
      flushed[i * n + j] = z;
    }
  }
  return { fused, flushed, exact, magnitude };
}

describe('the twins', () => {
  it('are the software drivers saxpy, matmul and crc32-batch', () => {
    expect(Object.keys(KERNEL_TWINS)).toEqual(['saxpy', 'matmul', 'crc32-batch']);
    for (const name of Object.keys(KERNEL_TWINS)) {
      expect(softwareDriverNames()).toContain(name);
      expect(createDriver(name).meta).toMatchObject({ name, kind: 'sw', input: KERNEL_TWINS[name]!.input });
      expect(kernelTwin(name)).toBe(KERNEL_TWINS[name]);
    }
    expect(kernelTwin('toString')).toBeUndefined();
  });
});

describe('saxpy', () => {
  test.prop([saxpyArb(300)])('is a·x + y rounded twice; accepts the fused and flushed results', ([a, x, y]) => {
    const input = saxpyInput(a, x, y);
    const got = f32s(run(saxpy, input));
    const fused = new Float32Array(x.length);
    const flushed = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const exact = a * x[i]! + y[i]!;
      expect(Math.abs(got[i]! - exact)).toBeLessThanOrEqual(2 * F32_EPSILON * (Math.abs(a * x[i]!) + Math.abs(y[i]!)) + 2 ** -149);
      fused[i] = exact;
      flushed[i] = ftz(Math.fround(ftz(a) * ftz(x[i]!) + ftz(y[i]!)));
    }
    const expected = new Uint8Array(got.buffer);
    expect(saxpy.compare(input, expected, expected)).toBeNull();
    expect(saxpy.compare(input, expected, new Uint8Array(fused.buffer))).toBeNull();
    expect(saxpy.compare(input, expected, new Uint8Array(flushed.buffer))).toBeNull();
    expect(saxpy.work(input)).toEqual({ bytesIn: input.byteLength, bytesOut: 4 * x.length, ops: 2 * x.length });
  });

  it('refuses a short input, a partial element, and one over the limit', () => {
    refusal(() => saxpy.outputBytes(new Uint8Array(3)), 'input is 3 bytes', 'at least 4');
    refusal(() => saxpy.outputBytes(new Uint8Array(4 + 12)), 'input is 16 bytes', 'multiple of 8');
    refusal(() => saxpy.outputBytes(new Uint8Array(SAXPY_MAX_INPUT + 8)), `the limit is ${SAXPY_MAX_INPUT}`);
  });
});

describe('matmul', () => {
  test.prop([matmulArb(12)])('sums in k order within K·ε·Σ|a·b| of the exact product; accepts the fused and flushed results', ([m, k, n, a, b]) => {
    const input = matmulInput(m, k, n, a, b);
    const expected = run(matmul, input);
    const got = f32s(expected);
    const { fused, flushed, exact, magnitude } = matmulVariants(m, k, n, a, b);
    for (let e = 0; e < m * n; e++) {
      expect(Math.abs(got[e]! - exact[e]!)).toBeLessThanOrEqual(1.01 * k * F32_EPSILON * magnitude[e]! + k * 2 ** -149);
    }
    expect(matmul.compare(input, expected, expected)).toBeNull();
    expect(matmul.compare(input, expected, new Uint8Array(fused.buffer))).toBeNull();
    expect(matmul.compare(input, expected, new Uint8Array(flushed.buffer))).toBeNull();
    expect(matmul.work(input)).toEqual({ bytesIn: input.byteLength, bytesOut: 4 * m * n, ops: 2 * m * k * n });
  });

  test.prop([matmulArb(8).filter(([m, , n]) => m * n > 0), fc.nat(), fc.boolean()])('compare rejects an element moved beyond the bound', ([m, k, n, a, b], at, bigger) => {
    const input = matmulInput(m, k, n, a, b);
    const expected = run(matmul, input);
    const e = at % (m * n);
    const { magnitude } = matmulVariants(m, k, n, a, b);
    const wrong = new Float32Array(f32s(expected));
    wrong[e] = wrong[e]! + (bigger ? 1 : -1) * (1 + 4 * k * F32_EPSILON * magnitude[e]!);
    const why = matmul.compare(input, expected, new Uint8Array(wrong.buffer));
    expect(why).toContain(`C[${Math.floor(e / n)}][${e % n}] is ${wrong[e]}`);
    expect(matmul.compare(input, expected, expected.subarray(4))).toContain(`result is ${4 * m * n - 4} bytes, expected ${4 * m * n}`);
  });

  it('where the operands reach the f32 range, an overflow in one order of rounding and not the other is accepted', () => {
    const big = 2 ** 64;
    // c = (2^64·2^64) + (-2^64·2^64): the twin rounds the first product to Infinity (NaN after the
    // second); a fused multiply-add keeps the first product exact and returns 0.
    const input = matmulInput(1, 2, 1, new Float32Array([big, -big]), new Float32Array([big, big]));
    const expected = run(matmul, input);
    expect(f32s(expected)[0]).toBeNaN();
    expect(matmul.compare(input, expected, new Uint8Array(new Float32Array([0]).buffer))).toBeNull();
  });

  it('computes zero dimensions: an empty result, or zeros when K = 0', () => {
    expect(run(matmul, matmulInput(0, 5, 7, new Float32Array(0), new Float32Array(35))).byteLength).toBe(0);
    expect([...f32s(run(matmul, matmulInput(2, 0, 3, new Float32Array(0), new Float32Array(0))))]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  test.prop([fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 8 }), fc.integer({ min: -9, max: 9 }).filter((d) => d !== 0)])(
    'refuses an input whose length is not 12 + 4·(M·K + K·N)',
    (m, k, n, delta) => {
      const expected = 12 + 4 * (m * k + k * n);
      const input = new Uint8Array(Math.max(12, expected + delta));
      input.set(header(m, k, n));
      fc.pre(input.byteLength !== expected);
      refusal(() => matmul.outputBytes(input), `input is ${input.byteLength} bytes`, `expected 12 + 4·(M·K + K·N) = ${expected}`, `M=${m}, K=${k}, N=${n}`);
    },
  );

  it('refuses a short header, a dimension over the limit, and A and B over the input limit', () => {
    refusal(() => matmul.outputBytes(new Uint8Array(11)), 'input is 11 bytes', 'at least 12', 'M, K, N');
    refusal(() => matmul.outputBytes(header(1, MATMUL_MAX_DIM + 1, 1)), `K is ${MATMUL_MAX_DIM + 1}`, `the limit is ${MATMUL_MAX_DIM}`);
    refusal(() => matmul.outputBytes(header(MATMUL_MAX_DIM, MATMUL_MAX_DIM, MATMUL_MAX_DIM)), `take ${12 + 8 * MATMUL_MAX_DIM ** 2} bytes`, `the limit is ${MATMUL_MAX_INPUT}`);
    // the largest result: no A or B at all
    expect(matmul.outputBytes(header(MATMUL_MAX_DIM, 0, MATMUL_MAX_DIM))).toBe(matmul.maxOutputBytes);
  });
});

describe('crc32-batch', () => {
  test.prop([messagesArb(20, 70), fc.integer({ min: 0, max: 7 })])('is zlib’s CRC-32 of each message, from a shared view at any offset', (messages, offset) => {
    const input = sharedCopy(crc32BatchInput(messages), offset);
    const out = run(crc32Batch, input);
    const dv = new DataView(out.buffer);
    expect(messages.map((_, i) => dv.getUint32(4 * i, true))).toEqual(messages.map((m) => zlibCrc32(m)));
    expect(crc32Batch.compare(input, out, out)).toBeNull();
    expect(crc32Batch.work(input)).toEqual({ bytesIn: input.byteLength, bytesOut: 4 * messages.length, ops: messages.reduce((s, m) => s + m.byteLength, 0) });
  });

  test.prop([messagesArb(10, 20).filter((ms) => ms.length > 0), fc.nat(), fc.integer({ min: 0, max: 31 })])('compare rejects one flipped bit', (messages, at, bit) => {
    const input = crc32BatchInput(messages);
    const expected = run(crc32Batch, input);
    const wrong = expected.slice();
    const i = at % messages.length;
    new DataView(wrong.buffer).setUint32(4 * i, (new DataView(expected.buffer).getUint32(4 * i, true) ^ (1 << bit)) >>> 0, true);
    expect(crc32Batch.compare(input, expected, wrong)).toMatch(new RegExp(`^crc32-batch: crc\\[${i}\\] is 0x[0-9a-f]{8}, expected 0x[0-9a-f]{8}$`));
  });

  test.prop([messagesArb(10, 20), fc.integer({ min: -5, max: 5 }).filter((d) => d !== 0)])('refuses lengths that do not sum to the rest of the input', (messages, delta) => {
    const good = crc32BatchInput(messages);
    const rest = good.byteLength - 4 - 4 * messages.length;
    fc.pre(rest + delta >= 0);
    const input = new Uint8Array(good.byteLength + delta);
    input.set(good.subarray(0, Math.min(good.byteLength, input.byteLength)));
    refusal(() => crc32Batch.outputBytes(input), `the lengths sum to ${rest} bytes`, `the messages after the table are ${rest + delta} bytes`);
  });

  it('refuses a short input, a count over the limit, a truncated table and an input over the limit', () => {
    refusal(() => crc32Batch.outputBytes(new Uint8Array(3)), 'input is 3 bytes', 'at least 4', 'count');
    refusal(() => crc32Batch.outputBytes(header(CRC32_BATCH_MAX_COUNT + 1)), `count is ${CRC32_BATCH_MAX_COUNT + 1}`, `the limit is ${CRC32_BATCH_MAX_COUNT}`);
    refusal(() => crc32Batch.outputBytes(header(3, 0)), 'input is 8 bytes', 'count=3 needs 4 + 4·count = 16');
    refusal(() => crc32Batch.outputBytes(new Uint8Array(CRC32_BATCH_MAX_INPUT + 1)), `input is ${CRC32_BATCH_MAX_INPUT + 1} bytes`, `the limit is ${CRC32_BATCH_MAX_INPUT}`);
    // lengths of up to 2^32 - 1 each sum exactly
    refusal(() => crc32Batch.outputBytes(header(2, 0xffffffff, 0xffffffff)), `the lengths sum to ${2 * 0xffffffff} bytes`);
  });
});

describe('TwinDriver', () => {
  it('computes through call, and refuses a region too small for the result, naming both sizes', () => {
    const input = matmulInput(2, 1, 3, new Float32Array([1, 2]), new Float32Array([3, 4, 5]));
    const driver = createDriver('matmul');
    expect(driver).toBeInstanceOf(TwinDriver);
    const out = new Uint8Array(24);
    expect(driver.call(input, out)).toBe(24);
    expect([...f32s(out)]).toEqual([3, 4, 5, 6, 8, 10]);
    refusal(() => driver.call(input, new Uint8Array(23)), 'matmul: the result is 24 bytes, the region holds 23');
    refusal(() => createDriver('crc32-batch').call(new Uint8Array(2), out), 'crc32-batch: input is 2 bytes, expected 4..');
    refusal(() => createDriver('saxpy').call(saxpyInput(1, new Float32Array(7), new Float32Array(7)), out), 'saxpy: the result is 28 bytes, the region holds 24');
  });
});
