/**
 * The event catalogue: every control decision vFunD makes, as a typed
 * discriminated union. Adding a field is compatible; changing or removing one
 * bumps SCHEMA_VERSION. Documented one by one in docs/events.md.
 *
 * This module is pure data: no node:* imports, no I/O.
 */
import type { AdapterIdentity, ComputationStats, DriverActivation, Kind, NackReason, ReleaseReason, ServiceExitCause } from '../domain/types.js';
import { SECURITY_REASONS } from '../domain/types.js';

// The domain's shared types live in src/domain/types.ts (low in the graph: drivers and machines use
// them without the events); re-exported here so that the catalogue reads as the whole vocabulary.
export { ACTIVATION_FAILURES, SECURITY_REASONS } from '../domain/types.js';
export type { ComputationStats, Kind, NackReason, ReleaseReason, ServiceExitCause } from '../domain/types.js';

/** Schema version carried by every envelope (`v`). */
export const SCHEMA_VERSION = 1;

/** A tenant as vFunD's configuration declares it: its id, the digest of its credential, its quota. */
export interface TenantConfig {
  readonly id: string;
  /** SHA-256 (hex) of the tenant's secret. The secret itself is never journaled. */
  readonly credentialDigest: string;
  /** Maximum number of live instances (in any phase from activation on: docs/lifecycle.md). */
  readonly maxInstances: number;
  /** Present when the tenant is a virtual machine: its regions are slots of an ivshmem window. */
  readonly vm?: { readonly windowBytes: number; readonly slotBytes: number; readonly slots: number };
}

/** How one kind (`hw` or `sw`) of a function is served: its driver, its slots, and the device it occupies. */
export interface FunctionKindConfig {
  /** Number of instances that can hold this function/kind at once. */
  readonly slots: number;
  /** Driver name in the driver registry. */
  readonly driver: string;
  /** The device whose reconfigurable slots this function occupies (shared by all its functions). */
  readonly device?: string;
}

/** A hardware device: its slots are shared by every function configured on it. */
export type DeviceConfig = SimDeviceConfig | WebGpuDeviceConfig;

/** A simulated FPGA following a simulator profile. */
export interface SimDeviceConfig {
  readonly name: string;
  /** Simulator profile the device follows (simulator/profiles). */
  readonly profile: string;
  readonly slots: number;
  readonly type?: undefined;
}

/** A WebGPU adapter (docs/gpu.md): its slots are device contexts, one per instance. */
export interface WebGpuDeviceConfig {
  readonly name: string;
  readonly type: 'webgpu';
  readonly slots: number;
  /** Compare 1 in N calls with the software twin (absent: never). */
  readonly crossCheck?: number;
}

/** A function the host offers, by name, with the kinds (`hw`, `sw`) it is served in. */
export interface FunctionConfig {
  readonly name: string;
  readonly kinds: { readonly hw?: FunctionKindConfig; readonly sw?: FunctionKindConfig };
}

/**
 * The configuration vFunD runs with, as journaled in `vfund.started` and `config.reloaded`: what replay decides against.
 */
export interface VFunDConfigSnapshot {
  readonly tenants: readonly TenantConfig[];
  readonly functions: readonly FunctionConfig[];
  /** Hardware devices (absent in journals written before devices existed). */
  readonly devices?: readonly DeviceConfig[];
  /** Payload capacity of each region, in bytes. */
  readonly regionCapacity: number;
  /** The driver modules of `driverModules` and the drivers each defines (absent without any, and in journals written before them). */
  readonly driverModules?: readonly DriverModuleSnapshot[];
}

/** A driver module as vFunD loaded it at start: what the configuration said, where it resolved, its file's digest, its drivers. */
export interface DriverModuleSnapshot {
  /** As configured (a path or a package name). */
  readonly specifier: string;
  /** The file URL it resolved to. */
  readonly url: string;
  /** SHA-256 of the module's file (hex), when vFunD started. */
  readonly sha256: string;
  readonly drivers: readonly { readonly name: string; readonly kind: Kind; readonly version: string }[];
}

/** emmett-style typed event: a `type` literal and its `data`. */
export interface Event<Type extends string, Data> {
  readonly type: Type;
  readonly data: Data;
}

