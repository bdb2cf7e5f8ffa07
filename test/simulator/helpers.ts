/** Shared fixtures of the simulator tests. */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { factorialU64, fibonacciU64 } from '../../src/drivers/software.js';
import type { DeviceProfile, JitterSpec, KernelName } from '../../simulator/index.js';

/** A small two-slot profile with round figures (valid; every figure sourced). */
export function testProfile(
  overrides: Partial<DeviceProfile> = {},
  jitter: JitterSpec = { kind: 'lognormal', fraction: 0.1, sigma: 0.5 },
): DeviceProfile {
  return {
    name: 'test-device',
    slots: 2,
    functions: {
      crc32: { kernel: 'crc32', loadMs: 5, launchMicros: 20, bytesPerSecond: 1e9, transferNanosPerByte: 0.1, jitter },
      sha256: { kernel: 'sha256', loadMs: 8, launchMicros: 30, bytesPerSecond: 2e8, transferNanosPerByte: 0.1, jitter },
      factorial: { kernel: 'factorial', loadMs: 3, launchMicros: 10, itemsPerSecond: 1e8, transferNanosPerByte: 0.1, jitter },
      fibonacci: { kernel: 'fibonacci', loadMs: 3, launchMicros: 10, itemsPerSecond: 3e8, transferNanosPerByte: 0.1, jitter },
    },
    sources: {
      slots: 'assumption: test figure',
      'functions.*.loadMs': 'assumption: test figure',
      'functions.*.launchMicros': 'assumption: test figure',
      'functions.*.transferNanosPerByte': 'assumption: test figure',
      'functions.*.jitter': 'assumption: test figure',
      'functions.*.bytesPerSecond': 'assumption: test figure',
      'functions.*.itemsPerSecond': 'assumption: test figure',
    },
    ...overrides,
  };
}

export function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

function u64le(hi: number, lo: number): Uint8Array {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, lo, true);
  dv.setUint32(4, hi, true);
  return b;
}

/** The expected result of a kernel, computed independently of the drivers where possible. */
export function expected(kernel: KernelName, input: Uint8Array): Uint8Array {
  switch (kernel) {
    case 'crc32': {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, crc32(input), true);
      return b;
    }
    case 'sha256':
      return new Uint8Array(createHash('sha256').update(input).digest());
    case 'factorial':
      return u64le(...factorialU64(new DataView(input.buffer, input.byteOffset).getUint32(0, true)));
    case 'fibonacci':
      return u64le(...fibonacciU64(new DataView(input.buffer, input.byteOffset).getUint32(0, true)));
  }
}
