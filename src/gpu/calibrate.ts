/**
 * `vfun sim calibrate --device webgpu`: time every GPU function of the
 * registry on this host's WebGPU device (the prepared kernel called
 * directly, no channel), fit the simulator's figures (calibrate-fit.ts) and
 * write them as a device profile whose sources say they were measured, on
 * which adapter, when and with what command. The profile loads with the
 * simulator's loader and re-times traces with `vfun replay-trace --device
 * <file> --fn <gpu function>`.
 */
import { VirtFunError } from '../errors.js';
import { parseProfile, type DeviceProfile } from '../../simulator/profile.js';
import type { AdapterIdentity } from '../domain/types.js';
import { fitCalibration, MAX_OPS_PER_SECOND, median, type CalibrationFit, type KernelTimings, type SizeTiming } from './calibrate-fit.js';
import { adapterName, softwareLabel } from './info.js';
import { GPU_KERNELS } from './kernels/index.js';
import { sampleInput } from './samples.js';
import { remedyOf, type UnavailableCause } from './unavailable.js';
import { identityOf, requestAdapter } from './webgpu.js';

/** No WebGPU adapter on this host: nothing to measure. */
export class NoAdapterError extends VirtFunError {
  override readonly name = 'NoAdapterError';
  constructor(
    readonly reason: string,
    readonly unavailable: UnavailableCause,
  ) {
    super('DRIVER', `no WebGPU adapter to calibrate: ${reason}; remedy: ${remedyOf(unavailable).action} (vfun gpu info says more)`);
  }
}

/** Input sizes of the sweep, bytes (each kernel's format rounds them; a sweep stops past `maxCallMs`). */
export const DEFAULT_SWEEP = [16, 4 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20];
export const DEFAULT_REPS = 15;
/** A kernel's sweep stops after the first size whose median call passes this (ms). */
export const DEFAULT_MAX_CALL_MS = 150;

export interface CalibrateOptions {
  readonly reps?: number;
  readonly sweep?: readonly number[];
  readonly maxCallMs?: number;
  /** The command line to record in the sources. */
  readonly command: string;
  readonly now?: Date;
  /** Progress lines (stderr in the CLI). */
  readonly log?: (line: string) => void;
}

export interface Calibration {
  readonly profile: DeviceProfile;
  readonly fit: CalibrationFit;
  readonly adapter: AdapterIdentity;
  readonly softwareLabel: string | null;
  readonly timings: readonly KernelTimings[];
  /** GPU functions of the registry that were not measured, and why. */
  readonly skipped: readonly { readonly name: string; readonly reason: string }[];
}

/** Time one prepared kernel over the sweep; the result is checked against the twin once per size. */
async function measure(device: GPUDevice, name: string, o: Required<Omit<CalibrateOptions, 'now' | 'log'>>, log: (s: string) => void): Promise<KernelTimings | string> {
  const k = GPU_KERNELS[name]!;
  const sample = sampleInput(name);
  if (sample === undefined) return 'no sample input for its format (src/gpu/samples.ts)';
  const inputs = o.sweep.map((b) => sample(b)).filter((i) => i.byteLength <= k.twin.input.maxBytes);
  const maxIn = Math.max(...inputs.map((i) => i.byteLength));
  const prepareMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const p = await k.prepare(device, maxIn);
    prepareMs.push(performance.now() - t0);
    p.destroy();
  }
  const prepared = await k.prepare(device, maxIn);
  const sizes: SizeTiming[] = [];
  try {
    for (const input of inputs) {
      const out = new Uint8Array(k.twin.outputBytes(input));
      const want = new Uint8Array(out.byteLength);
      k.twin.compute(input, want);
      await prepared.run(input, out);
      const wrong = k.twin.compare(input, want, out);
      if (wrong !== null) throw new VirtFunError('DRIVER', `calibration: ${name} on the GPU disagrees with its twin: ${wrong}`);
      const ns: number[] = [];
      for (let r = 0; r < o.reps; r++) {
        const t0 = performance.now();
        await prepared.run(input, out);
        ns.push((performance.now() - t0) * 1e6);
      }
      const w = k.twin.work(input);
      sizes.push({ bytesIn: w.bytesIn, bytesOut: w.bytesOut, ops: w.ops, ns });
      log(`  ${name}: ${input.byteLength} B in, median ${(median(ns) / 1000).toFixed(1)} µs`);
      if (median(ns) / 1e6 > o.maxCallMs && sizes.length >= 2) break;
    }
  } finally {
    prepared.destroy();
  }
  return { name, prepareMs, sizes };
}

