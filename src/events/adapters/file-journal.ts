/**
 * The file journal, vFunD's embedded default (docs/events.md, "File journal").
 *
 * One envelope per line, as its canonical JSON, then '\n'. The file is only
 * ever appended to. Appends that arrive while a write + fdatasync is in
 * flight are gathered into the next single write and one fdatasync (group
 * commit); each append resolves once its own bytes are on disk.
 *
 * Opening repairs one thing only: a torn last record (no trailing newline, or
 * a last line that is not a valid, self-consistent envelope) is cut off and
 * reported in `openReport`. Damage anywhere else is left in place: `read()`
 * throws JournalCorruptError when it reaches it, and `verifyFile()` names it.
 */
import * as crypto from 'node:crypto';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import { ConcurrencyError, JournalCorruptError, ValidationError, VirtFunError } from '../../errors.js';
import { encodeEnvelope } from '../canonical.js';
import { chainFault, checkAppend, decodeStored, faultOf, type ChainReport, type StoredDecode } from '../chain.js';
import type { Envelope } from '../envelope.js';
import type { Journal, JournalHead, ReadOptions } from '../journal.js';

/** SHA-256 hex of a string's UTF-8 bytes, natively (same result as canonical.ts's sha256Hex). */
const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

const NEWLINE = 0x0a;
/** Bytes read at a time when scanning forward. Grows for longer lines. */
const READ_CHUNK = 1 << 20;
/** Bytes read at a time when looking for the last line at open. */
const TAIL_CHUNK = 1 << 16;
/** A read position is remembered every this many events, so `read({ fromSeq })` does not rescan from the start. */
const CHECKPOINT_EVERY = 1024;

export interface FileJournalOptions {
  /**
   * Extra time (ms) to wait for more appends before each group write. Default
   * 0: write as soon as the previous write + fdatasync is done; appends that
   * arrive meanwhile still share one write.
   */
  readonly groupCommitMs?: number;
  /**
   * Open for reading only (audit, replay, verify): the file is never written,
   * a torn last record is skipped rather than cut, and append() is refused.
   * Safe while a vFunD is appending to the same file.
   */
  readonly readOnly?: boolean;
}

/** What `open` cut off the end of the file, when it did. */
export interface FileJournalOpenReport {
  readonly truncatedBytes: number;
  /** Byte offset the file was cut at (its new size). */
  readonly offset: number;
  readonly reason: string;
}

/** A point between two lines that is known to be preceded only by good lines. */
interface Position {
  /** Byte offset of the next line. */
  readonly offset: number;
  /** Number of lines before it. */
  readonly line: number;
  /** The last event before it (null: start of file). */
  readonly prev: JournalHead | null;
}

const START: Position = { offset: 0, line: 0, prev: null };

interface QueuedAppend {
  readonly text: string;
  /** Byte length (newline included) and head after each line. */
  readonly lines: readonly { readonly bytes: number; readonly head: JournalHead }[];
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

interface RawLine {
  readonly text: string;
  /** File offset of the first byte. */
  readonly offset: number;
  /** Byte length, newline included. */
  readonly bytes: number;
  readonly terminated: boolean;
}

type Decoded = StoredDecode;

/** Parses a line and checks it is an envelope written in canonical form. Does not check the hash. */
const decodeLine = (text: string): Decoded => decodeStored(text, false);

/** A line that stands on its own: canonical envelope whose hash recomputes. Continuity is not checked. */
const checkLine = (text: string): Decoded => decodeStored(text, true);

async function readFully(fh: FileHandle, buf: Buffer, position: number): Promise<number> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/**
 * Lines of `[start, end)`, a chunk at a time. The last one is unterminated
 * when the range does not end with a newline.
 */
async function* scanLines(fh: FileHandle, start: number, end: number): AsyncGenerator<RawLine[]> {
  let buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(end - start, 1)));
  let filled = 0;
  let bufOffset = start; // file offset of buf[0]
  let pos = start; // next file offset to read
  let stop = end;
  while (pos < stop || filled > 0) {
    if (pos < stop) {
      if (filled === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, filled);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, filled, Math.min(buf.length - filled, stop - pos), pos);
      if (bytesRead === 0) stop = pos; // the file shrank under us
      filled += bytesRead;
      pos += bytesRead;
    }
    const view = buf.subarray(0, filled);
    const lines: RawLine[] = [];
    let lineStart = 0;
    for (let nl = view.indexOf(NEWLINE, lineStart); nl !== -1; nl = view.indexOf(NEWLINE, lineStart)) {
      lines.push({ text: view.toString('utf8', lineStart, nl), offset: bufOffset + lineStart, bytes: nl + 1 - lineStart, terminated: true });
      lineStart = nl + 1;
    }
    if (pos >= stop && lineStart < filled) {
      lines.push({ text: view.toString('utf8', lineStart, filled), offset: bufOffset + lineStart, bytes: filled - lineStart, terminated: false });
      lineStart = filled;
    }
    if (lineStart > 0) {
      buf.copy(buf, 0, lineStart, filled);
      filled -= lineStart;
      bufOffset += lineStart;
    }
    if (lines.length > 0) yield lines;
  }
}

