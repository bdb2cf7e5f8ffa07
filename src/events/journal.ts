/**
 * The journal port. Adapters store sealed envelopes in order and give them
 * back; they do not seal (see recorder.ts) and they do not interpret events.
 *
 * Adapters: memory (tests, embedding), file (the embedded default),
 * JetStream (see docs). All pass the same contract test suite.
 */
import type { Envelope } from './envelope.js';

/** Last stored event, or null for an empty journal. */
export interface JournalHead {
  readonly seq: number;
  readonly hash: string;
}

export interface ReadOptions {
  /** First seq to return (inclusive). Default 1. */
  readonly fromSeq?: number;
}

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
  append(envelopes: readonly Envelope[]): Promise<void>;
  /** Stored envelopes in seq order. */
  read(options?: ReadOptions): AsyncIterable<Envelope>;
  close(): Promise<void>;
  /**
   * Whether new work may be taken on: false while a remote journal is
   * unreachable under a fail-closed policy (appends then go to an outbox, but
   * vFunD refuses new negotiations). Absent: always available.
   */
  available?(): boolean;
}
