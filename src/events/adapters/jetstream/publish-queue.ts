/**
 * The publish queue of the JetStream journal (docs/jetstream.md, "Headers",
 * "The single-writer rule", "Outbox") as a pure state machine: every decision
 * about the envelopes accepted by append() — what to send next and with which
 * expectations, what an ack, a refusal, a failure or timeout, a lost or
 * regained connection, the retry timer, an outbox write or close() change.
 * `step(state, config, input)` returns the next state (publish-state.ts) and
 * the effects to carry out, in order; it does no I/O and never changes the
 * state it is given (it changes a shallow copy). The journal (journal.ts)
 * carries out the effects and feeds their outcomes back as inputs.
 */
import { ConcurrencyError, JournalCorruptError, VirtFunError } from '../../../errors.js';
import {
  ackedSeq,
  describeStored,
  durableSeq,
  failureOf,
  itemAt,
  tailSeq,
  type PublishConfig,
  type PublishEffect,
  type PublishInput,
  type PublishLog,
  type PublishMode,
  type PublishState,
  type PublishStep,
  type QueuedItem,
} from './publish-state.js';
import { errorText } from './support.js';

export * from './publish-state.js';

/** JetStream API error codes for a publish refused by an expectation header. */
export const REFUSAL_CODES: ReadonlySet<number> = new Set([10070 /* wrong last msg id */, 10071 /* wrong last sequence */, 10164 /* wrong last sequence (unknown) */]);
const MAX_RETRY_MS = 2000;
const MAX_RESYNCS_WITHOUT_PROGRESS = 5;
const COMPACT_AFTER = 1024;

// -- the transition -------------------------------------------------------------

type Draft<P> = { -readonly [K in keyof PublishState<P>]: PublishState<P>[K] };
interface Ctx<P> {
  readonly d: Draft<P>;
  readonly c: PublishConfig;
  readonly fx: PublishEffect<P>[];
}

