/**
 * The state of the JetStream journal's publish queue (publish-queue.ts): the
 * envelopes accepted by append() and not yet acknowledged, what the publisher
 * is doing with them, its inputs and effects, and the queries the journal
 * answers from it. Plain immutable data.
 *
 * Modes (what the publisher is doing; `connected`, the link, is apart):
 *   publishing  sends the queue in order (while connected), up to `maxInFlight`
 *               unacknowledged, each with msg-id and expectations;
 *   lookingUp   the next envelope is the first on its subject since open: waits
 *               for the stream's last seq on that subject;
 *   resyncing   a publish was refused by an expectation: compares the stream's
 *               messages at our sequences with our envelopes, one at a time
 *               (ours count as acknowledged, anything else fences);
 *   retrying    JetStream failed: what waits is in the outbox; publishing starts
 *               again from the first unacknowledged envelope when the timer fires
 *               (100 ms doubling to 2 s) or on reconnect;
 *   fenced      sticky failure (another writer, a stream that disagrees, an
 *               outbox that cannot be written): nothing is sent again, every
 *               append not yet durable rejects, and so does every later one;
 *   closed      close() finished.
 * Beside the mode: `diverted` (JetStream failed since the queue was last empty:
 * appends go to the outbox too, the journal is not reachable) and `closing`
 * (appends are refused; publishing goes on until close() finishes).
 *
 * Acknowledgements are prefixes: an ack of our seq N proves every envelope
 * before it is ours (the expectations), so "stored" and "durable" (stored, or
 * on disk in the outbox) are watermarks, not per-envelope flags.
 */
import { decodeStored } from '../../chain.js';
import type { JournalHead } from '../../journal.js';

/** One envelope accepted by append(). `P` is what the journal needs to publish it (the envelope and its bytes). */
export interface QueuedItem<P> {
  readonly seq: number;
  readonly id: string;
  readonly hash: string;
  readonly subject: string;
  /** Canonical JSON: what the stream must hold at `seq` if it is ours. */
  readonly canonical: string;
  /** Stream seq of the previous message on `subject` (0: none); undefined: first on its subject since open (looked up). */
  readonly prevOnSubject: number | undefined;
  /** Last envelope of its append(): the append settles with it. False for envelopes taken over from the outbox. */
  readonly endsAppend: boolean;
  readonly payload: P;
}

/** What the publish queue is told once, when the journal opens. */
export interface PublishConfig {
  /** The journal's URL and stream, for errors. */
  readonly url: string;
  readonly stream: string;
  readonly maxInFlight: number;
  /** First retry delay (ms). */
  readonly retryMs: number;
  /** An outbox file takes what JetStream cannot. */
  readonly outbox: boolean;
}

/** What the publisher is doing (see above). `token`s tell a current timer, lookup or resync from a stale one. */
export type PublishMode =
  | { readonly mode: 'publishing' }
  | { readonly mode: 'lookingUp'; readonly token: number; readonly seq: number }
  /** `streamEnd` and `tailSeq`: the stream's last seq and ours when the stream was inspected (0 before). */
  | { readonly mode: 'resyncing'; readonly token: number; readonly refusal: unknown; readonly streamEnd: number; readonly tailSeq: number }
  | { readonly mode: 'retrying'; readonly token: number }
  | { readonly mode: 'fenced'; readonly failure: Error }
  | { readonly mode: 'closed'; readonly failure: Error | null };

/** The queue's envelopes: a buffer shared by successive states (appended in place only past every state's end), seqs [base, base + length). */
export interface PublishLog<P> {
  readonly buf: QueuedItem<P>[];
  readonly base: number;
  readonly length: number;
}

