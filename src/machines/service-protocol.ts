/**
 * The service side of the computation protocol (paper §3.2.3) as an XState
 * v5 machine: wait -> busy -> done, or error with a code. It is the
 * specification the data plane's hand-written service loop is checked
 * against in property tests (the loop itself does not run an actor per call:
 * the call path stays allocation-free).
 */
import { assign, setup } from 'xstate';

export interface ServiceProtocolContext {
  /** Seq of the last request taken (28-bit, wraps). */
  lastSeq: number;
  /** Error code of the last error, 0 if none. */
  lastError: number;
  hasResult: boolean;
}

export type ServiceProtocolEvent =
  /** A new request word was seen in dataout and passed validation. */
  | { type: 'REQUEST'; seq: number; command: 'set' | 'get' | 'rst' }
  /** A new request word was seen and failed validation (bad command, length or seq). */
  | { type: 'REJECT'; seq: number; code: number }
  /** The driver finished the request. */
  | { type: 'COMPLETE'; hasResult: boolean }
  /** The driver refused or faulted. */
  | { type: 'FAIL'; code: number };

export const serviceProtocolMachine = setup({
  types: { context: {} as ServiceProtocolContext, events: {} as ServiceProtocolEvent },
}).createMachine({
  id: 'service',
  context: { lastSeq: 0, lastError: 0, hasResult: false },
  initial: 'wait',
  states: {
    wait: {
      on: {
        REQUEST: { target: 'busy', actions: assign(({ event }) => ({ lastSeq: event.seq })) },
        REJECT: { target: 'error', actions: assign(({ event }) => ({ lastSeq: event.seq, lastError: event.code })) },
      },
    },
    busy: {
      on: {
        COMPLETE: { target: 'done', actions: assign(({ event }) => ({ hasResult: event.hasResult, lastError: 0 })) },
        FAIL: { target: 'error', actions: assign(({ event }) => ({ lastError: event.code })) },
      },
    },
    done: {
      on: {
        REQUEST: { target: 'busy', actions: assign(({ event }) => ({ lastSeq: event.seq })) },
        REJECT: { target: 'error', actions: assign(({ event }) => ({ lastSeq: event.seq, lastError: event.code })) },
      },
    },
    error: {
      on: {
        REQUEST: { target: 'busy', actions: assign(({ event }) => ({ lastSeq: event.seq })) },
        REJECT: { target: 'error', actions: assign(({ event }) => ({ lastSeq: event.seq, lastError: event.code })) },
      },
    },
  },
});