/** The next state and the effects to carry out, in order, for one input. */
export function step<P>(state: PublishState<P>, config: PublishConfig, input: PublishInput<P>): PublishStep<P> {
  const x: Ctx<P> = { d: { ...state }, c: config, fx: [] };
  const { d } = x;
  const mode = d.mode;
  // After close only facts are recorded: acks, outbox writes, looked-up subjects.
  if (mode.mode === 'closed' && !['enqueue', 'acked', 'outboxWritten', 'lookedUp'].includes(input.type)) return { state, effects: [] };
  switch (input.type) {
    case 'enqueue':
      enqueue(x, input.items);
      break;
    case 'adopt':
      d.log = pushLog(d, input.items);
      d.outboxedTo = d.outboxDurableTo = tailSeq(d);
      d.outboxUsed = true;
      d.diverted = true;
      settle(x);
      x.fx.push({ type: 'notify' });
      pump(x);
      break;
    case 'acked':
      // Acks count in every mode, a fence included: they are true, and head() reports them.
      if (input.gen === d.gen) d.inFlight--;
      if (input.seq <= d.storedTo) {
        // Known stored already (an abandoned attempt's ack came first): its place in the window is free again.
        if (input.gen === d.gen) pump(x);
        break;
      }
      if (input.streamSeq !== input.seq || input.stream !== x.c.stream) {
        const where = `envelope seq ${input.seq} was stored as ${input.stream} message ${input.streamSeq}`;
        fence(x, new JournalCorruptError(x.c.url, `${where}: the stream and the journal disagree`));
        break;
      }
      d.storedTo = input.seq; // and every envelope before it
      settle(x);
      advance(x);
      break;
    case 'publishFailed':
      if (input.gen !== d.gen) break; // abandoned: the retry decides
      d.inFlight--;
      if (input.code !== null && REFUSAL_CODES.has(input.code)) resync(x, input.error);
      else divert(x, input.error);
      break;
    case 'lookedUp': {
      // A fact whenever it arrives: later envelopes on the subject were predicted from this one.
      const item = itemAt(d, input.seq);
      if (item !== undefined && item.prevOnSubject === undefined && !d.lookedUp.has(input.seq)) {
        d.lookedUp = new Map(d.lookedUp).set(input.seq, input.last);
      }
      if (mode.mode === 'lookingUp' && mode.token === input.token) {
        d.mode = { mode: 'publishing' };
        pump(x);
      }
      break;
    }
    case 'lookupFailed':
      if (mode.mode === 'lookingUp' && mode.token === input.token) {
        d.mode = { mode: 'publishing' };
        divert(x, input.error);
      }
      break;
    case 'streamInspected':
      if (mode.mode !== 'resyncing' || mode.token !== input.token) break;
      d.clustered = input.replicas > 1;
      d.mode = { ...mode, streamEnd: input.lastSeq, tailSeq: tailSeq(d) };
      resyncNext(x);
      break;
    case 'storedFetched':
      if (mode.mode !== 'resyncing' || mode.token !== input.token) break;
      if (input.seq > d.storedTo) {
        const item = itemAt(d, input.seq) as QueuedItem<P>;
        if (input.text !== item.canonical) {
          const msg = `${x.c.url}: another writer stored seq ${item.seq} (${describeStored(input.text)}) where this journal's event ${item.id} goes; refused, not merged`;
          fence(x, new ConcurrencyError(msg, { cause: mode.refusal }));
          break;
        }
        d.storedTo = input.seq;
        settle(x);
      }
      resyncNext(x);
      break;
    case 'inspectFailed':
      if (mode.mode !== 'resyncing' || mode.token !== input.token) break;
      d.mode = { mode: 'publishing' };
      divert(x, input.error);
      break;
    case 'outboxWritten':
      d.outboxWrites--;
      d.outboxDurableTo = Math.max(d.outboxDurableTo, input.through);
      settle(x);
      break;
    case 'outboxFailed':
      if (input.write) d.outboxWrites--;
      fence(x, input.error instanceof Error ? input.error : new Error(String(input.error)));
      break;
    case 'retryDue':
      if (mode.mode !== 'retrying' || mode.token !== input.token) break;
      d.mode = { mode: 'publishing' };
      pump(x);
      break;
    case 'disconnected':
      d.connected = false;
      divert(x, input.error);
      break;
    case 'reconnected':
      d.connected = true;
      d.retryDelayMs = x.c.retryMs;
      if (mode.mode === 'retrying') {
        x.fx.push({ type: 'cancelRetry' });
        d.mode = { mode: 'publishing' };
      }
      pump(x);
      break;
    case 'connectionClosed':
      d.connected = false;
      if (!d.closing) divert(x, input.error);
      break;
    case 'close':
      d.closing = true;
      break;
    case 'closed': {
      if (mode.mode === 'retrying') x.fx.push({ type: 'cancelRetry' });
      rejectUnsettled(x, new VirtFunError('JOURNAL_CLOSED', `${x.c.url} was closed before JetStream acknowledged the event`));
      d.mode = { mode: 'closed', failure: failureOf(d) };
      d.closing = true;
      break;
    }
  }
  return { state: d, effects: x.fx };
}

function pushLog<P>(d: Draft<P>, items: readonly QueuedItem<P>[]): PublishLog<P> {
  const first = items[0];
  if (first === undefined) return d.log;
  if (first.seq !== tailSeq(d) + 1) throw new ConcurrencyError(`queued seq ${first.seq} does not follow seq ${tailSeq(d)}`);
  const log = d.log;
  // Past this state's end nobody reads the buffer: append in place unless a later state already did.
  const buf = log.buf.length === log.length ? log.buf : log.buf.slice(0, log.length);
  for (const item of items) buf.push(item);
  return { buf, base: log.base, length: log.length + items.length };
}

function enqueue<P>(x: Ctx<P>, items: readonly QueuedItem<P>[]): void {
  const { d } = x;
  const refusal =
    d.closing || d.mode.mode === 'closed'
      ? new VirtFunError('JOURNAL_CLOSED', `${x.c.url} is closed`)
      : d.mode.mode === 'fenced'
        ? d.mode.failure
        : null;
  if (refusal !== null) {
    x.fx.push({ type: 'reject', appends: items.filter((i) => i.endsAppend).map((i) => i.seq), error: refusal });
    return;
  }
  d.log = pushLog(d, items);
  if (d.diverted) outboxPending(x);
  pump(x);
}

