/**
 * The service side of the computation protocol (paper §3.2.3;
 * docs/region-format.md §9) as an XState v5 machine: what the data plane's
 * service (src/dataplane/service.ts) publishes in `datain` for every request
 * word a client writes into `dataout`, every outcome of the driver, and every
 * restart of the service on its region.
 *
 * It is the oracle of the real service: test/dataplane/protocol-oracle.int.spec.ts
 * drives a service in another process and this machine (through the pure
 * `transition`) with the same generated steps and compares, after every step,
 * what the service published with `statusOf(snapshot)`; `vfun replay-trace`
 * checks every recorded call against it. The service itself does not run an
 * actor: its call path stays hand-written and allocation-free.
 *
 * States are what the service is doing, named after the status it publishes:
 * `wait` (nothing answered yet), `busy` (a SET is with the driver), `resetting`
 * (an RST is with the driver; also published as BUSY), `done`, `error`. The
 * context is the service's own memory (last word and seq taken, the result it
 * holds) and a copy of what it published (state word, error, len, counters).
 *
 * Pure: no I/O, no clock; only the layout's constants.
 */
import { assign, setup } from 'xstate';
import { Command, ErrorCode, MAX_CAPACITY, nextSeq, packWord, Status, wordLow4, wordSeq } from '../dataplane/layout.js';

/** Number of error counters in datain (indexed by ErrorCode; index 0 unused). */
const COUNTERS = 8;

/** What a service protocol machine starts from: the region's capacity. */
export interface ServiceProtocolInput {
  /** vFunD's record of the payload capacity (what the service checks `dataout.len` against); default MAX_CAPACITY. */
  readonly capacity?: number;
}

/** The service's memory and what it last published in datain: the oracle's view of one region. */
export interface ServiceProtocolContext {
  readonly capacity: number;
  /** The last request word the service took from dataout (0 before any). A client rewriting it is not heard. */
  lastWord: number;
  /** Seq of that word: the next well-formed request must carry nextSeq(lastSeq), whatever the word was. */
  lastSeq: number;
  /** Whether a GET would re-deliver a result (a successful SET since the last RST, ERROR or restart). */
  hasResult: boolean;
  /** Length of the held result. */
  resultLen: number;
  /** datain.state as last published: packWord(ackSeq, status). */
  stateWord: number;
  /** datain.error of the last answer (0 for DONE and before any answer). */
  error: number;
  /** datain.len of the last answer when it is DONE (result length); null after an ERROR (a message of at most min(256, capacity) bytes). */
  len: number | null;
  /** datain.calls: answers published (DONE or ERROR), mod 2^32. */
  calls: number;
  /** datain.errorCounts: ERROR answers by code, mod 2^32. */
  errorCounts: readonly number[];
}

/** A request word a client wrote (with dataout.len as it stood when the service read the word). */
export type ServiceRequestEvent =
  | { type: 'SET'; seq: number; len: number }
  | { type: 'GET'; seq: number; len: number }
  | { type: 'RST'; seq: number; len: number }
  /** A word whose command field (low 4 bits) is not SET, GET or RST. */
  | { type: 'WORD'; word: number; len: number };

/**
 * What the service protocol machine steps on: a request word a client wrote, a driver outcome, or a restart of the service.
 */
export type ServiceProtocolEvent =
  | ServiceRequestEvent
  /** The driver returned: `len` is what `call()` returned (any number: the service checks it); 0 for `reset()`. */
  | { type: 'DRIVER_DONE'; len: number }
  /** The driver threw or its promise rejected; `refused`: with a DriverInputError (bad arguments). */
  | { type: 'DRIVER_FAILED'; refused: boolean }
  /**
   * A new service took the region over (a restart after its predecessor died or
   * was stopped: `resume`), finding `req` in dataout.req. From `busy` or
   * `resetting` this is the crash of the call in flight.
   */
  | { type: 'RESTART'; req: number };

/** The event for a raw word written into dataout.req, with dataout.len `len` (read as a u32). */
export function requestEvent(word: number, len: number): ServiceRequestEvent {
  const seq = wordSeq(word);
  const l = len >>> 0;
  switch (wordLow4(word)) {
    case Command.SET:
      return { type: 'SET', seq, len: l };
    case Command.GET:
      return { type: 'GET', seq, len: l };
    case Command.RST:
      return { type: 'RST', seq, len: l };
    default:
      return { type: 'WORD', word: word | 0, len: l };
  }
}

/** The word a request event stands for. */
export function wordOf(e: ServiceRequestEvent): number {
  switch (e.type) {
    case 'SET':
      return packWord(e.seq, Command.SET);
    case 'GET':
      return packWord(e.seq, Command.GET);
    case 'RST':
      return packWord(e.seq, Command.RST);
    default:
      return e.word | 0;
  }
}

