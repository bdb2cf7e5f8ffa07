/**
 * The recorder: the only writer of a journal. It stamps pending events (id
 * from the IdSource, `at` from the Clock, seq, prevHash), seals them (hash)
 * and appends them, one append at a time, so the chain stays linear however
 * many callers record at once.
 *
 * Calls to `record` that arrive while an append is in flight wait, and are
 * then sealed together and stored with a single `append` (one fsync for the
 * file journal): group commit at the recorder. Each call still gets back only
 * its own envelopes, in order, once they are durable. A `failFast` call is
 * never stored together with a waiting one: each append holds calls of one kind.
 *
 * Pure: no node:* imports, no I/O of its own (the journal does the I/O).
 */
import { JournalUnavailableError, ValidationError } from '../errors.js';
import { sealEnvelope } from './chain.js';
import { GENESIS_HASH, type Clock, type Envelope, type IdSource, type PendingEvent } from './envelope.js';
import type { AppendOptions, Journal, JournalHead } from './journal.js';

export interface RecorderOptions {
  readonly journal: Journal;
  readonly clock: Clock;
  readonly ids: IdSource;
  /** Host name stamped on every envelope. */
  readonly host: string;
}

interface Waiting {
  readonly pending: readonly PendingEvent[];
  readonly failFast: boolean;
  readonly resolve: (envelopes: Envelope[]) => void;
  readonly reject: (err: unknown) => void;
}

function isoOf(clock: Clock): string {
  const ms = clock.now();
  if (!Number.isFinite(ms)) throw new ValidationError('clock', `now() returned ${ms}, not a finite number of milliseconds`);
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) throw new ValidationError('clock', `now() returned ${ms}, outside the Date range`);
  return date.toISOString();
}

export class Recorder {
  readonly journal: Journal;
  private readonly clock: Clock;
  private readonly ids: IdSource;
  private readonly host: string;
  /** Last durable envelope: advanced only when an append resolves. */
  private current: JournalHead | null;
  private readonly waiting: Waiting[] = [];
  private draining = false;

  /**
   * `head` is where the journal ends (default: empty). Prefer `Recorder.open`,
   * which asks the journal.
   */
  constructor(options: RecorderOptions & { readonly head?: JournalHead | null }) {
    this.journal = options.journal;
    this.clock = options.clock;
    this.ids = options.ids;
    this.host = options.host;
    this.current = options.head ?? null;
  }

  /** A recorder that continues the journal from its current head. */
  static async open(options: RecorderOptions): Promise<Recorder> {
    const head = await options.journal.head();
    return new Recorder({ ...options, head });
  }

  /** The last event this recorder knows to be durable (null: empty journal). */
  head(): JournalHead | null {
    return this.current;
  }

  /**
   * Seals `pending` in order after everything recorded before and appends
   * them. Resolves with the stored envelopes once the journal has them. When
   * the append rejects (another writer, I/O error), nothing is recorded: the
   * head does not move and the error propagates. An empty list resolves to [].
   * `failFast`: see AppendOptions: refused at once (JournalUnavailableError)
   * while the journal says it is not available, and by the journal when its
   * write fails. (One made while another append is in flight still waits for
   * that append first: vFunD never does that, its mailbox records one
   * decision at a time.)
   */
  record(pending: readonly PendingEvent[], options: AppendOptions = {}): Promise<Envelope[]> {
    if (pending.length === 0) return Promise.resolve([]);
    if (options.failFast === true && this.journal.available?.() === false) {
      return Promise.reject(new JournalUnavailableError('the journal cannot take events right now'));
    }
    return new Promise<Envelope[]>((resolve, reject) => {
      this.waiting.push({ pending: [...pending], failFast: options.failFast === true, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        // Start on a microtask so calls made in the same tick share one append.
        queueMicrotask(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.waiting.length > 0) {
        // The calls waiting, up to the first one of the other kind (fail-fast or not).
        const failFast = this.waiting[0]!.failFast;
        const run = this.waiting.findIndex((w) => w.failFast !== failFast);
        const group = this.waiting.splice(0, run === -1 ? this.waiting.length : run);
        const sealed: { waiting: Waiting; envelopes: Envelope[] }[] = [];
        let tail = this.current;
        for (const w of group) {
          try {
            const envelopes: Envelope[] = [];
            let t = tail;
            for (const p of w.pending) {
              const env = sealEnvelope(p, {
                seq: t === null ? 1 : t.seq + 1,
                prevHash: t === null ? GENESIS_HASH : t.hash,
                id: this.ids.next(),
                at: isoOf(this.clock),
                host: this.host,
              });
              envelopes.push(env);
              t = { seq: env.seq, hash: env.hash };
            }
            sealed.push({ waiting: w, envelopes });
            tail = t;
          } catch (err) {
            // This call's events cannot be sealed: it fails alone.
            w.reject(err);
          }
        }
        if (sealed.length === 0) continue;
        try {
          await this.journal.append(
            sealed.flatMap((s) => s.envelopes),
            failFast ? { failFast } : undefined,
          );
        } catch (err) {
          for (const s of sealed) s.waiting.reject(err);
          continue;
        }
        this.current = tail;
        for (const s of sealed) s.waiting.resolve(s.envelopes);
      }
    } finally {
      this.draining = false;
    }
  }
}
