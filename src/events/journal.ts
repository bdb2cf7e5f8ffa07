/**
 * The journal port. Adapters store sealed envelopes in order and give them
 * back; they do not seal (see recorder.ts) and they do not interpret events.
 *
 * Adapters: memory (tests, embedding), file (the embedded default),
 * JetStream (see docs). All pass the same contract test suite.
 */
import { ValidationError } from '../errors.js';
import type { VFunEventType } from './catalogue.js';
import type { Envelope } from './envelope.js';

/** Last stored event, or null for an empty journal. */
export interface JournalHead {
  readonly seq: number;
  readonly hash: string;
}

/** Options of `Journal.read`. */
export interface ReadOptions {
  /** First seq to return (inclusive). Default 1. */
  readonly fromSeq?: number;
}

/**
 * The first seq a `read(options)` returns: `options.fromSeq`, default 1.
 * Throws ValidationError unless it is a positive safe integer. Every adapter's
 * read() checks its options with it.
 */
export function checkFromSeq(options: ReadOptions | undefined): number {
  const fromSeq = options?.fromSeq ?? 1;
  if (!Number.isSafeInteger(fromSeq) || fromSeq < 1) {
    throw new ValidationError('fromSeq', `expected a positive integer, got ${String(fromSeq)}`);
  }
  return fromSeq;
}

/** Options of `Journal.append`. */
export interface AppendOptions {
  /**
   * When the journal cannot store the envelopes now (it is unavailable, or
   * their write fails), reject at once with JournalUnavailableError and store
   * nothing, instead of waiting until it can. For decisions that may simply be
   * refused (a new negotiation). Default false: the append waits (adapters
   * that have nowhere else to put it retry until they can).
   */
  readonly failFast?: boolean;
}

/** A change of a journal's availability (see `Journal.onAvailabilityChange`). */
export interface JournalAvailability {
  readonly available: boolean;
  /** Why it is unavailable (the underlying error, for operators' logs: may name host paths); null when available. */
  readonly reason: string | null;
  /** Envelopes accepted and waiting to be stored. */
  readonly waiting: number;
  /** On the change back to available: how long it was unavailable (ms). */
  readonly outageMs?: number;
}

/**
 * Where vFunD's events are stored: an append-only sequence of sealed envelopes (seq 1, 2, …, each
 * chained to the one before by `prevHash`). vFunD is its only writer; anyone may read it. Open one
 * with `openJournal`, or build an adapter (MemoryJournal, FileJournal, JetStreamJournal).
 */
export interface Journal {
  /** Human-readable location, e.g. `file:/var/lib/virtfun/journal.vfj`. */
  readonly url: string;
  /** The last stored event's seq and hash, or null when empty. */
  head(): Promise<JournalHead | null>;
  /**
   * Store envelopes, in order, after the current head. Resolves once they are
   * durable (for the file journal: fsync'd). The first envelope's seq must be
   * head.seq + 1 and its prevHash head.hash, or it rejects with ConcurrencyError.
   */
  append(envelopes: readonly Envelope[], options?: AppendOptions): Promise<void>;
  /** Stored envelopes in seq order. */
  read(options?: ReadOptions): AsyncIterable<Envelope>;
  /** Release the journal's resources (file handle and lock, connections): call it once done with the journal. */
  close(): Promise<void>;
  /**
   * Whether new work may be taken on: false while a remote journal is
   * unreachable under a fail-closed policy (appends then go to an outbox, but
   * vFunD refuses new negotiations). Absent: always available.
   */
  available?(): boolean;
  /**
   * Calls `listener` when `available()` changes (once when an outage starts,
   * once when it ends). Returns an unsubscribe function. Absent: never changes
   * (or the adapter reports otherwise, see the JetStream adapter's onStateChange).
   */
  onAvailabilityChange?(listener: (change: JournalAvailability) => void): () => void;
  /**
   * The stored envelopes from the last one of type `type` (included, first)
   * to the head, found without reading what comes before it: start-up and
   * `vfun replay --from-snapshot` begin at the latest `state.snapshot` this
   * way. Null when the journal holds no envelope of that type. Absent: the
   * caller reads the whole journal (`readFromLast` below).
   */
  readFromLast?(type: VFunEventType): Promise<AsyncIterable<Envelope> | null>;
}

/**
 * `journal` from its last envelope of `type` where the journal can find it
 * without reading everything (the memory and file journals); null when it
 * holds none or cannot (JetStream: its host-wide events share one subject),
 * and the caller then reads the whole journal.
 */
export async function readFromLast(journal: Journal, type: VFunEventType): Promise<AsyncIterable<Envelope> | null> {
  return journal.readFromLast === undefined ? null : journal.readFromLast(type);
}
