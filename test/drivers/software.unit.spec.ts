import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { addU64, mulU64, U64, u64ToBigInt } from '../../src/drivers/u64.js';
import { createDriver, driverNames, hasDriver, registerDriverFamily, type DriverFamily } from '../../src/drivers/registry.js';
import { simulatorDrivers } from '../../simulator/drivers.js';
import { DriverInputError } from '../../src/drivers/driver.js';
import { factorialU64, fibonacciU64, MAX_N } from '../../src/drivers/software.js';

const M64 = (1n << 64n) - 1n;
const u32 = fc.integer({ min: 0, max: 0xffffffff });

function factBig(n: number): bigint {
  let f = 1n;
  for (let i = 2n; i <= BigInt(n); i++) f = (f * i) & M64;
  return f;
}
function fibBig(n: number): bigint {
  let a = 0n;
  let b = 1n;
  for (let i = 0; i < n; i++) [a, b] = [b, (a + b) & M64];
  return a;
}
function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}
function callDriver(name: string, input: Uint8Array): Uint8Array {
  const out = new Uint8Array(64);
  const n = createDriver(name).call(input, out);
  if (typeof n !== 'number') throw new Error('sync driver expected');
  return out.subarray(0, n);
}
const u64le = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getBigUint64(0, true);

describe('u64 arithmetic', () => {
  test.prop([u32, u32, u32, u32])('mulU64 is multiplication mod 2^64', (ah, al, bh, bl) => {
    mulU64(ah, al, bh, bl);
    expect(u64ToBigInt(U64[0]!, U64[1]!)).toBe((u64ToBigInt(ah, al) * u64ToBigInt(bh, bl)) & M64);
  });
  test.prop([u32, u32, u32, u32])('addU64 is addition mod 2^64', (ah, al, bh, bl) => {
    addU64(ah, al, bh, bl);
    expect(u64ToBigInt(U64[0]!, U64[1]!)).toBe((u64ToBigInt(ah, al) + u64ToBigInt(bh, bl)) & M64);
  });
});

describe('factorial and fibonacci (the paper inputs)', () => {
  it('factorial(51) is the low 64 bits of 51!', () => {
    expect(u64le(callDriver('factorial', u32le(51)))).toBe(18284192274659147776n);
    expect(u64ToBigInt(...factorialU64(51))).toBe(factBig(51));
  });
  it('fibonacci(93) is the largest Fibonacci number below 2^64', () => {
    expect(u64le(callDriver('fibonacci', u32le(93)))).toBe(12200160415121876738n);
    expect(u64ToBigInt(...fibonacciU64(94))).toBe((12200160415121876738n + 7540113804746346429n) & M64);
  });
  test.prop([fc.integer({ min: 0, max: 400 })])('match BigInt arithmetic mod 2^64', (n) => {
    expect(u64ToBigInt(...factorialU64(n))).toBe(factBig(n));
    expect(u64ToBigInt(...fibonacciU64(n))).toBe(fibBig(n));
  });
  it('refuse a wrong input size or an n past the limit, naming the limit', () => {
    expect(() => callDriver('factorial', new Uint8Array(3))).toThrow(DriverInputError);
    expect(() => callDriver('factorial', new Uint8Array(3))).toThrow('input is 3 bytes, expected exactly 4');
    expect(() => callDriver('fibonacci', u32le(MAX_N + 1))).toThrow(`the limit is ${MAX_N}`);
  });
});

