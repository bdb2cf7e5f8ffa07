/**
 * Entry of the probe process (probe-process.ts): find the WebGPU adapter,
 * print what was found as one JSON line (an AdapterProbe), exit. vFunD runs
 * this in a child so that no GPU driver is ever loaded into its own process:
 * a Vulkan driver that crashes or hangs costs a probe, not vFunD.
 */
import { probeAdapter } from './webgpu.js';
import { messageOf } from '../errors.js';

try {
  const probe = await probeAdapter();
  process.stdout.write(`${JSON.stringify(probe)}\n`);
} catch (e) {
  process.stdout.write(`${JSON.stringify({ ok: false, reason: `probe failed: ${messageOf(e)}` })}\n`);
}
// Dawn's threads do not keep a probe alive.
process.exit(0);