export interface RequestRef {
  readonly tenant: string;
  readonly app: string;
  readonly fn: string;
  readonly kind: Kind;
}

/** vFunD started (after replaying its journal) and journaled its host name and configuration. Host-scoped. */
export type VFunDStarted = Event<'vfund.started', { readonly host: string; readonly config: VFunDConfigSnapshot }>;
/** vFunD stopped (`reason`: the operator command or signal), after releasing every live instance. Host-scoped. */
export type VFunDStopped = Event<'vfund.stopped', { readonly reason: string }>;
/**
 * A negotiation passed every check: vFunD reserved a slot of the granted kind and allocated `instance` (never reused in a journal).
 */
export type NegotiationAcked = Event<
  'negotiation.acked',
  RequestRef & { readonly instance: string; /** true when this is the software retry after a hw nack */ readonly fallback: boolean }
>;
/**
 * A negotiation was refused (`reason`): nothing was reserved. After `no-capacity` for `hw` the guest may retry `sw` with `fallback`.
 */
export type NegotiationNacked = Event<
  'negotiation.nacked',
  Omit<RequestRef, 'kind'> & {
    /** The kind as requested (clipped): may be malformed when the reason is bad-request. */
    readonly kind: string;
    readonly reason: NackReason;
    readonly detail: string;
  }
>;
/**
 * The owner asked to activate a negotiated instance and vFunD accepted: it is loading the driver and creating a region of `capacity` bytes.
 */
export type ActivationStarted = Event<'activation.started', { readonly instance: string; readonly capacity: number }>;
/** The instance's driver and service run and its region exists: the guest may call it. */
export type ActivationAcked = Event<
  'activation.acked',
  {
    readonly instance: string;
    readonly capacity: number;
    /** What the driver did to make the function ready on its device (a GPU: the adapter, the time to compile); absent for software. */
    readonly driver?: DriverActivation;
  }
>;
/**
 * Activation was refused (nothing changes) or failed after `activation.started` (`driver-failed`, `no-resources`: the reservation is freed).
 */
export type ActivationNacked = Event<
  'activation.nacked',
  { readonly instance: string; readonly reason: NackReason; readonly detail: string }
>;
/**
 * An instance's service is gone for good (its process died, or its supervisor gave up); always followed by `instance.released` (`failure`).
 */
export type ServiceFailed = Event<
  'service.failed',
  {
    readonly instance: string;
    readonly detail: string;
    /** Present when the service's process died (absent: its supervisor gave up on it, or a hung call). */
    readonly cause?: ServiceExitCause;
  }
>;
/**
 * An instance is gone: service stopped, region deleted, slot and quota freed. Journaled once per instance, whatever the `reason`.
 */
export type InstanceReleased = Event<
  'instance.released',
  {
    readonly instance: string;
    readonly reason: ReleaseReason;
    /** null: not known (a recovery that found no readable control area), never a false 0. */
    readonly stats: ComputationStats | null;
  }
>;
/** A release request was refused (`reason`): nothing changes. */
export type ReleaseNacked = Event<
  'release.nacked',
  { readonly instance: string; readonly tenant: string; readonly reason: NackReason; readonly detail: string }
>;
/** The instance's service died or hung and its supervisor restarts it (after `backoffMs`). */
export type ServiceRestarted = Event<
  'service.restarted',
  { readonly instance: string; readonly attempt: number; readonly backoffMs: number; readonly detail: string }
>;

/** The guest holding an instance is gone (its control connection closed without a release): its lease ended. */
export type ClientLost = Event<'client.lost', { readonly instance: string; readonly detail: string }>;

/** The process at the other end of a control connection, as the kernel tells it (SO_PEERCRED): not a claim. */
export interface PeerProcess {
  readonly pid: number;
  readonly uid: number;
}

/**
 * What a refused request said it was about, as sent (clipped) and never
 * checked: a request with a bad signature names what it claims to.
 */
export interface ClaimedNames {
  readonly app?: string;
  readonly fn?: string;
  readonly instance?: string;
}

