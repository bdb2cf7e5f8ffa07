/**
 * The lifecycle of one vFunction instance (paper §3.2), as an XState v5
 * machine: negotiation -> activation -> computation -> release -> released,
 * with the nack paths and a failure path.
 *
 * This machine is the lifecycle model, not a picture beside it:
 * - in vFunD, each live instance's state *is* this machine's state
 *   (`InstanceState.lifecycle`, src/actors/state.ts). `evolve` advances it with
 *   XState's pure `transition()` ({@link lifecycleNext}) for every journaled
 *   event, and `decide` refuses what the machine cannot accept (it steps the
 *   machine with {@link lifecycleNext} and nacks `wrong-phase` on null): a
 *   second `activate`, a restart outside computation. Replay folds the same way.
 * - the guest library runs one actor of it per handle it holds.
 *
 * Computation itself (set/get/rst, wait/busy/done, one per call) is not
 * modelled here: it never reaches vFunD (no journal write on the call path).
 * Its model is the service protocol machine (service-protocol.ts), the oracle
 * of the hand-written service.
 *
 * The machine is pure: no I/O, no clock.
 */
import { assign, setup, type SnapshotFrom, type StateValue } from 'xstate';
import { pureStep } from './pure-step.js';
import type { ComputationStats, Kind, NackReason, ReleaseReason } from '../events/catalogue.js';

/**
 * What the lifecycle machine remembers of its instance: the request, the instance id and capacity once known,
 * restarts, the last nack or failure, and the counters journaled at release.
 */
export interface LifecycleContext {
  readonly tenant: string;
  readonly app: string;
  readonly fn: string;
  readonly kind: Kind;
  readonly instance: string | null;
  /** Payload capacity of the region, once activation started. */
  readonly capacity: number | null;
  /** Service restarts by its supervisor during computation. */
  readonly restarts: number;
  /** Why the last nack or failure happened. */
  readonly reason: NackReason | null;
  readonly detail: string | null;
  readonly releaseReason: ReleaseReason | null;
  /** The call counters journaled at release (null: unknown, e.g. recovered after a crash). */
  readonly stats: ComputationStats | null;
}

/**
 * What moves an instance's lifecycle: one event per journaled decision about it (vFunD) or per answer the guest got.
 */
export type LifecycleEvent =
  | { type: 'NEGOTIATION_ACK'; instance: string; kind: Kind }
  | { type: 'NEGOTIATION_NACK'; reason: NackReason; detail: string }
  /** Activation started: vFunD creates the region and starts the service. */
  | { type: 'ACTIVATE'; capacity?: number }
  | { type: 'ACTIVATION_ACK'; capacity?: number }
  /** Activation failed (driver, resources): the reservation is freed, the instance ends. */
  | { type: 'ACTIVATION_NACK'; reason: NackReason; detail: string }
  /** The service's supervisor restarted it (a driver that threw or hung). */
  | { type: 'SERVICE_RESTARTED'; attempt: number }
  /** The service died for good; vFunD releases the instance. */
  | { type: 'FAULT'; detail: string }
  /** The guest holding the instance is gone (its lease ended); vFunD releases the instance. */
  | { type: 'CLIENT_LOST'; detail: string }
  | { type: 'RELEASE'; reason: ReleaseReason }
  | { type: 'RELEASED'; stats: ComputationStats | null };

/** What a lifecycle starts from: the negotiation request (tenant, app, function, kind asked for). */
export interface LifecycleInput {
  readonly tenant: string;
  readonly app: string;
  readonly fn: string;
  readonly kind: Kind;
}

/**
 * The lifecycle of one vFunction instance as an XState machine (see the module's comment and docs/lifecycle.md).
 * Pure: step it with `lifecycleNext`, or run an actor of it with input LifecycleInput.
 */
