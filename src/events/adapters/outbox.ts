/**
 * The outbox: a local, append-only file of sealed envelopes that a remote
 * journal (JetStream) could not take yet (docs/jetstream.md, "Outbox").
 *
 * Same line format as the file journal: one envelope per line, as its
 * canonical JSON, then '\n'; every write is followed by fdatasync, and
 * appends that arrive while a write is in flight share the next one (group
 * commit). Unlike a journal file, the outbox holds a slice of a chain: its
 * first envelope may have any seq; every next one must chain on the one
 * before it. When everything in it has reached the remote journal, the owner
 * clears it (truncate to 0 + fdatasync).
 *
 * Opening cuts a torn last record (no trailing newline), like the file
 * journal; a complete line that is not a self-consistent envelope chaining on
 * the one before it, anywhere, the last one included, is a JournalCorruptError:
 * the outbox holds events that exist nowhere else. The file is 0600.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import { ValidationError, VirtFunError } from '../../errors.js';
import { encodeEnvelope } from '../canonical.js';
import { checkAppend } from '../chain.js';
import type { Envelope } from '../envelope.js';
import type { JournalHead } from '../journal.js';
import { parseOutbox } from './outbox-lines.js';

/** What opening cut off the end of the outbox file (same shape as the file journal's report). */
export interface OutboxOpenReport {
  readonly truncatedBytes: number;
  readonly offset: number;
  readonly reason: string;
}

type Op =
  | { readonly kind: 'append'; readonly text: string; readonly envelopes: readonly Envelope[]; readonly resolve: () => void; readonly reject: (err: unknown) => void }
  | { readonly kind: 'clear'; readonly resolve: () => void; readonly reject: (err: unknown) => void };

/** The outbox file's mode: it holds tenants' events, for vFunD's user only. */
export const OUTBOX_MODE = 0o600;

export class Outbox {
  private readonly stored: Envelope[];
  /** Last envelope accepted (written or queued); null when the outbox is (or will be) empty. */
  private tail: JournalHead | null;
  private size: number;
  private readonly ops: Op[] = [];
  private running: Promise<void> | null = null;
  private failure: Error | null = null;
  private closed = false;
  private writes = 0;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    stored: Envelope[],
    size: number,
    /** What opening cut off, if anything. */
    readonly openReport: OutboxOpenReport | null,
  ) {
    this.stored = stored;
    this.size = size;
    const last = stored.at(-1);
    this.tail = last === undefined ? null : { seq: last.seq, hash: last.hash };
  }

  /**
   * Opens (creating it, mode 0600, and its directory, mode 0700, when missing)
   * the outbox at `path`. An existing file readable or writable by others is
   * tightened to 0600: it holds tenants' events. A torn last record (no
   * trailing newline) is cut and reported in `openReport`; a damaged complete
   * line, the last one included, is a JournalCorruptError (outbox-lines.ts).
   */
  static async open(path: string): Promise<Outbox> {
    const abs = resolvePath(path);
    await mkdir(dirname(abs), { recursive: true, mode: 0o700 });
    const fh = await open(abs, 'a+', OUTBOX_MODE);
    try {
      const { mode } = await fh.stat();
      if ((mode & 0o777 & ~OUTBOX_MODE) !== 0) await fh.chmod(OUTBOX_MODE);
      const bytes = await fh.readFile();
      const { envelopes, keep, torn } = parseOutbox(bytes, abs);
      let report: OutboxOpenReport | null = null;
      if (torn !== null) {
        report = { truncatedBytes: bytes.length - keep, offset: keep, reason: torn };
        await fh.truncate(keep);
        await fh.datasync();
      }
      return new Outbox(abs, fh, [...envelopes], keep, report);
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  /** Envelopes written to the file (durable), oldest first. */
  entries(): readonly Envelope[] {
    return this.stored;
  }

  /** Number of durable envelopes in the file. */
  get length(): number {
    return this.stored.length;
  }

  /** Number of group writes (write + fdatasync) so far. */
  get groupWrites(): number {
    return this.writes;
  }

  /**
   * Appends `envelopes` (they must chain on the last envelope appended since
   * the last clear, if any). Resolves once they are on disk.
   */
  append(envelopes: readonly Envelope[]): Promise<void> {
    if (this.closed) return Promise.reject(new VirtFunError('JOURNAL_CLOSED', `outbox ${this.path} is closed`));
    if (this.failure !== null) return Promise.reject(this.failure);
    if (envelopes.length === 0) return Promise.resolve();
    let text = '';
    try {
      const first = envelopes[0] as Envelope;
      // Any start is fine after a clear; after that, the slice must stay a chain.
      const base: JournalHead | null = this.tail ?? (first.seq === 1 ? null : { seq: first.seq - 1, hash: first.prevHash });
      checkAppend(base, envelopes);
      for (const env of envelopes) {
        const { canonical } = encodeEnvelope(env);
        if (canonical.includes('\n')) throw new ValidationError('envelope', 'canonical JSON contains a newline');
        text += canonical + '\n';
      }
      const last = envelopes[envelopes.length - 1] as Envelope;
      this.tail = { seq: last.seq, hash: last.hash };
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      this.ops.push({ kind: 'append', text, envelopes, resolve, reject });
      this.kick();
    });
  }

  /** Empties the file (after every append queued before it). */
  clear(): Promise<void> {
    if (this.closed) return Promise.reject(new VirtFunError('JOURNAL_CLOSED', `outbox ${this.path} is closed`));
    if (this.failure !== null) return Promise.reject(this.failure);
    this.tail = null;
    return new Promise<void>((resolve, reject) => {
      this.ops.push({ kind: 'clear', resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.running === null) this.running = this.run().finally(() => (this.running = null));
  }

  private async run(): Promise<void> {
    while (this.ops.length > 0) {
      const first = this.ops[0] as Op;
      if (first.kind === 'clear') {
        this.ops.shift();
        try {
          await this.fh.truncate(0);
          await this.fh.datasync();
          this.size = 0;
          this.stored.length = 0;
          first.resolve();
        } catch (err) {
          this.fail(err, [first]);
        }
        continue;
      }
      let n = 0;
      while (n < this.ops.length && (this.ops[n] as Op).kind === 'append') n++;
      const group = this.ops.splice(0, n) as Extract<Op, { kind: 'append' }>[];
      const bytes = Buffer.from(group.map((g) => g.text).join(''), 'utf8');
      try {
        for (let off = 0; off < bytes.length; ) {
          const { bytesWritten } = await this.fh.write(bytes, off, bytes.length - off, null);
          off += bytesWritten;
        }
        await this.fh.datasync();
        this.size += bytes.length;
        this.writes++;
        for (const g of group) for (const env of g.envelopes) this.stored.push(env);
        for (const g of group) g.resolve();
      } catch (err) {
        try {
          await this.fh.truncate(this.size);
          await this.fh.datasync();
        } catch {
          // the failure below is sticky anyway
        }
        this.fail(err, group);
      }
    }
  }

  private fail(err: unknown, group: readonly { reject: (err: unknown) => void }[]): void {
    this.failure = new VirtFunError('JOURNAL_CORRUPT', `outbox ${this.path}: a write failed`, { cause: err });
    const doomed = [...group, ...this.ops.splice(0)];
    for (const op of doomed) op.reject(this.failure);
  }

  /** Waits for queued writes, then closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.running !== null) await this.running;
    await this.fh.close();
  }
}
