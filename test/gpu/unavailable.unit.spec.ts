/**
 * The remedy follows the cause (turned off, package missing, no adapter),
 * and the reasons read once behind `vfun gpu info`'s "no WebGPU adapter:".
 */
import { fc, it as prop } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { formatGpuInfo, gpuFunctions, type GpuInfo } from '../../src/gpu/info.js';
import { GPU_SETUP_COMMAND, OPTIONAL_INSTALL_COMMAND, reasonOf, remedyOf, type UnavailableCause } from '../../src/gpu/unavailable.js';

const detail = fc.string({ maxLength: 40 });
const cause: fc.Arbitrary<UnavailableCause> = fc.oneof(
  fc.constantFrom('off', '0', 'false', 'OFF').map((setting) => ({ kind: 'turned-off' as const, setting })),
  detail.map((d) => ({ kind: 'package-missing' as const, detail: d })),
  fc.constant({ kind: 'no-adapter' as const }),
  detail.map((d) => ({ kind: 'adapter-failed' as const, detail: d })),
  detail.map((d) => ({ kind: 'probe-failed' as const, detail: d })),
);

function infoOf(c: UnavailableCause): GpuInfo {
  const r = remedyOf(c);
  return { ok: false, reason: reasonOf(c), cause: c, remedy: r.action, remedyWhy: r.why, loadMs: 1, functions: gpuFunctions() };
}

describe('remedyOf', () => {
  it('turned off: unset the variable, naming its value; never the set-up script', () => {
    expect(remedyOf({ kind: 'turned-off', setting: 'off' }).action).toBe('unset VIRTFUN_WEBGPU (it is set to off)');
    expect(reasonOf({ kind: 'turned-off', setting: 'off' })).toContain('VIRTFUN_WEBGPU=off');
  });

  it('the package missing or not loadable: install the version VirtFun is tested with, never an unpinned npm install webgpu', () => {
    const c: UnavailableCause = { kind: 'package-missing', detail: "Cannot find package 'webgpu'" };
    expect(remedyOf(c).action).toBe('npm install webgpu@0.6.2');
    expect(reasonOf(c)).toContain(OPTIONAL_INSTALL_COMMAND);
    expect(reasonOf(c)).toContain("Cannot find package 'webgpu'");
  });

  it('no adapter (no Vulkan loader or driver, or a Mesa too old): npm run setup:gpu', () => {
    expect(remedyOf({ kind: 'no-adapter' }).action).toBe(GPU_SETUP_COMMAND);
    expect(remedyOf({ kind: 'adapter-failed', detail: 'vkCreateInstance failed' }).action).toBe(GPU_SETUP_COMMAND);
    expect(reasonOf({ kind: 'no-adapter' })).toContain('npm run setup:gpu');
  });

  prop.prop([cause])('no cause is answered with an unpinned npm install webgpu, and only a missing adapter with the set-up script', (c) => {
    const r = remedyOf(c);
    // Every `npm install webgpu` said names the version VirtFun is tested with.
    expect(`${r.action} ${r.why} ${reasonOf(c)}`).not.toMatch(/npm install webgpu(?!@0\.6\.2)/);
    expect(r.action === GPU_SETUP_COMMAND).toBe(c.kind === 'no-adapter' || c.kind === 'adapter-failed');
  });

  prop.prop([cause])('vfun gpu info says "no WebGPU adapter" once, and shows the remedy of the cause', (c) => {
    const text = formatGpuInfo(infoOf(c));
    expect(text.match(/no webgpu adapter/gi)).toHaveLength(1);
    expect(text).toContain(`remedy: ${remedyOf(c).action}`);
  });
});
