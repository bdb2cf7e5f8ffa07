/**
 * Entry of the probe process (probe-process.ts): find the WebGPU adapter,
 * print what was found as one JSON line (an AdapterProbe), exit. vFunD runs
 * this in a child so that no GPU driver is ever loaded into its own process:
 * a Vulkan driver that crashes or hangs costs a probe, not vFunD.
 */
import { probeAdapter } from './webgpu.js';
import { messageOf } from '../errors.js';
import { reasonOf, type UnavailableCause } from './unavailable.js';

try {
  const probe = await probeAdapter();
  process.stdout.write(`${JSON.stringify(probe)}\n`);
} catch (e) {
  const cause: UnavailableCause = { kind: 'probe-failed', detail: messageOf(e) };
  process.stdout.write(`${JSON.stringify({ ok: false, reason: reasonOf(cause), cause })}\n`);
}
// Dawn's threads do not keep a probe alive.
process.exit(0);
