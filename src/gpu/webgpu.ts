/**
 * WebGPU on this host: the optional `webgpu` package (Dawn's Node bindings),
 * loaded on first use only, and the adapter it finds (a GPU through its
 * Vulkan driver, or Mesa's software Vulkan, lavapipe, on a host without one).
 *
 * Nothing here throws for a host that cannot do WebGPU: `probeAdapter` says
 * why (the package is not installed, no Vulkan loader, no adapter, or the
 * operator turned WebGPU off with VIRTFUN_WEBGPU=off), and the GPU functions
 * nack with that reason so guests fall back to software.
 */
import type { AdapterIdentity } from '../domain/types.js';
import { messageOf } from '../errors.js';
import { reasonOf, WEBGPU_ENV, type UnavailableCause } from './unavailable.js';

export type { AdapterIdentity } from '../domain/types.js';
export type { UnavailableCause } from './unavailable.js';
/** Set to `off` (or `0`) to behave as a host without any adapter (tests, or an operator keeping the GPU for others). */
export { WEBGPU_ENV } from './unavailable.js';

/** No usable adapter: the reason as text and its typed cause (unavailable.ts says what to do about it). */
export interface Unavailable {
  readonly error: string;
  readonly cause: UnavailableCause;
}

const unavailable = (cause: UnavailableCause): Unavailable => ({ error: reasonOf(cause), cause });

/** The limits a kernel is bounded by (bytes and workgroups). */
export interface AdapterLimits {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
}

export type AdapterProbe =
  | { readonly ok: true; readonly identity: AdapterIdentity; readonly limits: AdapterLimits; readonly probeMs: number }
  | { readonly ok: false; readonly reason: string; readonly cause: UnavailableCause };

interface WebGpuModule {
  create(options: string[]): GPU;
  globals: Record<string, unknown>;
}

/** Whether the operator turned WebGPU off for this process (VIRTFUN_WEBGPU=off). */
export function webgpuDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env[WEBGPU_ENV]?.trim().toLowerCase();
  return v === 'off' || v === '0' || v === 'false';
}

let loading: Promise<{ gpu: GPU } | Unavailable> | undefined;

/**
 * The process's GPU entry point, or why there is none. The package is imported once per process
 * (Dawn keeps one instance per process); its globals (GPUBufferUsage, GPUMapMode, …) are installed
 * on globalThis, where WGSL host code expects them.
 */
export function loadWebGpu(): Promise<{ gpu: GPU } | Unavailable> {
  if (webgpuDisabled()) return Promise.resolve(unavailable({ kind: 'turned-off', setting: process.env[WEBGPU_ENV] ?? '' }));
  return (loading ??= (async () => {
    try {
      const m = (await import('webgpu')) as unknown as WebGpuModule;
      Object.assign(globalThis, m.globals);
      return { gpu: m.create([]) };
    } catch (e) {
      return unavailable({ kind: 'package-missing', detail: messageOf(e) });
    }
  })());
}

/** The identity of an adapter, from its `info`. */
export function identityOf(adapter: GPUAdapter): AdapterIdentity {
  const i = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const software = i.isFallbackAdapter === true || i.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(`${i.device} ${i.description}`);
  return { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, software };
}

/** The adapter's limits that bound the kernels. */
export function limitsOf(adapter: GPUAdapter): AdapterLimits {
  const l = adapter.limits;
  return {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
  };
}

/** The high-performance adapter, or why there is none. */
export async function requestAdapter(): Promise<{ adapter: GPUAdapter } | Unavailable> {
  const w = await loadWebGpu();
  if ('error' in w) return w;
  let adapter: GPUAdapter | null;
  try {
    adapter = await w.gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return unavailable({ kind: 'adapter-failed', detail: messageOf(e) });
  }
  return adapter === null ? unavailable({ kind: 'no-adapter' }) : { adapter };
}

/** Is there a usable adapter, and which? (Opens no device.) */
export async function probeAdapter(): Promise<AdapterProbe> {
  const t0 = performance.now();
  const r = await requestAdapter();
  if ('error' in r) return { ok: false, reason: r.error, cause: r.cause };
  return { ok: true, identity: identityOf(r.adapter), limits: limitsOf(r.adapter), probeMs: performance.now() - t0 };
}