/** The bytes between the last newline before `stop` (exclusive) and `stop`. */
async function lineBefore(fh: FileHandle, stop: number): Promise<{ start: number; bytes: Buffer }> {
  const chunks: Buffer[] = [];
  let pos = stop;
  while (pos > 0) {
    const len = Math.min(TAIL_CHUNK, pos);
    const b = Buffer.allocUnsafe(len);
    const got = await readFully(fh, b, pos - len);
    if (got !== len) throw new JournalCorruptError(`offset ${pos - len}`, 'short read: the file changed while it was being opened');
    const nl = b.lastIndexOf(NEWLINE);
    if (nl !== -1) {
      chunks.unshift(b.subarray(nl + 1));
      return { start: pos - len + nl + 1, bytes: Buffer.concat(chunks) };
    }
    chunks.unshift(b);
    pos -= len;
  }
  return { start: 0, bytes: Buffer.concat(chunks) };
}

/** fsync a directory, where the platform allows it (Linux does; some systems refuse). */
async function syncDirectory(dir: string): Promise<void> {
  let dh: FileHandle | null = null;
  try {
    dh = await open(dir, 'r');
    await dh.sync();
  } catch {
    // best effort: not every platform can fsync a directory
  } finally {
    await dh?.close().catch(() => undefined);
  }
}

function checkFromSeq(options: ReadOptions | undefined): number {
  const fromSeq = options?.fromSeq ?? 1;
  if (!Number.isSafeInteger(fromSeq) || fromSeq < 1) {
    throw new ValidationError('fromSeq', `expected a positive integer, got ${String(fromSeq)}`);
  }
  return fromSeq;
}

function afterSeq(prev: JournalHead | null): string {
  return prev === null ? 'before the first event' : `after seq ${prev.seq}`;
}

export class FileJournal implements Journal {
  readonly url: string;
  /** Absolute path of the journal file. */
  readonly path: string;
  /** Set when `open` cut a torn last record; null when the file was clean. */
  readonly openReport: FileJournalOpenReport | null;

  private readonly fh: FileHandle;
  private readonly groupCommitMs: number;
  /** Bytes durably written (fdatasync'd); reads stop here. */
  private size: number;
  /** Head of the durable file. */
  private durable: JournalHead | null;
  /** Head including appends accepted but not yet durable: new appends chain on it. */
  private tail: JournalHead | null;
  private readonly queue: QueuedAppend[] = [];
  private flushing = false;
  private loop: Promise<void> = Promise.resolve();
  private closing = false;
  private closed = false;
  /** Set when the file can no longer be trusted for appends. */
  private failure: Error | null = null;
  private commits = 0;
  private readOnly = false;
  /** End of the prefix known to hold only good lines, and read checkpoints inside it. */
  private frontier: Position = START;
  private readonly checkpoints: Position[] = [];

  private constructor(
    path: string,
    fh: FileHandle,
    size: number,
    head: JournalHead | null,
    report: FileJournalOpenReport | null,
    groupCommitMs: number,
  ) {
    this.path = path;
    this.url = `file:${path}`;
    this.fh = fh;
    this.size = size;
    this.durable = head;
    this.tail = head;
    this.openReport = report;
    this.groupCommitMs = groupCommitMs;
  }