/** How the service treats a request word, in the order it checks (docs/region-format.md §9). */
export type RequestVerdict = 'unheard' | 'badSeq' | 'badCommand' | 'badLength' | 'valid';

function isRequest(e: ServiceProtocolEvent): e is ServiceRequestEvent {
  return e.type === 'SET' || e.type === 'GET' || e.type === 'RST' || e.type === 'WORD';
}

/** The verdict on a request word, or null for another event. */
export function verdict(c: ServiceProtocolContext, e: ServiceProtocolEvent): RequestVerdict | null {
  if (!isRequest(e)) return null;
  const word = wordOf(e);
  if (word === c.lastWord) return 'unheard'; // the word did not change: nothing to wake up for
  if (wordSeq(word) !== nextSeq(c.lastSeq)) return 'badSeq';
  if (e.type === 'WORD') return 'badCommand';
  if (e.len > c.capacity) return 'badLength';
  return 'valid';
}

/** What the service published, as a client reads it from datain. */
export interface PublishedStatus {
  readonly seq: number;
  /** Status (layout.ts Status): WAIT, BUSY, DONE or ERROR. */
  readonly status: number;
  readonly error: number;
  readonly len: number | null;
  readonly calls: number;
  readonly errorCounts: readonly number[];
}

/** What a snapshot predicts datain holds. */
export function statusOf(s: { readonly context: ServiceProtocolContext }): PublishedStatus {
  const c = s.context;
  return { seq: wordSeq(c.stateWord), status: wordLow4(c.stateWord), error: c.error, len: c.len, calls: c.calls, errorCounts: c.errorCounts };
}

type Answer = Pick<ServiceProtocolContext, 'stateWord' | 'error' | 'len' | 'calls' | 'errorCounts' | 'hasResult'>;

/** datain after an answer; any ERROR forgets the held result. */
function answer(c: ServiceProtocolContext, seq: number, code: number, len: number): Answer {
  if (code === ErrorCode.NONE) {
    return { stateWord: packWord(seq, Status.DONE), error: 0, len, calls: (c.calls + 1) >>> 0, errorCounts: c.errorCounts, hasResult: c.hasResult };
  }
  const errorCounts = c.errorCounts.map((n, i) => (i === code ? (n + 1) >>> 0 : n));
  return { stateWord: packWord(seq, Status.ERROR), error: code, len: null, calls: (c.calls + 1) >>> 0, errorCounts, hasResult: false };
}

/** The service takes the word (whatever its verdict): it becomes lastWord, its seq lastSeq (resync). */
function take(e: ServiceProtocolEvent): Pick<ServiceProtocolContext, 'lastWord' | 'lastSeq'> {
  const word = isRequest(e) ? wordOf(e) : 0;
  return { lastWord: word, lastSeq: wordSeq(word) };
}

const REJECTIONS: Readonly<Record<'badSeq' | 'badCommand' | 'badLength', number>> = {
  badSeq: ErrorCode.BAD_SEQ,
  badCommand: ErrorCode.BAD_COMMAND,
  badLength: ErrorCode.BAD_LENGTH,
};

/** Whether a restarting service finds dataout.req unanswered: it then answers it DRIVER_FAULT. */
function restartFaults(c: ServiceProtocolContext, req: number): boolean {
  const answered = wordSeq(c.stateWord) === wordSeq(req) && wordLow4(c.stateWord) !== Status.BUSY;
  return !answered;
}

const validLength = (c: ServiceProtocolContext, n: number): boolean => Number.isInteger(n) && n >= 0 && n <= c.capacity;

const is = (v: RequestVerdict) => ({ type: 'verdictIs' as const, params: { verdict: v } });
const REJECT = (['badSeq', 'badCommand', 'badLength'] as const).map((v) => ({ guard: is(v), target: 'error', actions: 'reject' as const }));

/**
 * The idle states (wait, done, error) take request words. A word written while
 * the driver computes is not heard until the answer, and only the last one then
 * (one request at a time, docs/region-format.md §8): `busy` and `resetting` take none.
 */
const IDLE = {
  on: {
    SET: [...REJECT, { guard: is('valid'), target: 'busy', actions: 'startDriver' as const }],
    GET: [
      ...REJECT,
      { guard: { type: 'validWithResult' as const }, target: 'done', actions: 'redeliver' as const },
      { guard: is('valid'), target: 'error', actions: 'noResult' as const },
    ],
    RST: [...REJECT, { guard: is('valid'), target: 'resetting', actions: 'startDriver' as const }],
    WORD: REJECT,
  },
};

/**
 * The computation protocol's service side as an XState machine (see the module's comment): the oracle that a
 * service's published status (`statusOf`) is compared against after every step. Pure.
 */
