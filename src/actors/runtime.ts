/**
 * The port through which vFunD brings an instance's data plane to life at
 * activation and takes it down at release: create the region, start the
 * service with its driver, stop it, read its counters. Backends: the
 * SharedArrayBuffer + worker-thread one (runtime-sab.ts); mapped files across
 * processes come later behind the same port.
 */
import type { ComputationStats, DriverActivation, DriverNotice, Kind, ServiceExitCause } from '../domain/types.js';
import type { LatencyHistogram } from '../dataplane/latency-histogram.js';

/** What vFunD asks a RuntimeFactory to bring to life at activation: the instance, its scope, its driver and region size. */
export interface ActivationSpec {
  readonly instance: string;
  readonly tenant: string;
  readonly app: string;
  readonly fn: string;
  readonly kind: Kind;
  /** Driver registry name (from the function's configuration). */
  readonly driver: string;
  /** Payload capacity of the region in bytes. */
  readonly capacity: number;
}

/** One activated instance's data plane as vFunD holds it: its region, its service's counters, and its stop and failure hooks. */
export interface InstanceRuntime<Region = unknown> {
  /** What the guest needs to connect to the region (backend specific). */
  readonly region: Region;
  /** The process the service runs in (a service process; vFunD's own for the in-process backend). */
  readonly servicePid?: number;
  /** Counters read from the region, without stopping anything. */
  stats(): ComputationStats;
  /**
   * The service time of the calls answered so far, from vFunD's control area
   * (never journaled); after stop(), the final histogram. Absent: the runtime
   * keeps none.
   */
  latency?(): LatencyHistogram | null;
  /** Stop the service, free the region; resolves with the final counters. Idempotent. */
  stop(): Promise<ComputationStats>;
  /** Called once if the service is gone for good (its supervisor gave up, or its process died: `cause`). */
  onFailure(listener: (detail: string, cause?: ServiceExitCause) => void): void;
  /** Called on every supervised restart of the service (after a crash or a hung call). */
  onRestart(listener: (attempt: number, backoffMs: number, detail: string) => void): void;
  /** What the driver's init took (device, adapter, time to prepare), when its driver reports it: journaled in activation.acked. */
  readonly activation?: DriverActivation;
  /** Called with each notice the driver sends off the call path (a failover to the software twin, a cross-check mismatch). */
  onNotice?(listener: (notice: DriverNotice) => void): void;
}

/** A backend of the data plane: how vFunD creates an instance's region and starts its service. */
export interface RuntimeFactory<Region = unknown> {
  /**
   * Create the region of `spec.capacity` bytes and start the service with `spec.driver`; resolves once it
   * answers. Rejects when the driver or service cannot start (vFunD nacks `driver-failed`) or the host
   * cannot back the region (`no-resources`).
   */
  activate(spec: ActivationSpec): Promise<InstanceRuntime<Region>>;
  /**
   * Counters of the instances a vFunD that did not stop left behind, by
   * instance id, as found in their control areas (null: unknown). vFunD
   * journals them with the recovery release.
   */
  readonly recovered?: Readonly<Record<string, ComputationStats | null>>;
}
