/**
 * The domain's shared vocabulary: where a vFunction runs, why vFunD says no,
 * why an instance goes away, what a computation counts and how a service
 * process ended. Low in the graph: the event catalogue, the drivers, the
 * machines, vFunD and the guest library all speak it. Pure data: no imports.
 */

/** Where a vFunction runs: a hardware device or a software version on the host. */
export type Kind = 'hw' | 'sw';

/** Why vFunD said no. Stable strings: audits group by them. */
export type NackReason =
  | 'credential' // unknown tenant or wrong secret
  | 'quota' // tenant already holds its maximum number of instances
  | 'unknown-function' // no such function in the catalogue
  | 'unrecognized-resource' // the function exists, but not in the requested kind
  | 'no-capacity' // every slot of that function/kind is taken
  | 'already-held' // this tenant's app already holds a live instance of this function (one region dir each)
  | 'bad-request' // a field is malformed (name too long, bad characters, ...)
  | 'unknown-instance' // no live instance with that id
  | 'not-owner' // the instance belongs to another tenant
  | 'wrong-phase' // the lifecycle machine does not take it now: e.g. activate twice (docs/lifecycle.md)
  | 'driver-failed' // the driver or service could not be started
  | 'no-resources' // the host could not back the region (memory or disk full): try again later
  | 'device-unavailable' // the function's device has no usable adapter, or was lost: the guest falls back to software
  | 'not-started' // vFunD has not journaled its configuration yet
  | 'journal-unavailable' // the journal cannot take events (unreachable, disk full, I/O error): vFunD is fail-closed (not journaled: it cannot be)
  | 'replayed' // a control request whose nonce was already used, or whose time is outside the window
  | 'malformed' // a control request that is not valid JSON or misses a field
  | 'tenant-disabled' // an operator disabled the tenant (`vfun admin tenant disable`): no new negotiations
  | 'draining'; // an operator drains the host or the tenant (`vfun admin drain`): no new negotiations, live instances go on

/** Activation nacks after the reservation was made (the instance is gone: its reservation freed). */
export const ACTIVATION_FAILURES: ReadonlySet<NackReason> = new Set(['driver-failed', 'no-resources']);

/** Reasons that are security-relevant: audit summaries count them separately. */
export const SECURITY_REASONS: ReadonlySet<NackReason> = new Set(['credential', 'not-owner', 'bad-request', 'replayed', 'malformed']);

/** Why an instance went away. */
export type ReleaseReason =
  | 'client'
  | 'failure'
  | 'shutdown'
  | 'recovery'
  | 'lease'
  /** An operator evicted the instance (`vfun admin evict`). */
  | 'evicted'
  /** An operator disabled its tenant (`vfun admin tenant disable`). */
  | 'disabled'
  /** A configuration reload removed its tenant, its function or its kind. */
  | 'reconfigured';

/** Per-instance call counters, collected off the call path and journaled at release. */
export interface ComputationStats {
  readonly calls: number;
  /** Count of `error` statuses by error code name. */
  readonly errors: Readonly<Record<string, number>>;
}

/** What ended a service process: its exit code, or the signal that killed it (`SIGBUS`, `SIGKILL`, ...). */
export interface ServiceExitCause {
  readonly code: number | null;
  readonly signal: string | null;
}

/** Who an accelerator is, as its driver reports it (a WebGPU adapter: src/gpu/webgpu.ts). */
export interface AdapterIdentity {
  /** e.g. `nvidia`, `amd`, `intel`, `mesa`. */
  readonly vendor: string;
  /** e.g. `turing`, `rdna-3`, `software`. */
  readonly architecture: string;
  /** The device as its driver names it, e.g. `llvmpipe-llvm-15-0-6-256-bits-`. */
  readonly device: string;
  /** The driver's own description, e.g. `llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)`. */
  readonly description: string;
  /** True for a CPU implementation (lavapipe, SwiftShader): its figures say nothing about a real GPU. */
  readonly software: boolean;
}

/**
 * What a driver did to make a function ready on its device, journaled in `activation.acked`:
 * the GPU's counterpart of loading a bitstream.
 */
export interface DriverActivation {
  /** The device family, e.g. `webgpu`. */
  readonly device: string;
  readonly adapter: AdapterIdentity;
  /** Time to compile the pipelines and allocate the buffers, in ms. */
  readonly prepareMs: number;
}

/**
 * What a driver tells vFunD off the call path (vFunD journals it; nothing is written per call):
 * - `failover`: the device is gone; the call in flight and every later call of this instance run
 *   on the software twin (told once per instance);
 * - `mismatch`: a cross-checked call's result differs from the software twin's (`call` counts
 *   the instance's calls from 1).
 */
export type DriverNotice =
  | { readonly type: 'failover'; readonly detail: string }
  | { readonly type: 'mismatch'; readonly call: number; readonly detail: string };
