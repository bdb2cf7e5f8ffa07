/**
 * A hand-built HostStatus (src/daemon/status.ts) for the exporter's tests, and
 * the samples of a Prometheus text.
 */
import type { HostStatus, LatencyHistogram } from '../../src/daemon/status.js';

export const latency: LatencyHistogram = { boundsNs: [1_000, 2_000, 4_000], counts: [1, 5, 3, 1], sumNs: 25_000 };

export function status(over: Partial<HostStatus> = {}): HostStatus {
  return {
    host: 'h1',
    pid: 4242,
    version: '1.2.3',
    startedAt: '2026-01-01T00:00:00.000Z',
    uptimeMs: 65_000,
    accepting: true,
    instances: [
      { id: 'i17', tenant: 'acme', app: 'billing', fn: 'crc32', kind: 'sw', phase: 'activation.pending', ageMs: 5, guest: { pid: 777, uid: 1000 }, servicePid: 888, calls: 0, errors: 0, latency: null },
      { id: 'i18', tenant: 'acme', app: 'billing', fn: 'crc32', kind: 'sw', phase: 'computation', ageMs: 9, guest: null, servicePid: 889, calls: 10, errors: 1, latency },
    ],
    slots: [
      { fn: 'crc32', kind: 'sw', inUse: 2, slots: 4, device: null },
      { fn: 'crc32', kind: 'hw', inUse: 0, slots: 1, device: 'fpga0' },
    ],
    devices: [{ name: 'fpga0', inUse: 0, slots: 2, type: 'sim', available: true, detail: 'simulated, profile alveo-u250' }],
    tenants: [
      { id: 'acme', instances: 2, maxInstances: 3, disabled: false, draining: false },
      { id: 'beta', instances: 0, maxInstances: 1, disabled: true, draining: false },
    ],
    totals: [{ tenant: 'acme', fn: 'crc32', kind: 'sw', calls: 10, errors: 1, latency }],
    journal: { backend: 'file', url: 'file:/var/lib/virtfun/admin/journal.ndjson', head: 12, available: true, outboxDepth: 0, lastCheckpoint: { seq: 10, size: 11, at: '2026-01-01T00:01:00.000Z' } },
    ...over,
  };
}

/** Sample lines of a Prometheus text, as `name{labels}` -> value. */
export function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}
