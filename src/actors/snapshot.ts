/**
 * Snapshots of vFunD's state (docs/events.md, "State snapshots"): the
 * `state.snapshot` event's data from a state, and a state back from it.
 *
 * A snapshot is a statement by vFunD: "after every event up to seq N, my state
 * was this". Start-up begins at the latest one and folds only what follows
 * (restore.ts); a full replay recomputes each one with `decide` (the
 * `snapshot` command) and reports a divergence at its seq when it differs.
 *
 * Pure: no I/O.
 */
import { ValidationError } from '../errors.js';
import { SNAPSHOT_FORMAT, type SnapshotState, type StateSnapshotTaken } from '../events/catalogue.js';
import type { LifecycleState } from '../machines/lifecycle.js';
import { adminIsSet, NO_ADMIN, type InstanceState, type VFunDState } from './state.js';

/** The data of the `state.snapshot` event for `state`, after the event at `seq`. */
export function snapshotOf(state: VFunDState, seq: number): StateSnapshotTaken['data'] {
  const instances: Record<string, SnapshotState['instances'][string]> = {};
  for (const [id, i] of Object.entries(state.instances)) {
    instances[id] = { id: i.id, tenant: i.tenant, app: i.app, fn: i.fn, kind: i.kind, lifecycle: { value: i.lifecycle.value, context: { ...i.lifecycle.context } } };
  }
  return {
    format: SNAPSHOT_FORMAT,
    seq,
    state: {
      host: state.host,
      config: state.config,
      running: state.running,
      instances,
      nextInstance: state.nextInstance,
      // Left out while operators set nothing: snapshots of journals from before admin actions stay as they were.
      ...(adminIsSet(state.admin) && { admin: { ...state.admin } }),
      ...(Object.keys(state.devices).length > 0 && { devices: state.devices }),
    },
  };
}

/** Whether this build can start from a snapshot with this data (its layout is one it knows). */
export function readableSnapshot(data: StateSnapshotTaken['data']): boolean {
  return data.format === SNAPSHOT_FORMAT && whyNotState(data.state) === null;
}

/** Why `s` is not shaped like a snapshot's state, or null. Checks the structure vFunD relies on, not every field. */
function whyNotState(s: unknown): string | null {
  if (typeof s !== 'object' || s === null) return 'state: expected an object';
  const st = s as Record<string, unknown>;
  if (st['host'] !== null && typeof st['host'] !== 'string') return 'state.host: expected a string or null';
  if (typeof st['running'] !== 'boolean') return 'state.running: expected a boolean';
  if (typeof st['nextInstance'] !== 'number' || !Number.isSafeInteger(st['nextInstance']) || st['nextInstance'] < 1) return 'state.nextInstance: expected a positive integer';
  if (st['config'] !== null && (typeof st['config'] !== 'object' || !Array.isArray((st['config'] as Record<string, unknown>)['tenants']))) return 'state.config: expected a configuration or null';
  const admin = st['admin'] as Record<string, unknown> | undefined;
  if (admin !== undefined && (typeof admin !== 'object' || admin === null || !Array.isArray(admin['disabledTenants']) || !Array.isArray(admin['drainingTenants']) || typeof admin['draining'] !== 'boolean')) {
    return 'state.admin: expected { disabledTenants, draining, drainingTenants }';
  }
  const devices = st['devices'];
  if (devices !== undefined && (typeof devices !== 'object' || devices === null || Array.isArray(devices) || Object.values(devices).some((d) => typeof (d as { available?: unknown })?.available !== 'boolean'))) {
    return 'state.devices: expected { <device>: { available, detail } }';
  }
  const instances = st['instances'];
  if (typeof instances !== 'object' || instances === null || Array.isArray(instances)) return 'state.instances: expected an object';
  for (const [id, i] of Object.entries(instances as Record<string, unknown>)) {
    const inst = i as Partial<SnapshotState['instances'][string]> | null;
    if (typeof inst !== 'object' || inst === null || inst.id !== id) return `state.instances.${id}: expected an instance with id ${id}`;
    const lc = inst.lifecycle;
    if (typeof lc !== 'object' || lc === null || (typeof lc.value !== 'string' && typeof lc.value !== 'object') || typeof lc.context !== 'object' || lc.context === null) {
      return `state.instances.${id}.lifecycle: expected { value, context }`;
    }
  }
  return null;
}

/**
 * vFunD's state from a snapshot's data. Throws ValidationError when the data
 * is of another layout (`format`) or not shaped like a state.
 */
export function stateOfSnapshot(data: StateSnapshotTaken['data']): VFunDState {
  if (data.format !== SNAPSHOT_FORMAT) {
    throw new ValidationError('state.snapshot.format', `snapshot layout ${String(data.format)}; this build reads ${SNAPSHOT_FORMAT}`);
  }
  const why = whyNotState(data.state);
  if (why !== null) throw new ValidationError('state.snapshot', why);
  const s = data.state;
  const instances: Record<string, InstanceState> = {};
  for (const [id, i] of Object.entries(s.instances)) {
    instances[id] = { id: i.id, tenant: i.tenant, app: i.app, fn: i.fn, kind: i.kind, lifecycle: i.lifecycle as unknown as LifecycleState };
  }
  const a = s.admin;
  const admin = a === undefined ? NO_ADMIN : { disabledTenants: [...a.disabledTenants], draining: a.draining, drainingTenants: [...a.drainingTenants] };
  const devices = s.devices === undefined ? {} : { ...s.devices };
  return { host: s.host, config: s.config, running: s.running, instances, nextInstance: s.nextInstance, admin, devices };
}
