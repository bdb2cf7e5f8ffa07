/**
 * The experiments' child processes (guest.ts, net-server.ts), started through spawn.ts so they
 * die with the bench process: reading their JSON lines by kind, and ending them.
 */
import { VirtFunError } from '../../errors.js';
import { startChild, type ChildHandle } from '../spawn.js';
import type { GuestConfig, HammeredLine, MeasuredLine } from './guest.js';
import type { NetServerConfig } from './net-server.js';

/** A guest process of an experiment. */
export function startGuest(config: GuestConfig): ChildHandle {
  return startChild('experiments/guest', config);
}

/** A TCP loopback server of a payload function, and its port once it listens. */
export async function startNetServer(config: NetServerConfig): Promise<{ child: ChildHandle; port: number }> {
  const child = startChild('experiments/net-server', config);
  const ready = (await child.next()) as { port?: unknown };
  if (typeof ready.port !== 'number') throw new VirtFunError('SERVICE_ERROR', `the TCP server said ${JSON.stringify(ready)} instead of its port`);
  return { child, port: ready.port };
}

/** The child's next line holding `key` (lines without it are skipped). */
export async function nextWith<T extends object>(child: ChildHandle, key: string): Promise<T> {
  for (;;) {
    const line = (await child.next()) as Record<string, unknown> | null;
    if (line !== null && typeof line === 'object' && key in line) return line as T;
  }
}

/** The guest's next measured size; refuses wrong answers. */
export async function nextMeasured(child: ChildHandle, what: string): Promise<MeasuredLine> {
  const m = await nextWith<MeasuredLine>(child, 'latencies_us');
  if (m.bad > 0) throw new VirtFunError('DRIVER', `${what}: ${m.bad} of ${m.latencies_us.length} answers were wrong`);
  return m;
}

/** The hammer's count, once it was told to stop; refuses wrong answers. */
export async function nextHammered(child: ChildHandle, what: string): Promise<HammeredLine> {
  const h = await nextWith<HammeredLine>(child, 'hammered');
  if (h.bad > 0) throw new VirtFunError('DRIVER', `${what}: ${h.bad} of ${h.hammered} answers were wrong`);
  return h;
}

/** Wait for the guest's {"done":true} and a clean exit. */
export async function finished(child: ChildHandle, what: string): Promise<void> {
  await nextWith(child, 'done');
  const code = await child.exited;
  if (code !== 0) throw new VirtFunError('SERVICE_ERROR', `${what} exited with ${code}: ${child.stderr().trim().slice(-500)}`);
}

/** Kill a child that is still running (SIGKILL) and wait for it: the cleanup of a failed run. */
export async function killChild(child: ChildHandle): Promise<void> {
  if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
  await child.exited;
}