/** A control request refused before it reached a decision (bad signature, replay, malformed). Always a security event. */
export type RequestRefused = Event<
  'request.refused',
  {
    /** The tenant whose control channel the request came through. */
    readonly tenant: string;
    /** The operation asked for, as sent (clipped). */
    readonly op: string;
    readonly reason: NackReason;
    readonly detail: string;
    /** The app, function and instance the request named, only as claimed (absent when it named none, or could not be parsed). */
    readonly claimed?: ClaimedNames;
    /** The process that sent it (absent when the channel could not tell: no native addon, or not a local socket). */
    readonly peer?: PeerProcess;
  }
>;

/**
 * Refusals of a tenant's control channel that were past its refusal limit: answered to the guest,
 * counted, and journaled only as this summary, one per period of a flood. Always a security event.
 */
export type RefusalsSuppressed = Event<
  'refusals.suppressed',
  {
    /** The tenant whose control channel refused them. */
    readonly tenant: string;
    /** The period, ISO-8601 UTC from vFunD's clock: [from, to). */
    readonly from: string;
    readonly to: string;
    /** Suppressed refusals by reason (reasons with none are absent). */
    readonly counts: Readonly<Partial<Record<NackReason, number>>>;
    /** Sum of `counts`. */
    readonly total: number;
    /** Connections of the tenant closed for flooding in the period (the first also has its own `control.disconnected`). */
    readonly disconnections: number;
    /** True for the last summary of the flood: the tenant is no longer past its limit. */
    readonly ended: boolean;
  }
>;

/** vFunD closed a control connection that kept sending refused requests past the tenant's refusal limit. Always a security event. */
export type ControlDisconnected = Event<
  'control.disconnected',
  {
    readonly tenant: string;
    /** Refusals on this connection since it opened, journaled or not. */
    readonly refusals: number;
    /** Of them, suppressed during the current flood. */
    readonly suppressed: number;
    readonly detail: string;
    /** The process at the other end of the connection (absent when the channel could not tell). */
    readonly peer?: PeerProcess;
  }
>;

/**
 * A checkpoint: vFunD's signed tree head over the events before it (docs/proofs.md). Journaled at
 * seq s, it covers size = s - 1: the Merkle tree (merkle.ts) whose leaves are the `hash`es of the
 * events with seq 1..size. Host-scoped, about no tenant.
 */
export type JournalCheckpoint = Event<
  'journal.checkpoint',
  {
    /** Events covered: seqs 1..size (the seq of this event minus one). */
    readonly size: number;
    /** The tree head of those events, 64 lowercase hex digits (the note holds it in base64). */
    readonly root: string;
    /** The signed checkpoint (a C2SP signed note of the checkpoint text), signed by vFunD's checkpoint key. */
    readonly note: string;
    /**
     * The right edge of the tree of `size` leaves: the roots of its maximal perfect subtrees, largest
     * first, hex (one per bit set in size). vFunD resumes its tree from it without rereading the journal.
     */
    readonly frontier: readonly string[];
  }
>;

/** Version of the layout of `state.snapshot`'s `state` (bumped when VFunDState changes shape). */
export const SNAPSHOT_FORMAT = 1;

/**
 * One live instance as a snapshot holds it: its scope and its lifecycle
 * machine's state as plain data (`value`: the machine's state value,
 * `context`: its context; src/machines/lifecycle.ts).
 */
export interface SnapshotInstance {
  readonly id: string;
  readonly tenant: string;
  readonly app: string;
  readonly fn: string;
  readonly kind: Kind;
  readonly lifecycle: { readonly value: string | Readonly<Record<string, unknown>>; readonly context: Readonly<Record<string, unknown>> };
}

/** vFunD's state as a snapshot holds it (src/actors/state.ts, VFunDState). */
export interface SnapshotState {
  readonly host: string | null;
  readonly config: VFunDConfigSnapshot | null;
  readonly running: boolean;
  readonly instances: Readonly<Record<string, SnapshotInstance>>;
  readonly nextInstance: number;
  /** What operators set (src/actors/admin.ts); absent while nothing is disabled or drained. */
  readonly admin?: SnapshotAdmin;
  /** What vFunD knows of its devices' availability (device.probed, device.failover); absent while none was probed. */
  readonly devices?: Readonly<Record<string, DeviceAvailability>>;
}

