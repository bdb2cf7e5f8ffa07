/**
 * Commands vFunD decides on. Requests come from guests (negotiate, activate,
 * release); the others come from vFunD's own supervision (activation result,
 * service failure, shutdown). Every command has an id: it becomes the
 * causationId of the events it produces.
 */
import type { ClaimedNames, ComputationStats, ControlDisconnected, CrossCheckMismatch, DeviceFailover, DeviceProbed, JournalCheckpoint, Kind, NackReason, PeerProcess, RefusalsSuppressed, ReleaseReason, ServiceExitCause, VFunDConfigSnapshot } from '../events/catalogue.js';
import type { DriverActivation } from '../domain/types.js';
import type { Credentials } from '../domain/requests.js';
import type { AdminCommand } from './admin.js';

export type { Credentials } from '../domain/requests.js';

/**
 * A command vFunD decides on (see the module's comment): its `id` becomes the causationId of the events `decide` returns for it.
 */
export type VFunDCommand =
  | {
      readonly type: 'start';
      readonly id: string;
      readonly host: string;
      readonly config: VFunDConfigSnapshot;
      /**
       * Counters of the instances a vFunD that did not stop left live, read
       * from their control areas (null or absent: unknown).
       */
      readonly recovered?: Readonly<Record<string, ComputationStats | null>>;
    }
  | (Credentials & {
      readonly type: 'negotiate';
      readonly id: string;
      readonly app: string;
      readonly fn: string;
      readonly kind: Kind;
      /** Set by a client retrying in software after a hardware nack. */
      readonly fallback?: boolean;
    })
  | (Credentials & { readonly type: 'activate'; readonly id: string; readonly instance: string })
  | {
      readonly type: 'activation-result';
      readonly id: string;
      readonly instance: string;
      readonly ok: boolean;
      readonly detail: string;
      /** Why it failed (default driver-failed): no-resources when the host could not back the region. */
      readonly reason?: 'driver-failed' | 'no-resources';
      /** What the driver's activation took (its device, adapter, time), when it reports it. */
      readonly driver?: DriverActivation;
    }
  /** What vFunD found of its devices at start (one device.probed each). */
  | { readonly type: 'probe-devices'; readonly id: string; readonly probes: readonly DeviceProbed['data'][] }
  /** A driver's notice (src/domain/types.ts DriverNotice), as vFunD journals it. */
  | ({ readonly type: 'device-failover'; readonly id: string } & DeviceFailover['data'])
  | ({ readonly type: 'crosscheck-mismatch'; readonly id: string } & CrossCheckMismatch['data'])
  | (Credentials & {
      readonly type: 'release';
      readonly id: string;
      readonly instance: string;
      readonly stats: ComputationStats;
    })
  | {
      readonly type: 'reclaim';
      readonly id: string;
      readonly instance: string;
      readonly reason: Exclude<ReleaseReason, 'client'>;
      readonly detail: string;
      /** null: not known. */
      readonly stats: ComputationStats | null;
      /** What ended the service's process, when it died. */
      readonly cause?: ServiceExitCause;
    }
  | { readonly type: 'stop'; readonly id: string; readonly reason: string }
  /** vFunD's supervision restarts an instance's service. */
  | {
      readonly type: 'service-restarted';
      readonly id: string;
      readonly instance: string;
      readonly attempt: number;
      readonly backoffMs: number;
      readonly detail: string;
    }
  /** The control channel refused a request before authenticating it: journal why. */
  | {
      readonly type: 'refuse';
      readonly id: string;
      readonly tenant: string;
      readonly op: string;
      readonly reason: NackReason;
      readonly detail: string;
      /** What the request named, as claimed (request.refused). */
      readonly claimed?: ClaimedNames;
      /** The process that sent it (SO_PEERCRED). */
      readonly peer?: PeerProcess;
    }
  /** The control channel suppressed refusals past the tenant's limit: journal their summary for one period. */
  | ({ readonly type: 'summarize-refusals'; readonly id: string } & RefusalsSuppressed['data'])
  /** The control channel closed a connection that kept flooding it with refused requests. */
  | ({ readonly type: 'disconnect'; readonly id: string } & ControlDisconnected['data'])
  /** vFunD's checkpointer signed a tree head: journal it. */
  | ({ readonly type: 'checkpoint'; readonly id: string } & JournalCheckpoint['data'])
  /** vFunD states its state as it is after the event at `seq` (a snapshot: start-up begins at the latest). */
  | { readonly type: 'snapshot'; readonly id: string; readonly seq: number }
  /** What operators ask of vFunD (src/actors/admin.ts). */
  | AdminCommand;

export type VFunDCommandType = VFunDCommand['type'];
