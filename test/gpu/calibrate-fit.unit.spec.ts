/**
 * Calibration's fitting (src/gpu/calibrate-fit.ts) on synthetic timings drawn
 * from known figures: it recovers the transfer cost from the memory-bound
 * kernel's sweep, each kernel's launch overhead and throughput; the profile
 * it writes validates with the simulator's own parser, with a measured source
 * for every figure, and re-times a trace with `replay-trace --fn`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { fitCalibration, leastSquares, MAX_OPS_PER_SECOND, median, quantile, type KernelTimings } from '../../src/gpu/calibrate-fit.js';
import { calibratedProfile, profileNameOf } from '../../src/gpu/calibrate.js';
import { gpuKernelNames } from '../../src/gpu/kernels/index.js';
import { formatReplay, replayTrace } from '../../src/paper/replay-trace.js';
import { figurePaths, loadProfile, parseProfile, sourceFor, SimDevice, VirtualClock, type DeviceProfile } from '../../simulator/index.js';
import { ValidationError } from '../../src/errors.js';

const LAVAPIPE = { vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15', description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)', software: true };
const GPU = { vendor: 'nvidia', architecture: 'ampere', device: 'NVIDIA A10', description: 'NVIDIA 550.54', software: false };

/** Timings of a kernel that moves `bytesPerUnit` and computes `opsPerUnit` per unit of size, with the given figures and no noise. */
function synthetic(name: string, units: readonly number[], f: { launchNs: number; nsPerByte: number; opsPerSecond: number; bytesPerUnit: number; opsPerUnit: number }, reps = 3): KernelTimings {
  return {
    name,
    prepareMs: [2, 1, 3],
    sizes: units.map((u) => {
      const bytesIn = 4 + f.bytesPerUnit * u;
      const bytesOut = 4 * u;
      const ops = f.opsPerUnit * u;
      const t = f.launchNs + f.nsPerByte * (bytesIn + bytesOut) + (ops * 1e9) / f.opsPerSecond;
      return { bytesIn, bytesOut, ops, ns: Array.from({ length: reps }, () => t) };
    }),
  };
}

describe('the statistics', () => {
  it('median and quantiles pick values of the sample; least squares fits a line exactly', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2);
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)).toBe(9);
    expect(leastSquares([{ x: 1, y: 5 }, { x: 2, y: 7 }, { x: 4, y: 11 }])).toEqual({ slope: 2, intercept: 3 });
    expect(leastSquares([{ x: 3, y: 1 }, { x: 3, y: 2 }]).slope).toBe(0);
  });
});

describe('fitCalibration', () => {
  test.prop([
    fc.double({ min: 1_000, max: 200_000, noNaN: true }),
    fc.double({ min: 0.01, max: 5, noNaN: true }),
    fc.double({ min: 1e7, max: 1e12, noNaN: true }),
    fc.double({ min: 1_000, max: 200_000, noNaN: true }),
  ])('recovers transfer from the memory-bound kernel, and each kernel\'s launch and throughput', (launchA, nsPerByte, rate, launchB) => {
    const units = [1, 1_000, 16_000, 128_000];
    // "stream" moves 8 B in and 4 B out per element for 2 operations, and its compute is free: all transfer.
    const stream = synthetic('stream', units, { launchNs: launchA, nsPerByte, opsPerSecond: Infinity, bytesPerUnit: 8, opsPerUnit: 2 });
    // "dense" moves the same but does 5000 operations per element, at `rate`.
    const dense = synthetic('dense', units, { launchNs: launchB, nsPerByte, opsPerSecond: rate, bytesPerUnit: 8, opsPerUnit: 5_000 });
    const fit = fitCalibration([dense, stream]);
    expect(fit.transferKernel).toBe('stream');
    expect(fit.transferNanosPerByte).toBeCloseTo(nsPerByte, 6);
    const [d, s] = fit.kernels;
    expect(d!.name).toBe('dense');
    expect(d!.launchMicros).toBe(median(dense.sizes[0]!.ns) / 1000);
    expect(d!.computeResolved).toBe(true);
    expect(Math.abs(d!.opsPerSecond - rate) / rate).toBeLessThan(1e-6);
    expect(s!.computeResolved).toBe(false);
    expect(s!.opsPerSecond).toBe(MAX_OPS_PER_SECOND);
    expect(d!.loadMs).toBe(2);
    expect(d!.jitterFraction).toBe(0); // no noise
    expect(d!.maxBytesIn).toBe(4 + 8 * 128_000);
  });

  it('takes the jitter from the spread of the smallest input, and refuses too few timings', () => {
    const k = synthetic('k', [1, 100], { launchNs: 100_000, nsPerByte: 1, opsPerSecond: 1e9, bytesPerUnit: 8, opsPerUnit: 2 });
    const noisy: KernelTimings = { ...k, sizes: [{ ...k.sizes[0]!, ns: [100_000, 100_000, 100_000, 100_000, 100_000, 100_000, 100_000, 100_000, 150_000, 300_000] }, k.sizes[1]!] };
    expect(fitCalibration([noisy]).kernels[0]!.jitterFraction).toBeCloseTo(0.5, 9);
    expect(() => fitCalibration([])).toThrow('no kernel was measured');
    expect(() => fitCalibration([{ ...k, sizes: [k.sizes[0]!] }])).toThrow('k was measured at 1 size(s), needs 2 or more');
  });
});

