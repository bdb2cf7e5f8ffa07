/**
 * What this host can do with WebGPU, as `vfun gpu info` shows it and the GPU
 * bench and calibration record it: the adapter's identity and limits (or why
 * there is none, and what to run), whether it is a software implementation,
 * the GPU functions of the registry, and how long loading Dawn and probing
 * the adapter took.
 */
import type { AdapterIdentity } from '../domain/types.js';
import { GPU_KERNELS } from './kernels/index.js';
import { remedyOf, type UnavailableCause } from './unavailable.js';
import { loadWebGpu, probeAdapter, type AdapterLimits } from './webgpu.js';

/** What to run on a host without an adapter (Debian): the Vulkan loader and a Mesa new enough for Dawn. */
export { GPU_SETUP_COMMAND } from './unavailable.js';

/** One GPU function of the registry, by its software twin's format. */
export interface GpuFunctionInfo {
  readonly name: string;
  readonly version: string;
  /** The format's one-line description. */
  readonly description: string;
}

export type GpuInfo =
  | {
      readonly ok: true;
      readonly identity: AdapterIdentity;
      readonly limits: AdapterLimits;
      /** Set for a software adapter: what its figures are worth. */
      readonly softwareLabel: string | null;
      /** Time to import Dawn's bindings and create its instance, ms. */
      readonly loadMs: number;
      /** Time to request the adapter, ms. */
      readonly probeMs: number;
      readonly functions: readonly GpuFunctionInfo[];
    }
  | {
      readonly ok: false;
      readonly reason: string;
      /** Why, typed: what `remedy` follows from. */
      readonly cause: UnavailableCause;
      /** What to do to get an adapter (a command, or unsetting VIRTFUN_WEBGPU). */
      readonly remedy: string;
      /** What the remedy does. */
      readonly remedyWhy: string;
      readonly loadMs: number;
      readonly functions: readonly GpuFunctionInfo[];
    };

/**
 * The label of a software adapter (null for a GPU): lavapipe (Mesa's llvmpipe behind Vulkan) by
 * name, any other CPU implementation by its device name.
 */
export function softwareLabel(identity: AdapterIdentity): string | null {
  if (!identity.software) return null;
  if (/llvmpipe|lavapipe/i.test(`${identity.device} ${identity.description}`)) return 'software Vulkan (lavapipe): figures say nothing about a real GPU';
  return `software adapter (${identity.device || identity.description || 'a CPU implementation'}): figures say nothing about a real GPU`;
}

/** A one-line name of an adapter: `mesa llvmpipe (LLVM 15.0.6, 256 bits) [software Vulkan (lavapipe)]`. */
export function adapterName(identity: AdapterIdentity): string {
  const what = [identity.vendor, identity.description || identity.device].filter((s) => s !== '').join(' ');
  return identity.software ? `${what} [software]` : what;
}

/** The GPU functions of the registry (pure). */
export function gpuFunctions(): GpuFunctionInfo[] {
  return Object.entries(GPU_KERNELS).map(([name, k]) => ({ name, version: k.twin.version, description: k.twin.description }));
}

/** Load Dawn, probe the adapter, list the functions. Never throws for a host that cannot do WebGPU. */
export async function gpuInfo(): Promise<GpuInfo> {
  const t0 = performance.now();
  await loadWebGpu();
  const loadMs = performance.now() - t0;
  const probe = await probeAdapter();
  const functions = gpuFunctions();
  if (!probe.ok) {
    const remedy = remedyOf(probe.cause);
    return { ok: false, reason: probe.reason, cause: probe.cause, remedy: remedy.action, remedyWhy: remedy.why, loadMs, functions };
  }
  return { ok: true, identity: probe.identity, limits: probe.limits, softwareLabel: softwareLabel(probe.identity), loadMs, probeMs: probe.probeMs, functions };
}

const ms = (x: number): string => `${x.toFixed(1)} ms`;

/** `vfun gpu info` as text (pure). */
export function formatGpuInfo(info: GpuInfo): string {
  const fns = info.functions.map((f) => `  ${f.name.padEnd(14)} v${f.version}  ${f.description}`);
  if (!info.ok) {
    return [
      `no WebGPU adapter: ${info.reason}`,
      `remedy: ${info.remedy}   (${info.remedyWhy})`,
      `load: ${ms(info.loadMs)}`,
      '',
      `GPU functions (on this host they nack; guests fall back to their software twins):`,
      ...fns,
    ].join('\n');
  }
  const { identity: id, limits: l } = info;
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
  return [
    `adapter:       ${adapterName(id)}`,
    `  vendor:        ${id.vendor || '-'}`,
    `  architecture:  ${id.architecture || '-'}`,
    `  device:        ${id.device || '-'}`,
    `  driver:        ${id.description || '-'}`,
    `  software:      ${info.softwareLabel ?? 'no (a GPU)'}`,
    `limits:        storage binding ${mib(l.maxStorageBufferBindingSize)}, buffer ${mib(l.maxBufferSize)}, ` +
      `${l.maxComputeWorkgroupsPerDimension} workgroups per dimension, ${l.maxComputeInvocationsPerWorkgroup} invocations per workgroup`,
    `load:          ${ms(info.loadMs)} (Dawn)   probe: ${ms(info.probeMs)} (adapter)`,
    '',
    'GPU functions:',
    ...fns,
  ].join('\n');
}