/** The publish queue. Changed only by step() (publish-queue.ts). */
export interface PublishState<P> {
  readonly mode: PublishMode;
  /** The connection is up (the client's status events). */
  readonly connected: boolean;
  readonly diverted: boolean;
  readonly closing: boolean;
  /** Last acknowledged envelope that left the queue (null: empty stream). The queue is (acked, tail]. */
  readonly acked: JournalHead | null;
  /** Envelopes up to this seq are stored in the stream (acknowledged, or found by a resync). */
  readonly storedTo: number;
  /** Envelopes up to this seq were given to the outbox; up to `outboxDurableTo` they are on disk there. */
  readonly outboxedTo: number;
  readonly outboxDurableTo: number;
  /** Outbox writes not finished yet. */
  readonly outboxWrites: number;
  /** The outbox may hold envelopes: it is cleared when the journal leaves diverted mode. */
  readonly outboxUsed: boolean;
  /** Appends ending at or before this seq are settled (resolved or rejected). */
  readonly settledTo: number;
  readonly log: PublishLog<P>;
  /** Next seq to publish in this generation. */
  readonly nextSend: number;
  readonly inFlight: number;
  /** Bumped whenever in-flight publishes are abandoned (their outcomes then only count as acks). */
  readonly gen: number;
  /** Delay of the next retry timer (doubles up to 2 s; back to `retryMs` on progress or reconnect). */
  readonly retryDelayMs: number;
  /** Resyncs in a row that found nothing of ours: past 5, JetStream "keeps refusing" and the journal is fenced. */
  readonly resyncsWithoutProgress: number;
  /** The stream has replicas: the subject expectation waits for the previous ack on the subject. */
  readonly clustered: boolean;
  /** The last transport error or refusal while unreachable, for logs. */
  readonly lastError: string | null;
  /** Looked-up `prevOnSubject` of envelopes first on their subject. */
  readonly lookedUp: ReadonlyMap<number, number>;
  readonly nextToken: number;
}

/** The expectation headers of one publish (docs/jetstream.md, "Headers"). */
export interface Expectations {
  readonly lastSequence: number;
  readonly lastSubjectSequence?: number;
  readonly lastMsgID?: string;
}

/** What happened: an append, an outcome of an effect, a status of the connection, close(). */
export type PublishInput<P> =
  | { readonly type: 'enqueue'; readonly items: readonly QueuedItem<P>[] }
  /** Envelopes a previous run left in the outbox, continuing the stream: already durable. */
  | { readonly type: 'adopt'; readonly items: readonly QueuedItem<P>[] }
  | { readonly type: 'acked'; readonly gen: number; readonly seq: number; readonly stream: string; readonly streamSeq: number }
  /** A publish failed: `code` is the JetStream API error code, if any (a timeout has none). */
  | { readonly type: 'publishFailed'; readonly gen: number; readonly seq: number; readonly error: unknown; readonly code: number | null }
  | { readonly type: 'lookedUp'; readonly token: number; readonly seq: number; readonly last: number }
  | { readonly type: 'lookupFailed'; readonly token: number; readonly error: unknown }
  | { readonly type: 'streamInspected'; readonly token: number; readonly lastSeq: number; readonly replicas: number }
  | { readonly type: 'storedFetched'; readonly token: number; readonly seq: number; readonly text: string | null }
  | { readonly type: 'inspectFailed'; readonly token: number; readonly error: unknown }
  | { readonly type: 'outboxWritten'; readonly through: number }
  | { readonly type: 'outboxFailed'; readonly error: unknown; readonly write: boolean }
  | { readonly type: 'retryDue'; readonly token: number }
  | { readonly type: 'disconnected'; readonly error: unknown }
  | { readonly type: 'reconnected' }
  | { readonly type: 'connectionClosed'; readonly error: unknown }
  | { readonly type: 'close' }
  | { readonly type: 'closed' };

/** What the journal must do, in order. */
export type PublishEffect<P> =
  | { readonly type: 'publish'; readonly item: QueuedItem<P>; readonly gen: number; readonly expect: Expectations }
  | { readonly type: 'lookup'; readonly token: number; readonly seq: number; readonly subject: string }
  | { readonly type: 'inspectStream'; readonly token: number }
  | { readonly type: 'fetchStored'; readonly token: number; readonly seq: number }
  | { readonly type: 'toOutbox'; readonly items: readonly QueuedItem<P>[] }
  | { readonly type: 'clearOutbox' }
  | { readonly type: 'armRetry'; readonly token: number; readonly delayMs: number }
  | { readonly type: 'cancelRetry' }
  /** The appends ending at these seqs are durable. */
  | { readonly type: 'resolve'; readonly appends: readonly number[] }
  | { readonly type: 'reject'; readonly appends: readonly number[]; readonly error: Error }
  /** The queue is empty (or the journal fenced): flushed() waiters wake. */
  | { readonly type: 'drained' }
  /** reachable / available / failure may have changed. */
  | { readonly type: 'notify' };

