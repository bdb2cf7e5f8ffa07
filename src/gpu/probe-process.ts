/**
 * vFunD's look at its WebGPU devices at start: the adapter probe runs in a
 * child process (probe-main.ts), bounded in time, so a GPU driver is never
 * loaded into vFunD. What it finds becomes each device's `device.probed`.
 */
import { execFile } from 'node:child_process';
import type { DeviceConfig, DeviceProbed } from '../events/catalogue.js';
import type { AdapterProbe } from './webgpu.js';
import { reasonOf, type UnavailableCause } from './unavailable.js';
import { processEntry } from '../util/entry.js';

/** The longest a probe may take (Dawn's start plus a software adapter's: about 0.5 s here). */
export const PROBE_TIMEOUT_MS = 20_000;

// The sibling of this module's kind: probe-main.js from dist/, probe-main.ts through tsx from the sources (tests).
const PROBE_MAIN = processEntry(import.meta.url, './probe-main.js');

/** Probe the adapter in a child process; never throws (a failure is a probe that found nothing, with why). */
export function probeAdapterInChild(timeoutMs = PROBE_TIMEOUT_MS): Promise<AdapterProbe> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...PROBE_MAIN.execArgv, PROBE_MAIN.module], { timeout: timeoutMs, maxBuffer: 1 << 20, env: process.env }, (err, stdout) => {
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line !== undefined) {
        try {
          const p = JSON.parse(line) as AdapterProbe;
          if (typeof p.ok === 'boolean') return resolve(p);
        } catch {
          // said below
        }
      }
      const why = err === null ? 'no answer' : err.killed ? `no answer within ${timeoutMs} ms` : err.message.split('\n')[0];
      const cause: UnavailableCause = { kind: 'probe-failed', detail: why ?? 'no answer' };
      resolve({ ok: false, reason: reasonOf(cause), cause });
    });
  });
}

/** What vFunD journals for each WebGPU device of a configuration (one probe serves them all). */
export async function probeDevices(devices: readonly DeviceConfig[], probe: () => Promise<AdapterProbe> = () => probeAdapterInChild()): Promise<DeviceProbed['data'][]> {
  const gpus = devices.filter((d) => d.type === 'webgpu');
  if (gpus.length === 0) return [];
  const p = await probe();
  return gpus.map((d) =>
    p.ok
      ? { device: d.name, available: true, adapter: p.identity, detail: `${p.identity.description}${p.identity.software ? ' (software Vulkan: figures say nothing about a real GPU)' : ''}` }
      : { device: d.name, available: false, detail: p.reason },
  );
}