/** Whether a device can take new instances, and why not (from its last device.probed or device.failover). */
export interface DeviceAvailability {
  readonly available: boolean;
  readonly detail: string;
  readonly adapter?: AdapterIdentity;
}

/** Disabled tenants and drains, as a snapshot holds them (sorted). */
export interface SnapshotAdmin {
  readonly disabledTenants: readonly string[];
  readonly draining: boolean;
  readonly drainingTenants: readonly string[];
}

/**
 * vFunD's state after every event before this one, as vFunD states it:
 * start-up (and `vfun replay --from-snapshot`) begins at the latest one and
 * folds only what follows; a full replay recomputes each one and reports a
 * divergence at its seq. Journaled every N events and at stop. Changes no state.
 */
export type StateSnapshotTaken = Event<
  'state.snapshot',
  {
    /** Layout of `state`: SNAPSHOT_FORMAT when written. */
    readonly format: number;
    /** The seq of the last event the state reflects (this event's seq - 1). */
    readonly seq: number;
    readonly state: SnapshotState;
  }
>;

/**
 * A damaged journal message that an operator acknowledged (docs/jetstream.md,
 * "Damaged messages"). Never stored: readers put it at the damaged message's
 * seq, built from the acknowledgement (its prevHash is the chain before the
 * damage), and the chain continues from its hash. Host scope.
 */
export type JournalDamageAcknowledged = Event<
  'journal.damage-acknowledged',
  {
    /** The journal stream holding the damaged message. */
    readonly stream: string;
    /** SHA-256 (hex) of the damaged message's raw bytes, as it stays in the stream. */
    readonly sha256: string;
    /** What the readers found wrong with it. */
    readonly fault: string;
    /** Why the operator acknowledged it. */
    readonly reason: string;
    /** The NATS user that acknowledged it. */
    readonly by: string;
    /** Where the acknowledgement is: `<ack stream>:<seq>`. */
    readonly ack: string;
  }
>;

/**
 * Who asked for an admin action: a process on vFunD's admin socket (its
 * peer credentials, SO_PEERCRED, and the user name when it resolves), a
 * signal sent to vFunD (SIGHUP: a reload; its sender is not known), or a
 * request over NATS to the fleet's `admin` endpoint (src/daemon/fleet-admin.ts):
 * signed with the admin secret, which is all that is known of its sender (the
 * server does not tell a subscriber who published, and headers are the
 * sender's to write), so it is named by the subject it came on and the nonce
 * the sender chose (the signature covers it: the sender can show it).
 */
export type AdminIdentity =
  | { readonly via: 'admin-socket'; readonly uid: number; readonly gid: number; readonly pid: number; readonly user: string | null }
  | { readonly via: 'signal'; readonly signal: string }
  | { readonly via: 'nats'; readonly subject: string; readonly nonce: string };

/** An operator evicted a live instance; its `instance.released` (reason `evicted`) follows. */
export type AdminEvicted = Event<'admin.evicted', { readonly instance: string; readonly by: AdminIdentity }>;

/**
 * An operator started or ended a drain: of the whole host (`tenant` null) or of one tenant. While
 * draining, negotiations are refused (`draining`); live instances go on. Ending the host's drain ends
 * every tenant's. Drains last until vFunD stops (a new vfund.started admits again).
 */
export type DrainChanged = Event<'drain.changed', { readonly tenant: string | null; readonly draining: boolean; readonly by: AdminIdentity }>;

/** An operator disabled a tenant: its negotiations are refused (`tenant-disabled`); its live instances are released (reason `disabled`). */
export type TenantDisabled = Event<'tenant.disabled', { readonly tenant: string; readonly by: AdminIdentity }>;

/** An operator enabled a tenant again. */
export type TenantEnabled = Event<'tenant.enabled', { readonly tenant: string; readonly by: AdminIdentity }>;

/** A field of the configuration that a reload changed: its value before and after (credentials as digests). */
export interface ConfigFieldChange {
  readonly field: string;
  readonly from: unknown;
  readonly to: unknown;
}