describe('payload kernels', () => {
  // the simulated FPGA's drivers come from the simulator's family (vFunD's configuration registers it too)
  let undo: () => void = () => undefined;
  beforeAll(() => {
    undo = registerDriverFamily(simulatorDrivers);
  });
  afterAll(() => undo());

  it('crc32 of "123456789" is the standard check value', () => {
    expect(new DataView(callDriver('crc32', new TextEncoder().encode('123456789')).buffer).getUint32(0, true)).toBe(0xcbf43926);
  });
  test.prop([fc.uint8Array({ maxLength: 2048 })])('sha256 equals node:crypto', (data) => {
    expect(Buffer.from(callDriver('sha256', data))).toEqual(createHash('sha256').update(data).digest());
  });
  it('the simulated FPGA computes what its software kernel computes, as a hw driver', () => {
    const d = createDriver('sim-fpga:crc32');
    expect(d.meta.kind).toBe('hw');
    const data = new Uint8Array([1, 2, 3]);
    expect(callDriver('sim-fpga:crc32', data)).toEqual(callDriver('crc32', data));
  });
  it('an unknown driver is refused with the list of known ones', () => {
    expect(() => createDriver('nope')).toThrow(driverNames().join(', '));
  });
});

describe('registry: driver families', () => {
  const echo: DriverFamily = {
    names: () => ['echo:4'],
    has: (name) => /^echo:\d+$/.test(name),
    create: (name) =>
      /^echo:\d+$/.test(name)
        ? {
            meta: { name, kind: 'sw', version: '1', description: 'echo', input: { minBytes: 0, maxBytes: 64 }, maxOutputBytes: 64 },
            init: () => undefined,
            call: (input, output) => (output.set(input), input.byteLength),
            reset: () => undefined,
            exit: () => undefined,
          }
        : undefined,
  };

  it('a registered family is listed, recognized and built by name; its undo removes it', () => {
    expect(hasDriver('echo:9')).toBe(false);
    const undo = registerDriverFamily(echo);
    try {
      expect(registerDriverFamily(echo)).not.toBe(undo); // a second registration adds nothing
      expect(driverNames().filter((n) => n === 'echo:4')).toEqual(['echo:4']);
      expect(hasDriver('echo:9')).toBe(true);
      expect(hasDriver('echo:x')).toBe(false);
      expect(callDriver('echo:9', new Uint8Array([7, 8]))).toEqual(new Uint8Array([7, 8]));
      expect(() => createDriver('echo:x')).toThrow("unknown driver 'echo:x'");
      expect(createDriver('crc32').meta.name).toBe('crc32'); // the software drivers come first
    } finally {
      undo();
    }
    expect(hasDriver('echo:9')).toBe(false);
    expect(driverNames()).not.toContain('echo:4');
    expect(() => createDriver('echo:9')).toThrow("unknown driver 'echo:9'");
  });

  it('the undo of a registration that added nothing leaves the family registered', () => {
    const undo = registerDriverFamily(echo);
    try {
      registerDriverFamily(echo)();
      expect(hasDriver('echo:1')).toBe(true);
    } finally {
      undo();
    }
  });

  it("the simulator's family: sim-fpga:<kernel> for each software kernel, sim:<profile>:<fn> for a profile's functions", () => {
    expect(simulatorDrivers.names()).toEqual(['sim-fpga:factorial', 'sim-fpga:fibonacci', 'sim-fpga:crc32', 'sim-fpga:sha256', 'sim-fpga:saxpy', 'sim-fpga:matmul', 'sim-fpga:crc32-batch']);
    expect(simulatorDrivers.has('sim-fpga:crc32')).toBe(true);
    expect(simulatorDrivers.has('sim-fpga:nope')).toBe(false);
    expect(simulatorDrivers.has('sim:alveo-u250:crc32')).toBe(true);
    expect(simulatorDrivers.has('sim:alveo-u250:nope')).toBe(false);
    expect(simulatorDrivers.has('sim:no-such-profile:crc32')).toBe(false);
    expect(simulatorDrivers.has('sim:crc32')).toBe(false);
    expect(simulatorDrivers.create('crc32')).toBeUndefined();
    expect(simulatorDrivers.create('sim-fpga:nope')).toBeUndefined();
    expect(simulatorDrivers.create('sim-fpga:sha256')?.meta).toMatchObject({ name: 'sim-fpga:sha256', kind: 'hw' });
  });
});