export const serviceProtocolMachine = setup({
  types: {
    context: {} as ServiceProtocolContext,
    events: {} as ServiceProtocolEvent,
    input: {} as ServiceProtocolInput,
  },
  guards: {
    verdictIs: ({ context, event }, params: { verdict: RequestVerdict }) => verdict(context, event) === params.verdict,
    validWithResult: ({ context, event }) => context.hasResult && verdict(context, event) === 'valid',
    validResult: ({ context, event }) => event.type === 'DRIVER_DONE' && validLength(context, event.len),
    restartFaults: ({ context, event }) => event.type === 'RESTART' && restartFaults(context, event.req),
    publishedIs: ({ context }, params: { status: number }) => wordLow4(context.stateWord) === params.status,
  },
  actions: {
    reject: assign(({ context, event }) => {
      const v = verdict(context, event) as keyof typeof REJECTIONS;
      const t = take(event);
      return { ...t, ...answer(context, t.lastSeq, REJECTIONS[v], 0) };
    }),
    /** SET or RST handed to the driver: BUSY for its seq; the driver owns the result area from here on. */
    startDriver: assign(({ event }) => {
      const t = take(event);
      return { ...t, hasResult: false, stateWord: packWord(t.lastSeq, Status.BUSY) };
    }),
    redeliver: assign(({ context, event }) => {
      const t = take(event);
      return { ...t, ...answer(context, t.lastSeq, ErrorCode.NONE, context.resultLen) };
    }),
    noResult: assign(({ context, event }) => {
      const t = take(event);
      return { ...t, ...answer(context, t.lastSeq, ErrorCode.NO_RESULT, 0) };
    }),
    keepResult: assign(({ context, event }) => {
      const n = event.type === 'DRIVER_DONE' ? event.len : 0;
      return { ...answer(context, context.lastSeq, ErrorCode.NONE, n), hasResult: true, resultLen: n };
    }),
    resetDone: assign(({ context }) => answer(context, context.lastSeq, ErrorCode.NONE, 0)),
    badResult: assign(({ context }) => answer(context, context.lastSeq, ErrorCode.DRIVER_FAULT, 0)),
    driverFailed: assign(({ context, event }) =>
      answer(context, context.lastSeq, event.type === 'DRIVER_FAILED' && event.refused ? ErrorCode.BAD_INPUT : ErrorCode.DRIVER_FAULT, 0),
    ),
    /** A new service: no result, seq from dataout.req; counters carry on (vFunD's control area). */
    resume: assign(({ event }) => {
      const req = event.type === 'RESTART' ? event.req | 0 : 0;
      return { lastWord: req, lastSeq: wordSeq(req), hasResult: false };
    }),
    resumeFault: assign(({ context, event }) => {
      const req = event.type === 'RESTART' ? event.req | 0 : 0;
      const resumed = { ...context, lastWord: req, lastSeq: wordSeq(req), hasResult: false };
      return { lastWord: req, lastSeq: wordSeq(req), ...answer(resumed, wordSeq(req), ErrorCode.DRIVER_FAULT, 0) };
    }),
  },
}).createMachine({
  id: 'service',
  // xstate's pure transition() builds an inert actor without input on every call: that must not throw (nor cost).
  /** The initial context: nothing taken nor published yet (state WAIT, seq 0, counters 0), the capacity from the input. */
  context: ({ input }) => ({
    capacity: input?.capacity ?? MAX_CAPACITY,
    lastWord: 0,
    lastSeq: 0,
    hasResult: false,
    resultLen: 0,
    stateWord: packWord(0, Status.WAIT),
    error: 0,
    len: 0,
    calls: 0,
    errorCounts: new Array<number>(COUNTERS).fill(0),
  }),
  initial: 'wait',
  states: {
    wait: IDLE,
    busy: {
      on: {
        DRIVER_DONE: [
          { guard: 'validResult', target: 'done', actions: 'keepResult' },
          { target: 'error', actions: 'badResult' },
        ],
        DRIVER_FAILED: { target: 'error', actions: 'driverFailed' },
      },
    },
    resetting: {
      on: {
        DRIVER_DONE: { target: 'done', actions: 'resetDone' },
        DRIVER_FAILED: { target: 'error', actions: 'driverFailed' },
      },
    },
    done: IDLE,
    error: IDLE,
  },
  on: {
    RESTART: [
      { guard: 'restartFaults', target: '.error', actions: 'resumeFault' },
      { guard: { type: 'publishedIs', params: { status: Status.WAIT } }, target: '.wait', actions: 'resume' },
      { guard: { type: 'publishedIs', params: { status: Status.DONE } }, target: '.done', actions: 'resume' },
      { guard: { type: 'publishedIs', params: { status: Status.ERROR } }, target: '.error', actions: 'resume' },
    ],
  },
});