/** What a reload changed in one list of the configuration (tenants by id, functions and devices by name). */
export interface ConfigListChanges {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly { readonly name: string; readonly fields: readonly ConfigFieldChange[] }[];
}

/** What a reload changed. */
export interface ConfigChanges {
  readonly tenants: ConfigListChanges;
  readonly functions: ConfigListChanges;
  readonly devices: ConfigListChanges;
  /** Present when the region capacity changed. */
  readonly regionCapacity?: { readonly from: number; readonly to: number };
}

/**
 * vFunD re-read its configuration file (`vfun admin reload`, SIGHUP) and runs with `config` from
 * now on. Instances of a removed tenant, function or kind follow as `instance.released`
 * (reason `reconfigured`). Host scope; secrets appear only as digests.
 */
export type ConfigReloaded = Event<'config.reloaded', { readonly config: VFunDConfigSnapshot; readonly changes: ConfigChanges; readonly by: AdminIdentity }>;

/** Every event vFunD journals. */
export type VFunEvent =
  | VFunDStarted
  | VFunDStopped
  | NegotiationAcked
  | NegotiationNacked
  | ActivationStarted
  | ActivationAcked
  | ActivationNacked
  | ServiceFailed
  | InstanceReleased
  | ReleaseNacked
  | RequestRefused
  | ClientLost
  | ServiceRestarted
  | RefusalsSuppressed
  | ControlDisconnected
  | JournalCheckpoint
  | StateSnapshotTaken
  | JournalDamageAcknowledged
  | AdminEvicted
  | DrainChanged
  | TenantDisabled
  | TenantEnabled
  | ConfigReloaded
  | DeviceProbed
  | DeviceFailover
  | CrossCheckMismatch;

/**
 * What vFunD found of a device at start (or reload): a WebGPU device's adapter, or why there is
 * none. While a device is unavailable, negotiations of its functions are nacked
 * `device-unavailable` and guests fall back to software.
 */
export type DeviceProbed = Event<
  'device.probed',
  { readonly device: string; readonly available: boolean; readonly adapter?: AdapterIdentity; readonly detail: string }
>;

/**
 * An instance's device was lost: its call in flight and every later call run on the software twin
 * (journaled once per instance, never per call). The device is unavailable from here on.
 */
export type DeviceFailover = Event<'device.failover', { readonly instance: string; readonly device: string; readonly detail: string }>;

/** A cross-checked call's device result differed from the software twin's (the guest got the twin's). */
export type CrossCheckMismatch = Event<
  'crosscheck.mismatch',
  { readonly instance: string; readonly device: string; /** The instance's call number, from 1. */ readonly call: number; readonly detail: string }
>;

/** The `type` of any catalogued event (`'vfund.started'`, `'negotiation.acked'`, …). */
export type VFunEventType = VFunEvent['type'];

/** All event types, in catalogue order. */
export const EVENT_TYPES: readonly VFunEventType[] = [
  'vfund.started',
  'vfund.stopped',
  'negotiation.acked',
  'negotiation.nacked',
  'activation.started',
  'activation.acked',
  'activation.nacked',
  'service.failed',
  'instance.released',
  'release.nacked',
  'request.refused',
  'client.lost',
  'service.restarted',
  'refusals.suppressed',
  'control.disconnected',
  'journal.checkpoint',
  'state.snapshot',
  'journal.damage-acknowledged',
  'admin.evicted',
  'drain.changed',
  'tenant.disabled',
  'tenant.enabled',
  'config.reloaded',
  'device.probed',
  'device.failover',
  'crosscheck.mismatch',
];

export function isEventType(value: unknown): value is VFunEventType {
  return typeof value === 'string' && (EVENT_TYPES as readonly string[]).includes(value);
}

/** True for nacks whose reason is security-relevant (bad credential, another tenant's instance, malformed names). */
export function isSecurityEvent(e: VFunEvent): boolean {
  if (e.type === 'request.refused' || e.type === 'refusals.suppressed' || e.type === 'control.disconnected') return true;
  if (e.type === 'journal.damage-acknowledged') return true;
  return (
    (e.type === 'negotiation.nacked' || e.type === 'activation.nacked' || e.type === 'release.nacked') &&
    SECURITY_REASONS.has(e.data.reason)
  );
}
