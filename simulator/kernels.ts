/**
 * The kernels a simulated function can run: the software drivers of
 * src/drivers/software.ts compute the exact result, while the simulator only
 * decides how long it takes. `work` is the size the throughput applies to:
 * payload bytes for CRC32/SHA-256, the iteration count n for factorial and
 * fibonacci (one loop step per item).
 */
import type { DriverMeta } from '../src/drivers/driver.js';
import { Crc32Driver, FactorialDriver, FibonacciDriver, Sha256Driver } from '../src/drivers/software.js';

export const KERNEL_NAMES = ['crc32', 'sha256', 'factorial', 'fibonacci'] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];

/** What the throughput of a kernel counts: payload bytes, or loop items. */
export type WorkUnit = 'bytes' | 'items';

export interface KernelSpec {
  readonly name: KernelName;
  readonly unit: WorkUnit;
  /** Metadata of the software driver (input sizes, largest output). */
  readonly meta: DriverMeta;
  /** Compute the exact result into `output` (synchronous); throws DriverInputError for a refused input. */
  compute(input: Uint8Array, output: Uint8Array): number;
  /** Work of one call on a valid input, in `unit`s. */
  work(input: Uint8Array): number;
}

const readU32 = (input: Uint8Array): number =>
  input.byteLength >= 4 ? new DataView(input.buffer, input.byteOffset, 4).getUint32(0, true) : 0;

function of(
  name: KernelName,
  unit: WorkUnit,
  driver: { readonly meta: DriverMeta; call(input: Uint8Array, output: Uint8Array): number },
  work: (input: Uint8Array) => number,
): KernelSpec {
  return { name, unit, meta: driver.meta, compute: (i, o) => driver.call(i, o), work };
}

function spec(name: KernelName): KernelSpec {
  switch (name) {
    case 'crc32':
      return of(name, 'bytes', new Crc32Driver(), (i) => i.byteLength);
    case 'sha256':
      return of(name, 'bytes', new Sha256Driver(), (i) => i.byteLength);
    case 'factorial':
      return of(name, 'items', new FactorialDriver(), readU32);
    case 'fibonacci':
      return of(name, 'items', new FibonacciDriver(), readU32);
  }
}

const SPECS = new Map<KernelName, KernelSpec>(KERNEL_NAMES.map((k) => [k, spec(k)]));

export function kernelSpec(name: KernelName): KernelSpec {
  return SPECS.get(name)!;
}

/** The work unit a kernel's throughput is given in. */
export function kernelUnit(name: KernelName): WorkUnit {
  return kernelSpec(name).unit;
}

/** Metadata of the software kernel (input sizes, largest output). */
export function kernelMeta(name: KernelName): DriverMeta {
  return kernelSpec(name).meta;
}
