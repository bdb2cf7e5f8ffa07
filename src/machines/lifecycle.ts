/**
 * The lifecycle of one vFunction instance (paper §3.2), as an XState v5
 * machine: negotiation -> activation -> computation (wait ⇄ busy -> done)
 * -> release -> released, with the nack paths and a failure path.
 *
 * vFunD runs one actor of this machine per instance (src/actors/vfund.ts);
 * the guest library runs one per handle it holds. The machine is pure: no
 * I/O, no clock.
 */
import { assign, setup } from 'xstate';
import type { Kind, NackReason, ReleaseReason } from '../events/catalogue.js';

export interface LifecycleContext {
  readonly tenant: string;
  readonly app: string;
  readonly fn: string;
  kind: Kind;
  instance: string | null;
  /** Why the last nack or failure happened. */
  reason: NackReason | null;
  detail: string | null;
  releaseReason: ReleaseReason | null;
  /** Requests answered (done or error) while this actor watched the computation. */
  answered: number;
  /** Requests answered with `error`. */
  errors: number;
}

export type LifecycleEvent =
  | { type: 'NEGOTIATION_ACK'; instance: string; kind: Kind }
  | { type: 'NEGOTIATION_NACK'; reason: NackReason; detail: string }
  | { type: 'ACTIVATION_ACK' }
  | { type: 'ACTIVATION_NACK'; reason: NackReason; detail: string }
  /** A command was posted in dataout: set, get or rst. */
  | { type: 'SET' }
  | { type: 'GET' }
  | { type: 'RST' }
  /** The service answered the pending command. */
  | { type: 'DONE' }
  | { type: 'ERROR'; code: string }
  /** The service or driver died; vFunD will release the instance. */
  | { type: 'FAULT'; detail: string }
  | { type: 'RELEASE'; reason: ReleaseReason }
  | { type: 'RELEASED' };

export interface LifecycleInput {
  readonly tenant: string;
  readonly app: string;
  readonly fn: string;
  readonly kind: Kind;
}

export const lifecycleMachine = setup({
  types: {
    context: {} as LifecycleContext,
    events: {} as LifecycleEvent,
    input: {} as LifecycleInput,
  },
  actions: {
    recordNack: assign(({ event }) =>
      event.type === 'NEGOTIATION_NACK' || event.type === 'ACTIVATION_NACK'
        ? { reason: event.reason, detail: event.detail }
        : {},
    ),
    countAnswer: assign(({ context, event }) => ({
      answered: context.answered + 1,
      errors: context.errors + (event.type === 'ERROR' ? 1 : 0),
    })),
  },
}).createMachine({
  id: 'vfunction',
  context: ({ input }) => ({
    tenant: input.tenant,
    app: input.app,
    fn: input.fn,
    kind: input.kind,
    instance: null,
    reason: null,
    detail: null,
    releaseReason: null,
    answered: 0,
    errors: 0,
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
      on: {
        ACTIVATION_ACK: { target: 'computation' },
        // An activation nack ends the instance: vFunD has already freed its reservation.
        ACTIVATION_NACK: { target: 'nacked', actions: 'recordNack' },
        RELEASE: { target: 'release', actions: assign(({ event }) => ({ releaseReason: event.reason })) },
      },
    },
    computation: {
      initial: 'wait',
      states: {
        /** The service is ready for a command. */
        wait: { on: { SET: 'busy', GET: 'busy', RST: 'busy' } },
        /** A command is in flight. */
        busy: {
          on: {
            DONE: { target: 'done', actions: 'countAnswer' },
            ERROR: { target: 'wait', actions: 'countAnswer' },
          },
        },
        /** The last command finished; its result is in datain. */
        done: { on: { SET: 'busy', GET: 'busy', RST: 'busy' } },
      },
      on: {
        FAULT: { target: 'failed', actions: assign(({ event }) => ({ detail: event.detail })) },
        RELEASE: { target: 'release', actions: assign(({ event }) => ({ releaseReason: event.reason })) },
      },
    },
    /** The service faulted; vFunD releases the instance. */
    failed: {
      on: { RELEASE: { target: 'release', actions: assign(({ event }) => ({ releaseReason: event.reason })) } },
    },
    release: { on: { RELEASED: 'released' } },
    released: { type: 'final' },
    nacked: { type: 'final' },
  },
});

export type LifecyclePhase = 'negotiation' | 'activation' | 'computation' | 'failed' | 'release' | 'released' | 'nacked';

/** The top-level phase of a lifecycle snapshot's value. */
export function phaseOf(value: unknown): LifecyclePhase {
  return (typeof value === 'string' ? value : Object.keys(value as object)[0]) as LifecyclePhase;
}