/** Publishes queued envelopes, in order, while JetStream may take them. */
function pump<P>(x: Ctx<P>): void {
  const { d, c } = x;
  if (d.mode.mode !== 'publishing' || !d.connected) return;
  const first = ackedSeq(d) + 1;
  const tail = tailSeq(d);
  while (d.nextSend <= tail && d.inFlight < c.maxInFlight) {
    const item = itemAt(d, d.nextSend) as QueuedItem<P>;
    if (item.seq <= d.storedTo) {
      d.nextSend++;
      continue;
    }
    const prevOnSubject = item.prevOnSubject ?? d.lookedUp.get(item.seq);
    if (prevOnSubject === undefined) {
      const token = d.nextToken++;
      d.mode = { mode: 'lookingUp', token, seq: item.seq };
      x.fx.push({ type: 'lookup', token, seq: item.seq, subject: item.subject });
      return;
    }
    const expect: { lastSequence: number; lastSubjectSequence?: number; lastMsgID?: string } = { lastSequence: item.seq - 1 };
    // A clustered 2.9 stream checks the subject expectation against what it has applied, not what it has
    // accepted: pipelined, it would refuse. There it is sent once the previous message on the subject is
    // acknowledged (the stream-wide expectations keep the single-writer rule).
    if (!d.clustered || prevOnSubject <= ackedSeq(d)) expect.lastSubjectSequence = prevOnSubject;
    // The previous envelope is not acknowledged yet: land only right after it.
    const before = d.nextSend > first ? itemAt(d, d.nextSend - 1) : undefined;
    if (before !== undefined && before.seq > d.storedTo) expect.lastMsgID = before.id;
    x.fx.push({ type: 'publish', item, gen: d.gen, expect });
    d.inFlight++;
    d.nextSend++;
  }
  if (tail === ackedSeq(d) && d.diverted && d.inFlight === 0) {
    // Everything is in: leave diverted mode and empty the outbox.
    d.diverted = false;
    d.lastError = null;
    if (c.outbox && d.outboxUsed) {
      x.fx.push({ type: 'clearOutbox' });
      d.outboxUsed = false;
    }
    x.fx.push({ type: 'notify' });
  }
}

/** Settles the appends that became durable. */
function settle<P>(x: Ctx<P>): void {
  const { d } = x;
  const durable = durableSeq(d);
  if (durable <= d.settledTo) return;
  const appends: number[] = [];
  for (let seq = d.settledTo + 1; seq <= durable; seq++) if ((itemAt(d, seq) as QueuedItem<P>).endsAppend) appends.push(seq);
  d.settledTo = durable;
  if (appends.length > 0) x.fx.push({ type: 'resolve', appends });
}

function rejectUnsettled<P>(x: Ctx<P>, error: Error): void {
  const { d } = x;
  const appends: number[] = [];
  for (let seq = d.settledTo + 1; seq <= tailSeq(d); seq++) if ((itemAt(d, seq) as QueuedItem<P>).endsAppend) appends.push(seq);
  d.settledTo = tailSeq(d);
  if (appends.length > 0) x.fx.push({ type: 'reject', appends, error });
}

/** Drops the stored prefix of the queue, then publishes on. */
function advance<P>(x: Ctx<P>): void {
  const { d, c } = x;
  if (d.storedTo > ackedSeq(d)) {
    const item = itemAt(d, d.storedTo) as QueuedItem<P>;
    d.acked = { seq: item.seq, hash: item.hash };
    d.resyncsWithoutProgress = 0;
    d.retryDelayMs = c.retryMs;
    if (d.lookedUp.size > 0) d.lookedUp = new Map([...d.lookedUp].filter(([seq]) => seq > item.seq));
  }
  const first = ackedSeq(d) + 1;
  if (d.nextSend < first) d.nextSend = first;
  const drop = first - d.log.base;
  if (drop > COMPACT_AFTER && drop * 2 > d.log.length) d.log = { buf: d.log.buf.slice(drop, d.log.length), base: first, length: d.log.length - drop };
  if (tailSeq(d) === ackedSeq(d)) x.fx.push({ type: 'drained' });
  pump(x);
}

