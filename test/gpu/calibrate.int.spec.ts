/**
 * `vfun sim calibrate --device webgpu` and `vfun gpu info` on this host's real
 * adapter (lavapipe in CI: `npm test`'s pretest installs it). Without an
 * adapter these tests fail: the GPU path is part of what CI checks.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { calibrateWebGpu } from '../../src/gpu/calibrate.js';
import { gpuKernelNames } from '../../src/gpu/kernels/index.js';
import { loadProfile } from '../../simulator/profile.js';

const run = promisify(execFile);
const VFUN = join(import.meta.dirname, '../../dist/src/cli/main.js');

describe('calibration on the real adapter', () => {
  it('measures every GPU function with a sample input and writes a profile the simulator loads', async () => {
    const c = await calibrateWebGpu({ reps: 3, sweep: [16, 4 << 10, 64 << 10], command: 'test', now: new Date('2026-12-07T00:00:00Z') });
    expect(c.skipped).toEqual([]);
    expect(c.fit.kernels.map((k) => k.name)).toEqual(gpuKernelNames());
    for (const k of c.fit.kernels) {
      expect(k.launchMicros, k.name).toBeGreaterThan(0);
      expect(k.loadMs, k.name).toBeGreaterThan(0);
    }
    expect(c.fit.transferNanosPerByte).toBeGreaterThanOrEqual(0);
    const dir = await mkdtemp(join(tmpdir(), 'vfun-calibrate-'));
    try {
      const file = join(dir, 'webgpu.json');
      const { stdout } = await run(process.execPath, [VFUN, 'sim', 'calibrate', '--device', 'webgpu', '--reps', '2', '-o', file, '--json']);
      const out = JSON.parse(stdout) as { file: string; adapter: { software: boolean }; softwareLabel: string | null };
      expect(out.file).toBe(file);
      const p = await loadProfile(file);
      expect(Object.keys(p.functions)).toEqual(gpuKernelNames());
      expect(p.sources[`functions.${gpuKernelNames()[0]}.launchMicros`]).toContain('vfun sim calibrate --device webgpu --reps 2');
      expect(out.softwareLabel !== null).toBe(out.adapter.software);
      expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(p);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('vfun gpu info names the adapter (exit 0) or, forced without one, the reason and what to run (exit 1)', async () => {
    const { stdout } = await run(process.execPath, [VFUN, 'gpu', 'info', '--json']);
    const info = JSON.parse(stdout) as { ok: boolean; identity: { vendor: string }; functions: { name: string }[]; loadMs: number; probeMs: number };
    expect(info.ok).toBe(true);
    expect(info.functions.map((f) => f.name)).toEqual(gpuKernelNames());
    expect(info.probeMs).toBeGreaterThan(0);
    const off = await run(process.execPath, [VFUN, 'gpu', 'info'], { env: { ...process.env, VIRTFUN_WEBGPU: 'off' } }).then(
      () => ({ code: 0, stdout: '' }),
      (e: { code: number; stdout: string }) => e,
    );
    expect(off.code).toBe(1);
    expect(off.stdout).toContain('no WebGPU adapter: WebGPU is turned off on this host (VIRTFUN_WEBGPU=off)');
    expect(off.stdout).toContain('remedy: unset VIRTFUN_WEBGPU (it is set to off)');
    expect(off.stdout).not.toContain('setup:gpu');
  });

  it('vfun gpu info --json, turned off: the remedy is to unset the variable, not the set-up script', async () => {
    const off = await run(process.execPath, [VFUN, 'gpu', 'info', '--json'], { env: { ...process.env, VIRTFUN_WEBGPU: 'off' } }).then(
      () => ({ code: 0, stdout: '' }),
      (e: { code: number; stdout: string }) => e,
    );
    expect(off.code).toBe(1);
    expect(JSON.parse(off.stdout)).toMatchObject({ ok: false, cause: { kind: 'turned-off', setting: 'off' }, remedy: 'unset VIRTFUN_WEBGPU (it is set to off)' });
  });

  it('vfun gpu info without a Vulkan driver (forced: VK_ICD_FILENAMES names none): no adapter, said once, and npm run setup:gpu', async () => {
    const none = await run(process.execPath, [VFUN, 'gpu', 'info', '--json'], { env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' } }).then(
      () => ({ code: 0, stdout: '' }),
      (e: { code: number; stdout: string }) => e,
    );
    expect(none.code).toBe(1);
    const info = JSON.parse(none.stdout.slice(none.stdout.indexOf('{'))) as { cause: { kind: string }; reason: string; remedy: string };
    expect(info).toMatchObject({ cause: { kind: 'no-adapter' }, remedy: 'npm run setup:gpu' });
    expect(info.reason).not.toMatch(/no webgpu adapter/i);
  });
});