/** One transition: the next state and its effects. */
export interface PublishStep<P> {
  readonly state: PublishState<P>;
  readonly effects: readonly PublishEffect<P>[];
}

/** The queue of a journal whose stream ends at `head`: empty, publishing, connected. */
export function initialPublishState<P>(config: PublishConfig, head: JournalHead | null, clustered: boolean): PublishState<P> {
  const seq = head?.seq ?? 0;
  return {
    mode: { mode: 'publishing' },
    connected: true,
    diverted: false,
    closing: false,
    acked: head,
    storedTo: seq,
    outboxedTo: 0,
    outboxDurableTo: 0,
    outboxWrites: 0,
    outboxUsed: false,
    settledTo: seq,
    log: { buf: [], base: seq + 1, length: 0 },
    nextSend: seq + 1,
    inFlight: 0,
    gen: 0,
    retryDelayMs: config.retryMs,
    resyncsWithoutProgress: 0,
    clustered,
    lastError: null,
    lookedUp: new Map(),
    nextToken: 1,
  };
}

// -- queries ------------------------------------------------------------------

/** Seq of the last acknowledged envelope out of the queue (0: none). */
export const ackedSeq = (s: PublishState<unknown>): number => s.acked?.seq ?? 0;
/** Seq of the last envelope accepted (0: none). */
export const tailSeq = (s: PublishState<unknown>): number => s.log.base + s.log.length - 1;
/** The envelope at `seq`, if it is still in the log. */
export function itemAt<P>(s: PublishState<P>, seq: number): QueuedItem<P> | undefined {
  const i = seq - s.log.base;
  return i >= 0 && i < s.log.length ? s.log.buf[i] : undefined;
}
/** The last envelope accepted (null: none ever). */
export function tailHead(s: PublishState<unknown>): JournalHead | null {
  const last = itemAt(s, tailSeq(s));
  return last === undefined ? s.acked : { seq: last.seq, hash: last.hash };
}
/** Envelopes up to this seq are durable: acknowledged, or on disk in the outbox. */
export const durableSeq = (s: PublishState<unknown>): number => Math.max(s.storedTo, s.outboxDurableTo);
/** The last durable envelope. */
export function durableHead(s: PublishState<unknown>): JournalHead | null {
  const item = durableSeq(s) > ackedSeq(s) ? itemAt(s, durableSeq(s)) : undefined;
  return item === undefined ? s.acked : { seq: item.seq, hash: item.hash };
}
/** The durable envelopes still in the queue (in the outbox, or stored and not yet out of the queue), in order. */
export function durableItems<P>(s: PublishState<P>): QueuedItem<P>[] {
  const out: QueuedItem<P>[] = [];
  for (let seq = ackedSeq(s) + 1; seq <= durableSeq(s); seq++) out.push(itemAt(s, seq) as QueuedItem<P>);
  return out;
}
/** Envelopes accepted and not yet acknowledged. */
export const pendingCount = (s: PublishState<unknown>): number => tailSeq(s) - ackedSeq(s);
/** Every accepted envelope is durable. */
export const allDurable = (s: PublishState<unknown>): boolean => durableSeq(s) >= tailSeq(s);
/** The sticky failure that fenced the queue, or null. */
export function failureOf(s: PublishState<unknown>): Error | null {
  return s.mode.mode === 'fenced' || s.mode.mode === 'closed' ? s.mode.failure : null;
}
/** JetStream takes publishes: connected, not diverted, neither fenced nor closed. */
export function isReachable(s: PublishState<unknown>): boolean {
  return s.connected && !s.diverted && s.mode.mode !== 'fenced' && s.mode.mode !== 'closed';
}

/** What the stream holds at a sequence, for messages: nothing, an event of some host, or what is wrong with it. */
export function describeStored(text: string | null): string {
  if (text === null) return 'nothing';
  const d = decodeStored(text);
  return d.ok ? `event ${d.env.id} of host ${d.env.host}` : `a message that ${d.reason}`;
}
