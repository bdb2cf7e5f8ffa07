/**
 * vFunD's state: what the journal folds into. Everything here is derivable
 * from the journal alone (see evolve.ts); nothing holds secrets.
 */
import type { DeviceAvailability, DeviceConfig, Kind, SnapshotAdmin, TenantConfig, VFunDConfigSnapshot } from '../events/catalogue.js';
import { phaseOf, stepOf, type LifecyclePhase, type LifecycleState } from '../machines/lifecycle.js';

/** One live instance as vFunD's state holds it: its scope, its kind, and its lifecycle machine's state. */
export interface InstanceState {
  readonly id: string;
  readonly tenant: string;
  readonly app: string;
  readonly fn: string;
  readonly kind: Kind;
  /**
   * Where the instance is in its lifecycle: the lifecycle machine's state
   * (src/machines/lifecycle.ts), advanced by evolve with XState's transition.
   */
  readonly lifecycle: LifecycleState;
}

/** The instance's phase in the machine's vocabulary: `activation`, `computation`, … */
export function phaseOfInstance(i: InstanceState): LifecyclePhase {
  return phaseOf(i.lifecycle.value);
}

/** The instance's state as a dotted path: `activation.pending`, `activation.running`, `computation`. */
export function stepOfInstance(i: InstanceState): string {
  return stepOf(i.lifecycle.value);
}

/** vFunD's whole state: what `evolve` folds from the journal and `decide` decides against. Plain immutable data. */
export interface VFunDState {
  /** Host name from the last vfund.started; null before. */
  readonly host: string | null;
  /** Configuration as journaled by the last vfund.started; null before. */
  readonly config: VFunDConfigSnapshot | null;
  /** Between vfund.started and vfund.stopped: requests are decided (otherwise nacked `not-started`). */
  readonly running: boolean;
  /** Live instances (in activation, computation or failed) by id. Released and nacked ones are gone. */
  readonly instances: Readonly<Record<string, InstanceState>>;
  /** Number for the next instance id (`i<n>`): deterministic, so replay gives the same ids. */
  readonly nextInstance: number;
  /** What operators set: disabled tenants, drains (src/actors/admin.ts). */
  readonly admin: AdminState;
  /** Devices probed or lost, by name (a device not here is available: the simulated ones are never probed). */
  readonly devices: Readonly<Record<string, DeviceAvailability>>;
}

/** Disabled tenants (kept across restarts) and drains (of this run), sorted. */
export type AdminState = SnapshotAdmin;

export const NO_ADMIN: AdminState = { disabledTenants: [], draining: false, drainingTenants: [] };

/** The state before any event: not running, no configuration, no instance (the next one is `i1`). */
export const initialState: VFunDState = {
  host: null,
  config: null,
  running: false,
  instances: {},
  nextInstance: 1,
  admin: NO_ADMIN,
  devices: {},
};

/**
 * Why new instances of `device` cannot be had, or null when it is available. A simulated device is
 * always available; a WebGPU device once its probe found an adapter, until it is lost.
 */
export function deviceUnavailable(state: VFunDState, device: DeviceConfig): string | null {
  const d = Object.hasOwn(state.devices, device.name) ? state.devices[device.name]! : undefined;
  if (d === undefined) return device.type === 'webgpu' ? 'not probed yet' : null;
  return d.available ? null : d.detail;
}

/**
 * Why a tenant cannot have an instance on `device` although it is available, or null. A VM tenant's
 * regions are slots of its window, a file vFunD maps: their services keep the sandbox's full deny
 * list, ftruncate included, under which Mesa's software adapter (lavapipe) cannot run (docs/gpu.md).
 */
export function deviceRefusesTenant(state: VFunDState, device: DeviceConfig, tenant: TenantConfig): string | null {
  if (device.type !== 'webgpu' || tenant.vm === undefined) return null;
  const adapter = Object.hasOwn(state.devices, device.name) ? state.devices[device.name]!.adapter : undefined;
  return adapter?.software === true
    ? `tenant '${tenant.id}' is a VM: its GPU services keep the full sandbox (no ftruncate), under which the software adapter (${adapter.description}) cannot run`
    : null;
}

/** Whether operators set anything (a snapshot leaves `admin` out otherwise). */
export function adminIsSet(a: AdminState): boolean {
  return a.disabledTenants.length > 0 || a.draining || a.drainingTenants.length > 0;
}

/** Does vFunD admit negotiations from `tenant` (null: from anyone at all)? */
export function admits(state: VFunDState, tenant: string | null = null): boolean {
  const a = state.admin;
  if (a.draining) return false;
  return tenant === null || (!a.disabledTenants.includes(tenant) && !a.drainingTenants.includes(tenant));
}

/** Every live instance (negotiated, in activation, in computation or failed), in no particular order. */
export function liveInstances(state: VFunDState): InstanceState[] {
  return Object.values(state.instances);
}

/** Instances held by a tenant (any live phase). */
export function tenantLoad(state: VFunDState, tenant: string): number {
  return liveInstances(state).filter((i) => i.tenant === tenant).length;
}

/** Slots of a function/kind in use (any live phase: a negotiated instance, in activation.pending, holds its slot). */
export function slotsInUse(state: VFunDState, fn: string, kind: Kind): number {
  return liveInstances(state).filter((i) => i.fn === fn && i.kind === kind).length;
}

/** Slots of a device in use: every live hw instance of a function configured on it. */
export function deviceSlotsInUse(state: VFunDState, device: string): number {
  const onDevice = new Set((state.config?.functions ?? []).filter((f) => f.kinds.hw?.device === device).map((f) => f.name));
  return liveInstances(state).filter((i) => i.kind === 'hw' && onDevice.has(i.fn)).length;
}

/** Capacity in use per `fn/kind`, with the configured slots. */
export function capacityReport(state: VFunDState): { fn: string; kind: Kind; inUse: number; slots: number }[] {
  const out: { fn: string; kind: Kind; inUse: number; slots: number }[] = [];
  for (const f of state.config?.functions ?? []) {
    for (const kind of ['hw', 'sw'] as const) {
      const k = f.kinds[kind];
      if (k) out.push({ fn: f.name, kind, inUse: slotsInUse(state, f.name, kind), slots: k.slots });
    }
  }
  return out;
}
