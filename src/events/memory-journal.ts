/**
 * The memory journal: envelopes in an array. For tests and for embedding
 * where durability is not wanted. Same contract as every other adapter
 * (test/events/journal-contract.ts): appends must follow the head, are
 * all-or-nothing, and hashes are checked on the way in.
 *
 * Pure: no node:* imports.
 */
import { ValidationError } from '../errors.js';
import { checkAppend } from './chain.js';
import { hashEnvelope } from './canonical.js';
import type { VFunEventType } from './catalogue.js';
import type { Envelope } from './envelope.js';
import { checkFromSeq, type Journal, type JournalHead, type ReadOptions } from './journal.js';

/**
 * A Journal held in memory (see the module's comment): nothing survives the process. `new MemoryJournal(envelopes)` starts from envelopes already sealed.
 */
export class MemoryJournal implements Journal {
  readonly url = 'memory:';
  private readonly envelopes: Envelope[] = [];
  private tail: JournalHead | null = null;

  /** Optionally starts with `initial` (checked like an append). */
  constructor(initial: Iterable<Envelope> = []) {
    const list = [...initial];
    if (list.length > 0) this.store(list);
  }

  async head(): Promise<JournalHead | null> {
    return this.tail;
  }

  async append(envelopes: readonly Envelope[]): Promise<void> {
    this.store(envelopes);
  }

  private store(envelopes: readonly Envelope[]): void {
    const after = checkAppend(this.tail, envelopes);
    envelopes.forEach((env, i) => {
      if (hashEnvelope(env) !== env.hash) {
        throw new ValidationError(`envelopes[${i}].hash`, `seq ${env.seq}: does not match the envelope's content`);
      }
    });
    for (const env of envelopes) this.envelopes.push(env);
    this.tail = after;
  }

  /** Envelopes from `fromSeq` up to the head at the time of the call. */
  async *read(options?: ReadOptions): AsyncIterable<Envelope> {
    const fromSeq = checkFromSeq(options);
    const end = this.envelopes.length;
    for (let i = fromSeq - 1; i < end; i++) yield this.envelopes[i] as Envelope;
  }

  /** Envelopes from the last one of `type` to the head at the time of the call; null when there is none. */
  async readFromLast(type: VFunEventType): Promise<AsyncIterable<Envelope> | null> {
    for (let i = this.envelopes.length - 1; i >= 0; i--) {
      if ((this.envelopes[i] as Envelope).type === type) return this.read({ fromSeq: i + 1 });
    }
    return null;
  }

  /** Nothing to release; the journal stays usable (reopening gives it back). */
  async close(): Promise<void> {}

  /** Number of stored envelopes. */
  get size(): number {
    return this.envelopes.length;
  }
}