describe('the calibrated profile', () => {
  const name = gpuKernelNames()[0]!;
  const fitOf = (n: string) =>
    fitCalibration([synthetic(n, [1, 1_000, 100_000], { launchNs: 50_000, nsPerByte: 0.5, opsPerSecond: 2e9, bytesPerUnit: 8, opsPerUnit: 2 })]);
  const provenance = { adapter: LAVAPIPE, command: 'vfun sim calibrate --device webgpu', when: '2026-12-07T17:00:00.000Z', reps: 3 };

  it('validates with the simulator\'s parser; every figure has a source saying it was measured, on which adapter, when, by what', () => {
    const p = calibratedProfile(fitOf(name), provenance);
    expect(parseProfile(JSON.parse(JSON.stringify(p)))).toEqual(p);
    expect(p.name).toBe('webgpu-llvmpipe-llvm-15');
    expect(p.functions[name]!.kernel).toBe(`twin:${name}`);
    expect(p.functions[name]!.opsPerSecond).toBeGreaterThan(0);
    for (const fig of figurePaths(p).filter((f) => f.startsWith('functions.'))) {
      const src = sourceFor(p.sources, fig)!;
      expect(src, fig).toMatch(/^measured: /);
      expect(src, fig).toContain('llvmpipe: Mesa 25.0.7');
      expect(src, fig).toContain('software Vulkan (lavapipe): figures say nothing about a real GPU');
      expect(src, fig).toContain('2026-12-07T17:00:00.000Z');
      expect(src, fig).toContain('`vfun sim calibrate --device webgpu`');
    }
    expect(p.sources.slots).toMatch(/^assumption: /);
    const real = calibratedProfile(fitOf(name), { ...provenance, adapter: GPU });
    expect(real.sources[`functions.${name}.launchMicros`]).not.toContain('software');
    expect(profileNameOf(GPU)).toBe('webgpu-nvidia-a10');
  });

  it('a twin kernel needs opsPerSecond; an unknown GPU function is refused; the simulated device refuses a GPU profile', () => {
    const p = JSON.parse(JSON.stringify(calibratedProfile(fitOf(name), provenance))) as { functions: Record<string, Record<string, unknown>> };
    const f = p.functions[name]!;
    expect(() => parseProfile({ ...p, functions: { [name]: { ...f, opsPerSecond: undefined, bytesPerSecond: 1e9 } } })).toThrow(
      expect.objectContaining({ field: `functions.${name}.opsPerSecond` }),
    );
    expect(() => parseProfile({ ...p, functions: { [name]: { ...f, kernel: 'twin:nosuch' } } })).toThrow("'twin:nosuch' is not a kernel");
    const profile = calibratedProfile(fitOf(name), provenance);
    expect(() => new SimDevice({ profile, clock: new VirtualClock(), seed: 1 })).toThrow(ValidationError);
  });

  it('loads from a file with the simulator\'s loader and re-times a trace on a GPU function (replay-trace --fn)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vfun-calibrated-'));
    try {
      const file = join(dir, 'gpu.json');
      const p: DeviceProfile = calibratedProfile(fitOf(name), provenance);
      await writeFile(file, JSON.stringify(p, null, 2));
      expect(await loadProfile(file)).toEqual(p);
      const trace = join(dir, 'trace-x.jsonl');
      const header = { type: 'virtfun-trace', version: 1, fn: 'factorial', n: 51, reps: 250, instance: '250K x 2k', domain: 'guest-host', driver: 'paper-factorial', calls: 3, t0_ms: 0 };
      const calls = [0, 1, 2].map((i) => ({ i, set_us: i * 100, busy_us: i * 100 + 2, done_us: i * 100 + 72, get_us: i * 100 + 73, in_bytes: 8, out_bytes: 8, status: 'DONE' }));
      await writeFile(trace, [header, ...calls].map((l) => JSON.stringify(l)).join('\n') + '\n');
      await expect(replayTrace({ trace, device: file, out: dir })).rejects.toThrow(`has no function 'factorial' (it has ${name}); choose one with --fn`);
      const r = await replayTrace({ trace, device: file, fn: name, out: dir });
      expect(r.device_fn).toBe(name);
      expect(r.calls).toBe(3);
      // What the profile is (a calibrated one says its adapter), and that the units are the device function's.
      expect(formatReplay(r)).toContain(`profile: ${p.description}`);
      expect(formatReplay(r)).toContain(`note: the calls carry factorial arguments; their work is counted in ${name}'s units`);
      // The device's share: launch + transfer of 16 B + 51·250 operations at the fitted rate, and jitter ≥ 0.
      const fp = p.functions[name]!;
      const floor = fp.launchMicros + (16 * fp.transferNanosPerByte) / 1000 + (51 * 250 * 1e6) / fp.opsPerSecond!;
      expect(r.predicted.min).toBeGreaterThanOrEqual(Math.floor((3 + floor) * 1000) / 1000 - 0.002); // channel: 3 µs
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
