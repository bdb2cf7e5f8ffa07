/**
 * The checkpointer: keeps the Merkle tree of vFunD's journal (an O(log n)
 * frontier, merkle.ts) and journals a signed checkpoint (a `journal.checkpoint`
 * event, docs/proofs.md) every `every` events or `intervalMs` when anything
 * is not yet covered, and at stop; then hands each one to the witnesses.
 *
 * Its tree: leaf i is the hash of the event with seq i + 1. A checkpoint at seq
 * s covers size s - 1. On start it resumes from the latest checkpoint's
 * frontier (`latestCheckpoint`) and reads only the events after it.
 *
 * A witness that cannot take a checkpoint never blocks vFunD: the failure is
 * logged and the checkpoint is offered again at the next one (`audit verify`
 * reports what a witness lacks).
 */
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { messageOf } from '../errors.js';
import type { JournalCheckpoint } from './catalogue.js';
import { journalOrigin, signCheckpoint } from './checkpoint.js';
import type { Clock, Envelope } from './envelope.js';
import { readFromLast, type Journal, type JournalHead } from './journal.js';
import { eventLeafHash, MerkleBuilder, sameHash } from './merkle.js';
import type { NoteSigner } from './signed-note.js';
import type { Witness } from './witness.js';

/** When to checkpoint. */
export interface CheckpointPolicy {
  /** Events after the last checkpoint that trigger the next one (default 1000). */
  readonly every?: number;
  /** Period of the timer that checkpoints what is not yet covered (default 60 000 ms; 0: no timer). */
  readonly intervalMs?: number;
}

export const DEFAULT_CHECKPOINT_EVERY = 1000;
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 60_000;
/** Checkpoints kept per witness while it fails, to offer again. */
const WITNESS_BACKLOG = 64;

/** What the checkpointer journals through: vFunD (its mailbox and its durable head). */
export interface CheckpointTarget {
  subscribe(listener: (envelopes: readonly Envelope[]) => void): () => void;
  checkpoint(make: (head: JournalHead | null) => Promise<JournalCheckpoint['data'] | null>): Promise<boolean>;
}

export interface CheckpointerOptions extends CheckpointPolicy {
  readonly journal: Journal;
  readonly host: string;
  /** vFunD's checkpoint key, named `journalOrigin(host)`. */
  readonly signer: NoteSigner;
  readonly clock: Clock;
  readonly witnesses?: readonly Witness[];
  readonly log?: (line: string) => void;
}

/**
 * The journal from its latest checkpoint: that checkpoint (its seq and event
 * data) and the envelopes after it, or null when the journal has none. Found
 * without reading the whole history where the journal allows it
 * (`readFromLast`: the memory and file journals); else read from the start.
 */
export async function latestCheckpoint(
  journal: Journal,
): Promise<{ envelope: Envelope<JournalCheckpoint>; after: AsyncIterator<Envelope> } | null> {
  const found = await readFromLast(journal, 'journal.checkpoint');
  if (found !== null) {
    const it = found[Symbol.asyncIterator]();
    const first = await it.next();
    if (!first.done && first.value.type === 'journal.checkpoint') return { envelope: first.value, after: it };
    await it.return?.();
    return null;
  }
  let latest: Envelope<JournalCheckpoint> | null = null;
  for await (const env of journal.read()) if (env.type === 'journal.checkpoint') latest = env;
  return latest === null ? null : { envelope: latest, after: journal.read({ fromSeq: latest.seq + 1 })[Symbol.asyncIterator]() };
}

/** The builder a checkpoint's frontier resumes, or null when the frontier does not give its root. */
export function builderFromCheckpoint(data: JournalCheckpoint['data']): MerkleBuilder | null {
  try {
    const b = MerkleBuilder.from({ size: data.size, nodes: data.frontier.map((h) => hexToBytes(h)) });
    return sameHash(b.root(), hexToBytes(data.root)) ? b : null;
  } catch {
    return null;
  }
}

export class Checkpointer {
  readonly #opts: CheckpointerOptions;
  readonly #every: number;
  #builder = new MerkleBuilder();
  /** Seq of the last checkpoint event (0: none). */
  #lastSeq = 0;
  #unsubscribe: (() => void) | null = null;
  #timer: NodeJS.Timeout | null = null;
  #target: CheckpointTarget | null = null;
  #running: Promise<unknown> = Promise.resolve();
  #scheduled = false;
  readonly #backlog = new Map<Witness, { size: number; note: string }[]>();
  #witnessing: Promise<unknown> = Promise.resolve();

  constructor(opts: CheckpointerOptions) {
    this.#opts = opts;
    this.#every = Math.max(1, opts.every ?? DEFAULT_CHECKPOINT_EVERY);
    if (opts.signer.name !== journalOrigin(opts.host)) throw new Error(`checkpointer: the key is named ${opts.signer.name}, not ${journalOrigin(opts.host)}`);
    for (const w of opts.witnesses ?? []) this.#backlog.set(w, []);
  }

  /** Events in the tree so far. */
  get size(): number {
    return this.#builder.size;
  }

