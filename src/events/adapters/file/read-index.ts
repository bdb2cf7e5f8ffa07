/**
 * Where the file journal's reads may start: the end of the prefix of the
 * file known to hold only good lines (the frontier), and a checkpoint every
 * 1024 events inside it, so `read({ fromSeq })` does not rescan from the
 * start. The frontier moves on as lines are written (write-queue.ts's
 * `committed` effect) or read and checked (reader.ts). No I/O.
 */
import type { JournalHead } from '../../journal.js';

/** A read position is remembered every this many events. */
export const CHECKPOINT_EVERY = 1024;

/** A point between two lines that is known to be preceded only by good lines. */
export interface Position {
  /** Byte offset of the next line. */
  readonly offset: number;
  /** Number of lines before it. */
  readonly line: number;
  /** The last event before it (null: start of file). */
  readonly prev: JournalHead | null;
}

/** The start of a file that begins the journal. */
export const START: Position = { offset: 0, line: 0, prev: null };

/**
 * The good prefix of one journal file and its checkpoints. `base`: the event
 * before the file's first line (null: the file begins the journal; the last
 * event of the segment before it otherwise).
 */
export class ReadIndex {
  private readonly start: Position;
  private frontierAt: Position;
  private readonly checkpoints: Position[] = [];
  /** Seq of the first checkpoint: the first multiple of CHECKPOINT_EVERY after the base. */
  private readonly firstCheckpoint: number;

  constructor(base: JournalHead | null = null) {
    this.start = base === null ? START : { offset: 0, line: 0, prev: base };
    this.frontierAt = this.start;
    this.firstCheckpoint = (Math.floor((base?.seq ?? 0) / CHECKPOINT_EVERY) + 1) * CHECKPOINT_EVERY;
  }

  /** End of the prefix known to hold only good lines. */
  get frontier(): Position {
    return this.frontierAt;
  }

  /** Moves the frontier one line on, keeping a checkpoint every CHECKPOINT_EVERY events. */
  advance(next: Position): void {
    this.frontierAt = next;
    const seq = next.prev?.seq ?? 0;
    if (seq === this.firstCheckpoint + this.checkpoints.length * CHECKPOINT_EVERY) this.checkpoints.push(next);
  }

  /** A line at `offset`, `bytes` long, the `line`th of the file and ending with `head`, was found good: the frontier follows when it is the next line. */
  checked(offset: number, bytes: number, line: number, head: JournalHead): void {
    if (offset === this.frontierAt.offset) this.advance({ offset: offset + bytes, line, prev: head });
  }

  /** Lines were written and made durable from `offset` on: the frontier follows them when it was there. */
  committed(offset: number, lines: readonly { readonly bytes: number; readonly head: JournalHead }[]): void {
    let at = offset;
    for (const line of lines) {
      if (this.frontierAt.offset === at) this.advance({ offset: at + line.bytes, line: this.frontierAt.line + 1, prev: line.head });
      at += line.bytes;
    }
  }

  /** Where to start reading for `fromSeq`: the last checkpoint before it, else the start of the file. */
  startFor(fromSeq: number): Position {
    // Checkpoints whose event is before fromSeq: seqs firstCheckpoint + i*CHECKPOINT_EVERY <= fromSeq - 1.
    const k = Math.min(Math.floor((fromSeq - 1 - this.firstCheckpoint) / CHECKPOINT_EVERY) + 1, this.checkpoints.length);
    return k <= 0 ? this.start : (this.checkpoints[k - 1] as Position);
  }
}
