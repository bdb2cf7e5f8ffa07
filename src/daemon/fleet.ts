/**
 * A fleet of vFunDs on one NATS (docs/operator-guide.md, "A fleet of hosts"):
 * every vFunD registers as an instance of the NATS service `vfun`
 * (fleet-service.ts), whose endpoints answer on subjects of its own host,
 * `vfun.svc.<host>.status`, `vfun.svc.<host>.metrics` and, with an admin
 * secret, `vfun.svc.<host>.admin` (fleet-admin.ts); `vfun fleet status`
 * finds them through the services discovery (`$SRV.INFO.vfun`) and asks each
 * (fleet-client.ts). This module holds what both sides agree on, and the pure
 * summaries of a HostStatus. Nothing here talks to NATS.
 */
import { FLEET_SERVICE, FLEET_SUBJECT_PREFIX } from '../events/adapters/jetstream/subjects.js';
import type { HostStatus } from './status.js';

export { FLEET_SERVICE, FLEET_SUBJECT_PREFIX };

/** The endpoints a vFunD serves (`admin` only when it has an admin secret). */
export const FLEET_ENDPOINTS = ['status', 'metrics', 'admin'] as const;
export type FleetEndpoint = (typeof FLEET_ENDPOINTS)[number];

/** The subject group of a host's endpoints: `vfun.svc.<host>`. */
export function fleetGroup(host: string): string {
  return `${FLEET_SUBJECT_PREFIX}.${host}`;
}

/** The subject of one endpoint of a host: `vfun.svc.<host>.<endpoint>`. */
export function fleetSubject(host: string, endpoint: FleetEndpoint): string {
  return `${fleetGroup(host)}.${endpoint}`;
}

/** The metadata of a vFunD's service instance (what `$SRV.INFO` shows of it). */
export interface FleetMetadata {
  readonly host: string;
  readonly pid: string;
  readonly root: string;
  readonly version: string;
}

/** The `metrics` endpoint's answer: a few counters of a host (Prometheus scrapes `vfun up --metrics` for the rest). */
export interface FleetMetrics {
  readonly host: string;
  readonly uptimeMs: number;
  readonly accepting: boolean;
  readonly instances: number;
  readonly calls: number;
  readonly errors: number;
  readonly slotsInUse: number;
  readonly slots: number;
  readonly journal: { readonly head: number | null; readonly available: boolean; readonly outboxDepth: number };
}

/** Calls and errors since vFunD started, over every tenant, function and kind. */
export function callsOf(s: HostStatus): { readonly calls: number; readonly errors: number } {
  let calls = 0;
  let errors = 0;
  for (const t of s.totals) {
    calls += t.calls;
    errors += t.errors;
  }
  return { calls, errors };
}

/** The `metrics` answer of a status (pure). */
export function metricsOf(s: HostStatus): FleetMetrics {
  return {
    host: s.host,
    uptimeMs: s.uptimeMs,
    accepting: s.accepting,
    instances: s.instances.length,
    ...callsOf(s),
    slotsInUse: s.slots.reduce((n, x) => n + x.inUse, 0),
    slots: s.slots.reduce((n, x) => n + x.slots, 0),
    journal: { head: s.journal.head, available: s.journal.available, outboxDepth: s.journal.outboxDepth },
  };
}

/** One host of `vfun fleet status`. */
export interface FleetRow {
  readonly host: string;
  readonly pid: number;
  readonly version: string;
  readonly uptimeMs: number;
  readonly instances: number;
  readonly calls: number;
  readonly errors: number;
  readonly head: number | null;
  readonly available: boolean;
  /** Ms since the latest signed checkpoint (null: none yet). */
  readonly checkpointAgeMs: number | null;
}

/** The row of a host's status at `now` (ms since the epoch; pure). */
export function fleetRowOf(s: HostStatus, now: number): FleetRow {
  const at = s.journal.lastCheckpoint === null ? NaN : Date.parse(s.journal.lastCheckpoint.at);
  return {
    host: s.host,
    pid: s.pid,
    version: s.version,
    uptimeMs: s.uptimeMs,
    instances: s.instances.length,
    ...callsOf(s),
    head: s.journal.head,
    available: s.journal.available,
    checkpointAgeMs: Number.isNaN(at) ? null : Math.max(0, now - at),
  };
}

/** The hosts of `expected` that did not answer, in the order given (pure). */
export function missingHosts(expected: readonly string[], seen: Iterable<string>): string[] {
  const answered = new Set(seen);
  return expected.filter((h) => !answered.has(h));
}
