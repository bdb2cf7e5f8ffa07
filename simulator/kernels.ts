/**
 * The kernels a simulated function can run: the software drivers of
 * src/drivers/software.ts compute the exact result, while the simulator only
 * decides how long it takes. `work` is the size the throughput applies to:
 * payload bytes for CRC32/SHA-256, the iteration count n for factorial and
 * fibonacci (one loop step per item).
 *
 * A profile measured from a GPU (`vfun sim calibrate --device webgpu`) names
 * its functions' kernels `twin:<fn>`: the software twin of GPU function
 * `fn` (src/drivers/twins), whose work is its operations (`KernelTwin.work`).
 */
import type { DriverMeta } from '../src/drivers/driver.js';
import { Crc32Driver, FactorialDriver, FibonacciDriver, Sha256Driver } from '../src/drivers/software.js';
import { TwinDriver } from '../src/drivers/twins/twin.js';
import { KERNEL_TWINS, kernelTwin } from '../src/drivers/twins/index.js';

/** The simulator's own kernels, which a profile's function may run (besides `twin:<fn>`). */
export const KERNEL_NAMES = ['crc32', 'sha256', 'factorial', 'fibonacci'] as const;
/** The simulator's own kernels (what a simulated device runs). */
export type KernelName = (typeof KERNEL_NAMES)[number];
/** The software twin of a GPU function, as a profile's kernel: `twin:saxpy`. */
export type TwinKernelName = `twin:${string}`;
/** What a profile's function may name as its kernel. */
export type ProfileKernel = KernelName | TwinKernelName;

/** What the throughput of a kernel counts: payload bytes, loop items, or a twin's operations. */
export type WorkUnit = 'bytes' | 'items' | 'ops';

/** A kernel a simulated function runs: its exact software computation and the work one call costs, in `unit`s. */
export interface KernelSpec {
  readonly name: ProfileKernel;
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

const SPECS = new Map<ProfileKernel, KernelSpec>(KERNEL_NAMES.map((k) => [k, spec(k)]));

/** Whether `name` is one of the simulator's own kernels. */
export function isSimKernel(name: string): name is KernelName {
  return (KERNEL_NAMES as readonly string[]).includes(name);
}

/** Every kernel a profile may name: the simulator's, then `twin:<fn>` for each GPU function. */
export function profileKernelNames(): ProfileKernel[] {
  return [...KERNEL_NAMES, ...Object.keys(KERNEL_TWINS).map((n): TwinKernelName => `twin:${n}`)];
}

/** The twin kernel `twin:<fn>`, built on first use; undefined for an unknown GPU function. */
function twinSpec(name: TwinKernelName): KernelSpec | undefined {
  const twin = kernelTwin(name.slice('twin:'.length));
  if (twin === undefined) return undefined;
  const driver = new TwinDriver(twin);
  const s: KernelSpec = { name, unit: 'ops', meta: driver.meta, compute: (i, o) => driver.call(i, o), work: (i) => twin.work(i).ops };
  SPECS.set(name, s);
  return s;
}

/** The spec of a kernel a profile names (profiles are validated: the name is known). */
export function kernelSpec(name: ProfileKernel): KernelSpec {
  const s = SPECS.get(name) ?? (isSimKernel(name) ? undefined : twinSpec(name));
  if (s === undefined) throw new RangeError(`no kernel '${name}' (kernels: ${profileKernelNames().join(', ')})`);
  return s;
}

/** The work unit a kernel's throughput is given in. */
export function kernelUnit(name: ProfileKernel): WorkUnit {
  return kernelSpec(name).unit;
}

/** Metadata of the software kernel (input sizes, largest output). */
export function kernelMeta(name: ProfileKernel): DriverMeta {
  return kernelSpec(name).meta;
}