/** Abandons in-flight publishes: publishing starts again from the first unacknowledged envelope. */
function restartGeneration<P>(d: Draft<P>): void {
  d.gen++;
  d.inFlight = 0;
  d.nextSend = ackedSeq(d) + 1;
}

/** Gives the outbox every envelope neither stored nor given to it yet. */
function outboxPending<P>(x: Ctx<P>): void {
  const { d } = x;
  if (!x.c.outbox) return;
  const items: QueuedItem<P>[] = [];
  for (let seq = Math.max(d.outboxedTo, d.storedTo) + 1; seq <= tailSeq(d); seq++) items.push(itemAt(d, seq) as QueuedItem<P>);
  if (items.length === 0) return;
  d.outboxedTo = tailSeq(d);
  d.outboxWrites++;
  d.outboxUsed = true;
  x.fx.push({ type: 'toOutbox', items });
}

/**
 * JetStream did not answer (or not usefully): unacknowledged envelopes go to
 * the outbox, and publishing is retried after a delay. While resyncing (the
 * connection dropped) the resync goes on and its end decides.
 */
function divert<P>(x: Ctx<P>, err: unknown): void {
  const { d } = x;
  const mode = d.mode.mode;
  if (mode === 'fenced' || mode === 'closed') return;
  d.lastError = errorText(err);
  restartGeneration(d);
  d.diverted = true;
  outboxPending(x);
  if (mode !== 'resyncing') {
    const token = d.nextToken++;
    x.fx.push({ type: 'armRetry', token, delayMs: d.retryDelayMs });
    d.retryDelayMs = Math.min(d.retryDelayMs * 2, MAX_RETRY_MS);
    d.mode = { mode: 'retrying', token };
  }
  x.fx.push({ type: 'notify' });
}

/** A publish was refused by an expectation: compare the stream with the queue. */
function resync<P>(x: Ctx<P>, refusal: unknown): void {
  const { d } = x;
  if (d.mode.mode === 'resyncing' || d.mode.mode === 'fenced' || d.mode.mode === 'closed') return;
  if (d.mode.mode === 'retrying') x.fx.push({ type: 'cancelRetry' });
  restartGeneration(d);
  const token = d.nextToken++;
  d.mode = { mode: 'resyncing', token, refusal, streamEnd: 0, tailSeq: 0 };
  d.lastError = errorText(refusal);
  x.fx.push({ type: 'inspectStream', token });
}

/** Fetches the stream's message at the next unacknowledged seq it holds, or ends the resync. */
function resyncNext<P>(x: Ctx<P>): void {
  const { d } = x;
  const mode = d.mode as Extract<PublishMode, { mode: 'resyncing' }>;
  const seq = d.storedTo + 1;
  if (seq <= mode.streamEnd && seq <= tailSeq(d)) {
    x.fx.push({ type: 'fetchStored', token: mode.token, seq });
    return;
  }
  const cause = { cause: mode.refusal };
  if (mode.streamEnd > mode.tailSeq) {
    fence(x, new ConcurrencyError(`${x.c.url}: the stream ends at seq ${mode.streamEnd}, past this journal's head ${mode.tailSeq}: another writer`, cause));
    return;
  }
  if (++d.resyncsWithoutProgress > MAX_RESYNCS_WITHOUT_PROGRESS) {
    const stuck = tailSeq(d) > ackedSeq(d) ? ackedSeq(d) + 1 : undefined;
    fence(x, new ConcurrencyError(`${x.c.url}: JetStream keeps refusing seq ${stuck}: ${errorText(mode.refusal)}`, cause));
    return;
  }
  d.mode = { mode: 'publishing' };
  advance(x);
}

/** Sticky failure: every append not yet durable rejects, and so does every later one. */
function fence<P>(x: Ctx<P>, err: Error): void {
  const { d } = x;
  if (d.mode.mode === 'fenced' || d.mode.mode === 'closed') return;
  if (d.mode.mode === 'retrying') x.fx.push({ type: 'cancelRetry' });
  d.mode = { mode: 'fenced', failure: err };
  restartGeneration(d);
  rejectUnsettled(x, err);
  x.fx.push({ type: 'drained' }, { type: 'notify' });
}
