/**
 * What a running vFunD says about itself: its live instances with their
 * counters, the slots and quotas in use, its journal and its uptime. Built on
 * demand (an admin `status` request, a metrics scrape, the fleet's status
 * endpoint) from vFunD's state and the services' control areas: nothing here
 * writes the journal, and nothing on the call path waits for it.
 *
 * `vfun status` renders it (src/cli/status.ts); the Prometheus exporter
 * (src/daemon/metrics.ts) and the fleet endpoint publish it.
 */
import type { Kind } from '../domain/types.js';
import type { VFunDState } from '../actors/state.js';
import { capacityReport, deviceSlotsInUse, stepOfInstance, tenantLoad } from '../actors/state.js';

import type { LatencyHistogram } from '../dataplane/latency-histogram.js';

/** Latency of answered calls, log-bucketed (the services' control areas count them: src/dataplane/latency-histogram.ts). */
export type { LatencyHistogram };

/** One live instance. */
export interface InstanceStatus {
  readonly id: string;
  readonly tenant: string;
  readonly app: string;
  readonly fn: string;
  readonly kind: Kind;
  /** The lifecycle machine's step: `activation.pending`, `computation`, … */
  readonly phase: string;
  /** Since its negotiation was acked, in ms (null: not known, e.g. negotiated by a vFunD before a restart). */
  readonly ageMs: number | null;
  /** The guest process holding it, when the control socket told (SO_PEERCRED). */
  readonly guest: { readonly pid: number; readonly uid: number } | null;
  /** The service process (null: in-process, or none yet). */
  readonly servicePid: number | null;
  /** Calls answered so far, errors among them. */
  readonly calls: number;
  readonly errors: number;
  /** Latency of its calls (null when the runtime keeps none). */
  readonly latency: LatencyHistogram | null;
}

/** Slots of one function and kind. */
export interface SlotStatus {
  readonly fn: string;
  readonly kind: Kind;
  readonly inUse: number;
  readonly slots: number;
  /** The device its hw slots live on, when configured on one. */
  readonly device: string | null;
}

/** Slots of one hardware device, and whether it takes new instances. */
export interface DeviceStatus {
  readonly name: string;
  readonly inUse: number;
  readonly slots: number;
  /** `sim`: a simulated FPGA following a profile; `webgpu`: the host's WebGPU adapter (docs/gpu.md). */
  readonly type: 'sim' | 'webgpu';
  /** False while its last probe found no adapter or it was lost (hardware negotiations nack `device-unavailable`). */
  readonly available: boolean;
  /** The adapter's description, or why the device is unavailable; the profile of a simulated device. */
  readonly detail: string;
}

/** One tenant's quota and state. */
export interface TenantStatus {
  readonly id: string;
  readonly instances: number;
  readonly maxInstances: number;
  /** Disabled by an operator: new negotiations are refused. */
  readonly disabled: boolean;
  /** Drained by an operator (the tenant, or the whole host): new negotiations are refused, live instances go on. */
  readonly draining: boolean;
}

/** Per tenant, function and kind, since vFunD started: live and released instances together (monotonic). */
export interface CallTotals {
  readonly tenant: string;
  readonly fn: string;
  readonly kind: Kind;
  readonly calls: number;
  readonly errors: number;
  readonly latency: LatencyHistogram | null;
}

/** The journal as vFunD sees it. */
export interface JournalStatus {
  /** `file`, `nats`, `memory`. */
  readonly backend: string;
  readonly url: string;
  /** Seq of the last durable event (null: empty). */
  readonly head: number | null;
  /** False while it cannot take events (fail-closed). */
  readonly available: boolean;
  /** Events waiting in the outbox for the journal to come back. */
  readonly outboxDepth: number;
  /** The latest signed checkpoint journaled by this vFunD (null: none yet). */
  readonly lastCheckpoint: { readonly seq: number; readonly size: number; readonly at: string } | null;
}

/** Everything `vfun status` shows about one host. */
export interface HostStatus {
  readonly host: string;
  readonly pid: number;
  readonly version: string;
  /** ISO time vFunD started, and ms since. */
  readonly startedAt: string;
  readonly uptimeMs: number;
  /** False while draining: no new negotiations. */
  readonly accepting: boolean;
  readonly instances: readonly InstanceStatus[];
  readonly slots: readonly SlotStatus[];
  readonly devices: readonly DeviceStatus[];
  readonly tenants: readonly TenantStatus[];
  readonly totals: readonly CallTotals[];
  readonly journal: JournalStatus;
}

/** Slots, devices, tenants' quotas and what operators set (disabled, draining) from vFunD's state (pure). */
export function capacityOf(state: VFunDState): Pick<HostStatus, 'slots' | 'devices' | 'tenants'> {
  const a = state.admin;
  const fns = state.config?.functions ?? [];
  const slots = capacityReport(state).map((c) => ({ ...c, device: c.kind === 'hw' ? (fns.find((f) => f.name === c.fn)?.kinds.hw?.device ?? null) : null }));
  const devices = (state.config?.devices ?? []).map((d): DeviceStatus => {
    const probed = Object.hasOwn(state.devices, d.name) ? state.devices[d.name]! : undefined;
    const base = { name: d.name, inUse: deviceSlotsInUse(state, d.name), slots: d.slots };
    if (d.type !== 'webgpu') return { ...base, type: 'sim', available: true, detail: `simulated, profile ${d.profile}` };
    return { ...base, type: 'webgpu', available: probed?.available ?? false, detail: probed?.detail ?? 'not probed yet' };
  });
  const tenants = (state.config?.tenants ?? []).map((t) => ({ id: t.id, instances: tenantLoad(state, t.id), maxInstances: t.maxInstances, disabled: a.disabledTenants.includes(t.id), draining: a.draining || a.drainingTenants.includes(t.id) }));
  return { slots, devices, tenants };
}

/** The live instances of vFunD's state, with what the runtime knows of each (pure). */
export function instancesOf(
  state: VFunDState,
  live: (id: string) => { calls: number; errors: number; latency: LatencyHistogram | null; servicePid: number | null; guest: InstanceStatus['guest']; ageMs: number | null } | undefined,
): InstanceStatus[] {
  return Object.values(state.instances).map((i) => {
    const r = live(i.id);
    return {
      id: i.id,
      tenant: i.tenant,
      app: i.app,
      fn: i.fn,
      kind: i.kind,
      phase: stepOfInstance(i),
      ageMs: r?.ageMs ?? null,
      guest: r?.guest ?? null,
      servicePid: r?.servicePid ?? null,
      calls: r?.calls ?? 0,
      errors: r?.errors ?? 0,
      latency: r?.latency ?? null,
    };
  });
}