  /**
   * Resumes the tree from the journal's latest checkpoint, then follows `target`'s
   * journaled events and starts the timer. Call after vFunD started.
   */
  async start(target: CheckpointTarget): Promise<void> {
    this.#target = target;
    this.#unsubscribe = target.subscribe((envs) => this.#onEvents(envs));
    // The tree up to the head (vfund.started and recoveries included): built in vFunD's mailbox, where the head cannot move.
    await target.checkpoint(async (head) => {
      await this.#resume(head?.seq ?? 0);
      return null;
    });
    const interval = this.#opts.intervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
    if (interval > 0) {
      this.#timer = setInterval(() => this.#schedule(), interval);
      this.#timer.unref();
    }
  }

  /** Journals a checkpoint now if any event is not yet covered; resolves once journaled (and offered to the witnesses). */
  checkpointNow(): Promise<void> {
    this.#running = this.#running.then(() => this.#checkpoint()).catch((err: unknown) => this.#log(`checkpoint failed: ${messageOf(err)}`));
    return this.#running.then(() => this.#witnessing) as Promise<void>;
  }

  /** Final checkpoint (call after vfund.stopped), waits for the witnesses, stops following. */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.checkpointNow();
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    for (const w of this.#backlog.keys()) await w.close().catch(() => undefined);
  }

  #onEvents(envs: readonly Envelope[]): void {
    for (const env of envs) if (env.seq === this.#builder.size + 1) this.#builder.append(eventLeafHash(env.hash));
    if (this.#builder.size - this.#lastSeq >= this.#every) this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#target === null) return;
    this.#scheduled = true;
    void this.checkpointNow().finally(() => (this.#scheduled = false));
  }

  async #checkpoint(): Promise<void> {
    const target = this.#target;
    if (target === null) return;
    let made: { size: number; note: string } | null = null;
    const journaled = await target.checkpoint(async (head) => {
      const headSeq = head?.seq ?? 0;
      await this.#catchUp(headSeq);
      if (this.#builder.size !== headSeq) return null;
      if (headSeq <= this.#lastSeq) return null; // nothing but the last checkpoint itself since it
      const size = headSeq;
      const root = this.#builder.root();
      const time = new Date(this.#opts.clock.now()).toISOString();
      const note = signCheckpoint({ origin: journalOrigin(this.#opts.host), size, root, time }, this.#opts.signer);
      made = { size, note };
      return { size, root: bytesToHex(root), note, frontier: this.#builder.frontier().nodes.map((h) => bytesToHex(h)) };
    });
    if (!journaled || made === null) return;
    const { size, note } = made as { size: number; note: string };
    this.#lastSeq = size + 1;
    for (const list of this.#backlog.values()) {
      list.push({ size, note });
      if (list.length > WITNESS_BACKLOG) list.shift();
    }
    this.#witnessing = this.#witnessing.then(() => this.#witness());
  }

  /** Resumes the tree from the journal's latest checkpoint and the events after it, up to `headSeq` (runs in vFunD's mailbox). */
  async #resume(headSeq: number): Promise<void> {
    const latest = await latestCheckpoint(this.#opts.journal);
    const resumed = latest === null ? null : builderFromCheckpoint(latest.envelope.data);
    if (latest !== null && resumed === null) this.#log(`checkpoint at seq ${latest.envelope.seq}: its frontier does not give its root; rebuilding the tree from the journal`);
    if (latest === null || resumed === null) {
      await latest?.after.return?.();
      this.#builder = new MerkleBuilder();
      this.#lastSeq = 0;
      await this.#catchUp(headSeq);
      return;
    }
    this.#builder = resumed;
    this.#lastSeq = latest.envelope.seq;
    // The checkpoint's own event is a leaf of the next tree: it follows the `size` events it covers.
    if (latest.envelope.seq === this.#builder.size + 1) this.#builder.append(eventLeafHash(latest.envelope.hash));
    try {
      for (let r = await latest.after.next(); !r.done; r = await latest.after.next()) {
        const env = r.value;
        if (env.seq > headSeq) break;
        if (env.seq === this.#builder.size + 1) this.#builder.append(eventLeafHash(env.hash));
      }
    } finally {
      await latest.after.return?.();
    }
    await this.#catchUp(headSeq);
  }

  /** Appends the journal's events the tree lacks, up to `headSeq` (runs in vFunD's mailbox). */
  async #catchUp(headSeq: number): Promise<void> {
    if (this.#builder.size >= headSeq) return;
    for await (const env of this.#opts.journal.read({ fromSeq: this.#builder.size + 1 })) {
      if (env.seq > headSeq) break;
      if (env.seq === this.#builder.size + 1) this.#builder.append(eventLeafHash(env.hash));
    }
  }

  /** Offers each witness its backlog, in order; a failure keeps the rest for next time. */
  async #witness(): Promise<void> {
    const origin = journalOrigin(this.#opts.host);
    await Promise.all(
      [...this.#backlog].map(async ([w, list]) => {
        while (list.length > 0) {
          const { size, note } = list[0]!;
          try {
            await w.put(origin, size, note);
          } catch (err) {
            this.#log(`witness ${w.url}: cannot take the checkpoint of size ${size} (${messageOf(err)}); offered again at the next checkpoint`);
            return;
          }
          list.shift();
        }
      }),
    );
  }

  #log(line: string): void {
    this.#opts.log?.(`checkpoint: ${line}`);
  }
}