export const lifecycleMachine = setup({
  types: {
    context: {} as LifecycleContext,
    events: {} as LifecycleEvent,
    input: {} as LifecycleInput,
  },
  actions: {
    recordNack: assign(({ event }) =>
      event.type === 'NEGOTIATION_NACK' || event.type === 'ACTIVATION_NACK' ? { reason: event.reason, detail: event.detail } : {},
    ),
    recordCapacity: assign(({ event }) =>
      (event.type === 'ACTIVATE' || event.type === 'ACTIVATION_ACK') && event.capacity !== undefined ? { capacity: event.capacity } : {},
    ),
    recordFailure: assign(({ event }) => (event.type === 'FAULT' || event.type === 'CLIENT_LOST' ? { detail: event.detail } : {})),
    recordRelease: assign(({ event }) => (event.type === 'RELEASE' ? { releaseReason: event.reason } : {})),
  },
}).createMachine({
  id: 'vfunction',
  /** The initial context: the request named in the input, nothing negotiated yet. */
  context: ({ input }) => ({
    tenant: input.tenant,
    app: input.app,
    fn: input.fn,
    kind: input.kind,
    instance: null,
    capacity: null,
    restarts: 0,
    reason: null,
    detail: null,
    releaseReason: null,
    stats: null,
  }),
  initial: 'negotiation',
  states: {
    negotiation: {
      on: {
        NEGOTIATION_ACK: {
          target: 'activation',
          actions: assign(({ event }) => ({ instance: event.instance, kind: event.kind })),
        },
        NEGOTIATION_NACK: { target: 'nacked', actions: 'recordNack' },
      },
    },
    activation: {
      initial: 'pending',
      states: {
        /** Negotiated: a slot is reserved, the guest has not asked to activate yet. */
        pending: { on: { ACTIVATE: { target: 'running', actions: 'recordCapacity' } } },
        /** The region is being created and the service started. */
        running: {
          on: {
            ACTIVATION_ACK: { target: '#vfunction.computation', actions: 'recordCapacity' },
            // An activation nack ends the instance: vFunD frees its reservation.
            ACTIVATION_NACK: { target: '#vfunction.nacked', actions: 'recordNack' },
          },
        },
      },
      on: {
        CLIENT_LOST: { target: 'failed', actions: 'recordFailure' },
        FAULT: { target: 'failed', actions: 'recordFailure' },
        RELEASE: { target: '#vfunction.release', actions: 'recordRelease' },
      },
    },
    /** The guest calls through the region (service-protocol.ts models each call). */
    computation: {
      on: {
        SERVICE_RESTARTED: { actions: assign(({ context }) => ({ restarts: context.restarts + 1 })) },
        FAULT: { target: 'failed', actions: 'recordFailure' },
        CLIENT_LOST: { target: 'failed', actions: 'recordFailure' },
        RELEASE: { target: '#vfunction.release', actions: 'recordRelease' },
      },
    },
    /** The service died or its guest is gone; vFunD releases the instance. */
    failed: { on: { RELEASE: { target: 'release', actions: 'recordRelease' } } },
    release: { on: { RELEASED: { target: 'released', actions: assign(({ event }) => ({ stats: event.stats })) } } },
    released: { type: 'final' },
    nacked: { type: 'final' },
  },
});

/** The lifecycle's top-level phases: the paper's four, the failure path and the two ends. */
export const LIFECYCLE_PHASES = ['negotiation', 'activation', 'computation', 'failed', 'release', 'released', 'nacked'] as const;
/** One of LIFECYCLE_PHASES: where an instance is in its lifecycle, at the top level. */
export type LifecyclePhase = (typeof LIFECYCLE_PHASES)[number];

/** The top-level phase of a lifecycle state value. */
export function phaseOf(value: StateValue): LifecyclePhase {
  return (typeof value === 'string' ? value : Object.keys(value)[0]) as LifecyclePhase;
}

/** A state value as one dotted path: `computation`, `activation.pending`. */
export function stepOf(value: StateValue): string {
  if (typeof value === 'string') return value;
  const [k, v] = Object.entries(value)[0]!;
  return v === undefined ? k : `${k}.${stepOf(v)}`;
}

/**
 * A lifecycle state as plain data: what vFunD keeps per instance and what
 * replay rebuilds. (An XState snapshot carries its machine; this is its value
 * and context, from which {@link lifecycleNext} resolves the snapshot again.)
 */
export interface LifecycleState {
  readonly value: StateValue;
  readonly context: LifecycleContext;
}

type LifecycleSnapshot = SnapshotFrom<typeof lifecycleMachine>;

/** XState's transition for this machine (pure-step.ts: the same transition, one inert scope). */
const transitionOf = pureStep(lifecycleMachine, { tenant: '', app: '', fn: '', kind: 'sw' });

/** Snapshots already resolved, by the plain state they were taken from (states are immutable). */
const resolved = new WeakMap<LifecycleState, LifecycleSnapshot>();

function resolve(state: LifecycleState): LifecycleSnapshot {
  let snapshot = resolved.get(state);
  if (snapshot === undefined) {
    snapshot = lifecycleMachine.resolveState({ value: state.value, context: state.context });
    resolved.set(state, snapshot);
  }
  return snapshot;
}

/** One step: the next plain state, its snapshot remembered. */
function step(snapshot: LifecycleSnapshot, event: LifecycleEvent): LifecycleState {
  const next = transitionOf(snapshot, event);
  const state: LifecycleState = { value: next.value, context: next.context };
  resolved.set(state, next);
  return state;
}

/** A lifecycle that has just been negotiated: in `activation.pending`, holding the instance id. */
export function negotiatedLifecycle(input: LifecycleInput, instance: string): LifecycleState {
  const start = lifecycleMachine.resolveState({ value: 'negotiation', context: initialContext(input) });
  return step(start, { type: 'NEGOTIATION_ACK', instance, kind: input.kind });
}

function initialContext(input: LifecycleInput): LifecycleContext {
  return { tenant: input.tenant, app: input.app, fn: input.fn, kind: input.kind, instance: null, capacity: null, restarts: 0, reason: null, detail: null, releaseReason: null, stats: null };
}

/** Would the machine, in this state, take this event? */
export function lifecycleAccepts(state: LifecycleState, event: LifecycleEvent): boolean {
  return resolve(state).can(event);
}

/** The state after an event (XState's pure transition), or null when the machine does not take it. */
export function lifecycleNext(state: LifecycleState, event: LifecycleEvent): LifecycleState | null {
  const snapshot = resolve(state);
  return snapshot.can(event) ? step(snapshot, event) : null;
}

/** Is this a state the instance has left for good (released or nacked)? */
export function lifecycleEnded(state: LifecycleState): boolean {
  const phase = phaseOf(state.value);
  return phase === 'released' || phase === 'nacked';
}