  /**
   * Opens (creating it and its directory, mode 0700, when missing) the
   * journal at `path`, cuts a torn last record, and finds the head: the last
   * line that is a valid envelope on its own.
   */
  static async open(path: string, options: FileJournalOptions = {}): Promise<FileJournal> {
    const groupCommitMs = options.groupCommitMs ?? 0;
    if (!Number.isFinite(groupCommitMs) || groupCommitMs < 0) {
      throw new ValidationError('groupCommitMs', `expected a finite number >= 0, got ${groupCommitMs}`);
    }
    const abs = resolvePath(path);
    const readOnly = options.readOnly === true;
    if (!readOnly) await mkdir(dirname(abs), { recursive: true, mode: 0o700 });
    const fh = await open(abs, readOnly ? 'r' : 'a+', 0o600);
    try {
      if (!readOnly) await syncDirectory(dirname(abs)); // make the file's directory entry durable too
      const stat = await fh.stat();
      if (!stat.isFile()) throw new VirtFunError('JOURNAL_URL', `${abs} is not a regular file`);
      const size = stat.size;
      let keep = size;
      let reason: string | null = null;
      if (size > 0) {
        const tail = await lineBefore(fh, size);
        if (tail.start < size) {
          keep = tail.start;
          reason = 'the last record has no trailing newline (torn write)';
        } else {
          const last = await lineBefore(fh, size - 1);
          const checked = checkLine(last.bytes.toString('utf8'));
          if (!checked.ok) {
            keep = last.start;
            reason = `the last record ${checked.reason} (torn write)`;
          }
        }
      }
      let report: FileJournalOpenReport | null = null;
      if (reason !== null && !readOnly) {
        await fh.truncate(keep);
        await fh.datasync();
        report = { truncatedBytes: size - keep, offset: keep, reason };
      }
      // Head: the last line that is good on its own. Damage before it is for read() to report.
      let head: JournalHead | null = null;
      for (let stop = keep; stop > 0; ) {
        const line = await lineBefore(fh, stop - 1);
        const checked = checkLine(line.bytes.toString('utf8'));
        if (checked.ok) {
          head = { seq: checked.env.seq, hash: checked.env.hash };
          break;
        }
        stop = line.start;
      }
      const journal = new FileJournal(abs, fh, keep, head, report, groupCommitMs);
      journal.readOnly = readOnly;
      return journal;
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  /** The last durable event (appends still in flight are not counted). */
  async head(): Promise<JournalHead | null> {
    return this.durable;
  }

  /** Number of group writes (each one write + one fdatasync) done so far. */
  get groupCommits(): number {
    return this.commits;
  }

  /**
   * Appends after the head, counting appends still in flight: a caller may
   * append again before the previous append resolved (they share a group
   * write). Rejects with ConcurrencyError when the first envelope does not
   * follow, ValidationError when an envelope's hash does not match its
   * content, and with the I/O error when the write fails (then this append and
   * every append queued after it fail, and the file is cut back to its last
   * durable size).
   */
  async append(envelopes: readonly Envelope[]): Promise<void> {
    if (this.closing) throw new VirtFunError('JOURNAL_CLOSED', `${this.url} is closed`);
    if (this.readOnly) throw new VirtFunError('JOURNAL_CLOSED', `${this.url} was opened read-only`);
    if (this.failure !== null) throw this.failure;
    if (envelopes.length === 0) return;
    const after = checkAppend(this.tail, envelopes);
    let text = '';
    const lines: { bytes: number; head: JournalHead }[] = [];
    envelopes.forEach((env, i) => {
      const { canonical, hashInput } = encodeEnvelope(env);
      if (sha256Hex(hashInput) !== env.hash) {
        throw new ValidationError(`envelopes[${i}].hash`, `seq ${env.seq}: does not match the envelope's content`);
      }
      if (canonical.includes('\n')) throw new ValidationError(`envelopes[${i}]`, 'canonical JSON contains a newline');
      text += canonical + '\n';
      lines.push({ bytes: Buffer.byteLength(canonical, 'utf8') + 1, head: { seq: env.seq, hash: env.hash } });
    });
    this.tail = after;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ text, lines, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        this.loop = this.flushLoop();
      }
    });
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        if (this.groupCommitMs > 0) await new Promise((r) => setTimeout(r, this.groupCommitMs));
        let group: QueuedAppend[] = [];
        try {
          // Another process appending to the same file would break the chain: refuse to write after it.
          const { size } = await this.fh.stat();
          group = this.queue.splice(0);
          if (size !== this.size) {
            this.failure = new ConcurrencyError(
              `${this.url} changed under this journal (${size} bytes where ${this.size} were written): another writer?`,
            );
            this.failAll(group, this.failure);
            continue;
          }
          const bytes = Buffer.from(group.map((g) => g.text).join(''), 'utf8');
          for (let off = 0; off < bytes.length; ) {
            const { bytesWritten } = await this.fh.write(bytes, off, bytes.length - off, null);
            off += bytesWritten;
          }
          await this.fh.datasync();
          this.committed(group, bytes.length);
        } catch (err) {
          this.failAll(group, err);
          try {
            await this.fh.truncate(this.size);
            await this.fh.datasync();
          } catch (cutErr) {
            this.failure = new JournalCorruptError(this.url, 'a write failed and its partial bytes could not be cut off', {
              cause: cutErr,
            });
            this.failAll([], this.failure);
          }
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Rejects `group` and everything queued after it (it chains on `group`); appends restart from the durable head. */
  private failAll(group: readonly QueuedAppend[], err: unknown): void {
    const doomed = group.concat(this.queue.splice(0));
    this.tail = this.durable;
    for (const q of doomed) q.reject(err);
  }

  private committed(group: readonly QueuedAppend[], byteCount: number): void {
    let offset = this.size;
    for (const q of group) {
      for (const line of q.lines) {
        if (this.frontier.offset === offset) this.advance({ offset: offset + line.bytes, line: this.frontier.line + 1, prev: line.head });
        offset += line.bytes;
        this.durable = line.head;
      }
    }
    this.size += byteCount;
    this.commits++;
    for (const q of group) q.resolve();
  }

  /** Moves the good-prefix frontier one line on, keeping a checkpoint every CHECKPOINT_EVERY events. */
  private advance(next: Position): void {
    this.frontier = next;
    const seq = next.prev?.seq ?? 0;
    if (seq % CHECKPOINT_EVERY === 0 && this.checkpoints.length === seq / CHECKPOINT_EVERY - 1) this.checkpoints.push(next);
  }

  /** Where to start reading for `fromSeq`: the last checkpoint before it. */
  private startFor(fromSeq: number): Position {
    const k = Math.min(Math.floor((fromSeq - 1) / CHECKPOINT_EVERY), this.checkpoints.length);
    return k === 0 ? START : (this.checkpoints[k - 1] as Position);
  }

  /**
   * Durable envelopes from `fromSeq`, streamed. Every line is checked
   * (canonical JSON, hash, seq and prevHash continuity); at the first bad
   * one, JournalCorruptError names the line and the seq it follows. Lines
   * before `fromSeq` are checked too, except those this journal already
   * checked since it was opened.
   */
  async *read(options?: ReadOptions): AsyncIterable<Envelope> {
    const fromSeq = checkFromSeq(options);
    if (this.closing) throw new VirtFunError('JOURNAL_CLOSED', `${this.url} is closed`);
    const end = this.size;
    const start = this.startFor(fromSeq);
    const fh = await open(this.path, 'r');
    try {
      let prev = start.prev;
      let lineNo = start.line;
      for await (const lines of scanLines(fh, start.offset, end)) {
        for (const raw of lines) {
          lineNo++;
          let reason: string | null;
          let env: Envelope | null = null;
          if (!raw.terminated) {
            reason = 'has no trailing newline';
          } else {
            const d = decodeLine(raw.text);
            if (d.ok) {
              env = d.env;
              reason = chainFault(d.env, prev, { hash: sha256Hex, encoding: d.encoding, schema: false, shapeChecked: true });
            } else {
              reason = d.reason;
            }
          }
          if (reason !== null || env === null) {
            throw new JournalCorruptError(`${this.path}:${lineNo}`, `line ${lineNo} is damaged ${afterSeq(prev)}: ${reason ?? 'unreadable'}`);
          }
          prev = { seq: env.seq, hash: env.hash };
          if (raw.offset === this.frontier.offset) this.advance({ offset: raw.offset + raw.bytes, line: lineNo, prev });
          if (env.seq >= fromSeq) yield env;
        }
      }
    } finally {
      await fh.close();
    }
  }

  /** Waits for queued appends to be written, then closes the file. Idempotent. */
  async close(): Promise<void> {
    this.closing = true;
    while (this.flushing) await this.loop;
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}

/**
 * Verifies a journal file as it is on disk, without opening it as a journal
 * (nothing is cut or written). Checks every line: terminated, valid JSON, an
 * envelope in canonical form, then the chain rules of `verifyChain` (seq,
 * prevHash, hash, known type and version). The first bad line is reported
 * with its line number; `seq` is the bad envelope's own seq when it has one,
 * else the seq expected there.
 */
export async function verifyFile(path: string): Promise<ChainReport> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    let prev: JournalHead | null = null;
    let count = 0;
    let lineNo = 0;
    for await (const lines of scanLines(fh, 0, size)) {
      for (const raw of lines) {
        lineNo++;
        if (!raw.terminated) {
          return {
            ok: false,
            count,
            firstBad: faultOf(null, count + 1, 'has no trailing newline: a torn last record (opening the journal cuts it)', lineNo),
          };
        }
        const d = decodeLine(raw.text);
        if (!d.ok) return { ok: false, count, firstBad: faultOf(d.value, count + 1, d.reason, lineNo) };
        const reason = chainFault(d.env, prev, { hash: sha256Hex, encoding: d.encoding, shapeChecked: true });
        if (reason !== null) return { ok: false, count, firstBad: faultOf(d.env, count + 1, reason, lineNo) };
        prev = { seq: d.env.seq, hash: d.env.hash };
        count++;
      }
    }
    return { ok: true, count, head: prev };
  } finally {
    await fh.close();
  }
}