/** Measure every GPU function on this host's adapter and build the profile. Throws NoAdapterError without one. */
export async function calibrateWebGpu(options: CalibrateOptions): Promise<Calibration> {
  const o = { reps: options.reps ?? DEFAULT_REPS, sweep: options.sweep ?? DEFAULT_SWEEP, maxCallMs: options.maxCallMs ?? DEFAULT_MAX_CALL_MS, command: options.command };
  const log = options.log ?? (() => undefined);
  const a = await requestAdapter();
  if ('error' in a) throw new NoAdapterError(a.error, a.cause);
  const adapter = identityOf(a.adapter);
  const device = await a.adapter.requestDevice();
  const timings: KernelTimings[] = [];
  const skipped: { name: string; reason: string }[] = [];
  try {
    log(`calibrating on ${adapterName(adapter)}`);
    for (const name of Object.keys(GPU_KERNELS)) {
      const t = await measure(device, name, o, log);
      if (typeof t === 'string') skipped.push({ name, reason: t });
      else timings.push(t);
    }
  } finally {
    device.destroy();
  }
  const fit = fitCalibration(timings);
  const profile = calibratedProfile(fit, { adapter, command: o.command, when: (options.now ?? new Date()).toISOString(), reps: o.reps });
  return { profile, fit, adapter, softwareLabel: softwareLabel(adapter), timings, skipped };
}

/** What the sources of a calibrated profile say about its measurement. */
export interface Provenance {
  readonly adapter: AdapterIdentity;
  readonly command: string;
  /** ISO time of the measurement. */
  readonly when: string;
  readonly reps: number;
}

const round = (x: number, digits = 4): number => Number(x.toPrecision(digits));

/** A profile name from an adapter: `webgpu-llvmpipe`. */
export function profileNameOf(adapter: AdapterIdentity): string {
  const slug = (adapter.device || adapter.architecture || adapter.vendor || 'adapter').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40);
  return `webgpu-${slug || 'adapter'}`;
}

/** The simulator profile of a fit (pure), validated by the simulator's own parser. */
export function calibratedProfile(fit: CalibrationFit, p: Provenance): DeviceProfile {
  const label = softwareLabel(p.adapter);
  const on = `on ${adapterName(p.adapter)} (vendor ${p.adapter.vendor || '-'}, architecture ${p.adapter.architecture || '-'}, device ${p.adapter.device || '-'}${label !== null ? `; ${label}` : ''}), ${p.when}, \`${p.command}\``;
  const functions: Record<string, DeviceProfile['functions'][string]> = {};
  const sources: Record<string, string> = {
    slots: 'assumption: one slot, the device\'s one queue: calls run one after another (not measured)',
  };
  for (const k of fit.kernels) {
    const base = `functions.${k.name}`;
    functions[k.name] = {
      kernel: `twin:${k.name}`,
      loadMs: round(k.loadMs),
      launchMicros: round(k.launchMicros),
      opsPerSecond: round(k.opsPerSecond),
      transferNanosPerByte: round(fit.transferNanosPerByte),
      jitter: { kind: 'uniform', fraction: round(k.jitterFraction, 3) },
    };
    sources[`${base}.loadMs`] = `measured: median time of prepare (pipelines compiled, buffers allocated for ${k.maxBytesIn} B), 3 runs ${on}`;
    sources[`${base}.launchMicros`] = `measured: median time of a call with the smallest input, ${p.reps} repetitions ${on}`;
    sources[`${base}.transferNanosPerByte`] = `measured: least-squares slope of the median call time over the bytes moved (input + output) in a sweep of ${fit.transferKernel} (the memory-bound kernel), ${p.reps} repetitions per size ${on}`;
    sources[`${base}.opsPerSecond`] = k.computeResolved
      ? `measured: least-squares slope of the time left after launch and transfer over the operations of KernelTwin.work, sizes up to ${k.maxBytesIn} B ${on}`
      : `measured: nothing left after launch and transfer in the sweep up to ${k.maxBytesIn} B (the kernel's time is its transfer), so the largest rate, ${MAX_OPS_PER_SECOND} ops/s ${on}`;
    sources[`${base}.jitter`] = `measured: (p90 - p50) / p50 of the smallest input's call times ${on}`;
  }
  const what = label !== null ? `${label}` : 'a GPU';
  return parseProfile(
    {
      name: profileNameOf(p.adapter),
      description: `Measured from the WebGPU adapter ${adapterName(p.adapter)} (${what}) by \`${p.command}\` at ${p.when}: the GPU functions as the simulator models them.`,
      slots: 1,
      functions,
      sources,
    },
    'calibration',
  );
}
