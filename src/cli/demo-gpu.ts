/**
 * The GPU part of `vfun demo --device webgpu`: the host's WebGPU adapter as
 * vFunD probed it, then each GPU function through the four phases (the
 * activation compiles its pipelines: the adapter and the time are what
 * activation.acked journals), its result checked against the software twin,
 * and the release. Without a usable adapter, the same steps show the
 * hardware nack (`device-unavailable`) and the guest's software fallback.
 */
import type { VFunDConfig } from '../actors/config.js';
import type { VFunD } from '../actors/vfund.js';
import type { VFunDState } from '../actors/state.js';
import type { VFunction } from '../guest/vfunction.js';
import { KERNEL_TWINS } from '../drivers/twins/index.js';
import { gpuKernelNames } from '../gpu/kernels/index.js';
import { sampleInput } from '../gpu/samples.js';

/** The GPU device and functions the demo adds: each GPU function in hardware on `gpu0`, its twin in software. */
export function gpuDemoConfig(base: VFunDConfig): Pick<VFunDConfig, 'functions' | 'devices'> {
  return {
    functions: [...base.functions, ...gpuKernelNames().map((name) => ({ name, kinds: { hw: { device: 'gpu0' }, sw: { slots: 4, driver: name } } }))],
    // Cross-check 1 call in 4 against the software twin: a mismatch would be journaled.
    devices: [...(base.devices ?? []), { name: 'gpu0', type: 'webgpu' as const, slots: 2, crossCheck: 4 }],
  };
}

/** Where an instance of `fn` in hardware runs, for the demo's lines. */
export function hardwareOf(state: VFunDState, fn: string): string {
  const device = state.config?.functions.find((f) => f.name === fn)?.kinds.hw?.device;
  const d = state.config?.devices?.find((x) => x.name === device);
  if (d?.type !== 'webgpu') return 'hardware (simulated FPGA)';
  const a = state.devices[d.name]?.adapter;
  return `hardware: WebGPU ${d.name}${a ? ` (${a.vendor}/${a.architecture}${a.software ? ', software Vulkan' : ''})` : ''}`;
}

/** Call `vf` `n` times with `input`: the last result and the median time per call, in µs. */
export function timedCalls(vf: VFunction, input: Uint8Array, n: number): { result: Uint8Array; medianUs: number } {
  const times: number[] = [];
  let result: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    result = vf.call(input);
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  return { result, medianUs: times[Math.floor(n / 2)]! * 1000 };
}

type Open = (tenant: 'acme', app: string, fn: string, kind: 'hw' | 'sw') => Promise<VFunction | null>;

/** About this many bytes of input per GPU function: well inside the demo's 64 KiB regions, results included. */
const DEMO_INPUT_BYTES = 24 * 1024;

/** A valid input for GPU function `fn` (the calibration's and the bench's sample inputs, src/gpu/samples.ts). */
export function demoInput(fn: string): Uint8Array {
  const sample = sampleInput(fn);
  if (sample === undefined) throw new RangeError(`no sample input for GPU function '${fn}'`);
  return sample(DEMO_INPUT_BYTES);
}

export async function gpuDemo<R>(vfund: VFunD<R>, open: Open, out: (line: string) => void): Promise<void> {
  const probe = vfund.snapshot.devices['gpu0'];
  out('\n-- GPU functions on this host\'s WebGPU adapter (device gpu0)');
  if (probe?.available && probe.adapter) {
    const a = probe.adapter;
    out(`  adapter: ${a.vendor} / ${a.architecture} / ${a.device}: ${a.description}`);
    if (a.software) out('  (a software Vulkan implementation running on the CPU: its figures say nothing about a real GPU)');
  } else {
    out(`  no usable adapter: ${probe?.detail ?? 'not probed'}; the GPU functions are nacked and fall back to software (vfun gpu info says what to do)`);
  }
  const prepared = new Map<string, string>();
  const unsubscribe = vfund.subscribe((envs) => {
    for (const e of envs) {
      if (e.type === 'activation.acked' && e.data.driver) {
        const d = e.data.driver;
        prepared.set(e.data.instance, `activation compiled the pipelines and allocated the buffers in ${d.prepareMs.toFixed(1)} ms on ${d.adapter.vendor}/${d.adapter.architecture} (journaled in activation.acked)`);
      }
    }
  });
  try {
    for (const fn of gpuKernelNames()) {
      const twin = KERNEL_TWINS[fn]!;
      const input = demoInput(fn);
      const hw = await open('acme', `gpu-${fn}`, fn, 'hw');
      if (!hw) continue;
      const note = prepared.get(hw.instance);
      if (note) out(`  [acme/gpu-${fn}/${fn}] ${note}`);
      const expected = new Uint8Array(twin.outputBytes(input));
      twin.compute(input, expected);
      const { result: got, medianUs } = timedCalls(hw, input, 20);
      const verdict = twin.compare(input, expected, got);
      out(`  ${fn} (${input.byteLength} B in, ${got.byteLength} B out): ${verdict === null ? 'agrees with the software twin' : `DIFFERS from the software twin: ${verdict}`}; median ${medianUs.toFixed(0)} µs per call over 20 calls`);
      const stats = await hw.release();
      out(`  [acme/gpu-${fn}/${fn}] released after ${stats.calls} calls`);
    }
  } finally {
    unsubscribe();
  }
}
