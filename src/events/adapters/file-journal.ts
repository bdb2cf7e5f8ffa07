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
 *
 * One writer: opening for writing takes the writer lock beside the file
 * (writer-lock.ts) before it reads or cuts anything; read-only opens do not.
 *
 * A write that fails (a full disk, an I/O error) is an outage, not an error
 * for the appender: the partial bytes are cut back to the last good line,
 * `available()` turns false, and the same bytes are written again with backoff
 * (50 ms doubling to 1 s) until they go through. Appends wait meanwhile, in
 * order; `failFast` appends are refused instead (JournalUnavailableError) and
 * never stored. With nothing waiting, a probe file beside the journal tells
 * when writes work again.
 */
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import { ConcurrencyError, JournalCorruptError, JournalUnavailableError, ValidationError, VirtFunError } from '../../errors.js';
import { encodeEnvelope } from '../canonical.js';
import { chainFault, checkAppend, decodeStored, faultOf, type ChainReport, type StoredDecode } from '../chain.js';
import type { Envelope } from '../envelope.js';
import { checkFromSeq, type AppendOptions, type Journal, type JournalAvailability, type JournalHead, type ReadOptions } from '../journal.js';
import { acquireWriterLock, type LockMechanism, type WriterLock } from './writer-lock.js';
import { nativeSha256Hex as sha256Hex } from './native-hash.js';

const NEWLINE = 0x0a;
/** Bytes read at a time when scanning forward. Grows for longer lines. */
const READ_CHUNK = 1 << 20;
/** Bytes read at a time when looking for the last line at open. */
const TAIL_CHUNK = 1 << 16;
/** A read position is remembered every this many events, so `read({ fromSeq })` does not rescan from the start. */
const CHECKPOINT_EVERY = 1024;
/** Backoff between attempts while writes fail: doubles from the first to the last. */
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 1000;
/** Default bound on bytes accepted and not yet written (see FileJournalOptions.maxWaitingBytes). */
const MAX_WAITING_BYTES = 16 << 20;
/** Smallest probe written while nothing waits (the probe is as large as the last failed write otherwise). */
const PROBE_MIN_BYTES = 4096;

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
  /**
   * Bound on bytes accepted and not yet written while writes fail. An append
   * that would pass it is refused at once (JournalUnavailableError, nothing
   * stored). Default 16 MiB. vFunD never comes near it: its mailbox waits for
   * each decision's append, so at most one decision's events wait.
   */
  readonly maxWaitingBytes?: number;
  /** How the writer lock is held (writer-lock.ts). Default: flock when the native addon has it, else a pid file. */
  readonly lock?: LockMechanism;
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

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== undefined && !err.message.startsWith(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** What appenders are told while the journal cannot write: never a host path (it may reach a tenant). */
const UNAVAILABLE = 'the journal cannot write right now';

interface QueuedAppend {
  readonly text: string;
  /** UTF-8 bytes of `text`. */
  readonly bytes: number;
  readonly failFast: boolean;
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
  /** Appends accepted and not yet durable, in order. Removed only once written (or withdrawn). */
  private readonly queue: QueuedAppend[] = [];
  private waitingBytes = 0;
  private readonly maxWaitingBytes: number;
  private flushing = false;
  private loop: Promise<void> = Promise.resolve();
  private closing = false;
  private closed = false;
  /** Set when the file can no longer be trusted for appends. */
  private failure: Error | null = null;
  /** Set while writes fail: since when, and the last error. */
  private outage: { readonly since: number; reason: string } | null = null;
  /** The file may hold bytes past `size` (a write that failed half-way): cut them before anything else. */
  private dirty = false;
  private retryDelay = RETRY_FIRST_MS;
  /** Size of the last write that failed: what a probe must be able to write. */
  private failedBytes = 0;
  /** Ends the backoff pause early (close). */
  private wake: (() => void) | null = null;
  private readonly availabilityListeners = new Set<(change: JournalAvailability) => void>();
  private lock: WriterLock | null = null;
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
    maxWaitingBytes: number,
  ) {
    this.path = path;
    this.url = `file:${path}`;
    this.fh = fh;
    this.size = size;
    this.durable = head;
    this.tail = head;
    this.openReport = report;
    this.groupCommitMs = groupCommitMs;
    this.maxWaitingBytes = maxWaitingBytes;
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
    const maxWaitingBytes = options.maxWaitingBytes ?? MAX_WAITING_BYTES;
    if (!Number.isSafeInteger(maxWaitingBytes) || maxWaitingBytes < 1) {
      throw new ValidationError('maxWaitingBytes', `expected a positive integer, got ${maxWaitingBytes}`);
    }
    const abs = resolvePath(path);
    const readOnly = options.readOnly === true;
    if (!readOnly) await mkdir(dirname(abs), { recursive: true, mode: 0o700 });
    // The writer lock comes first: a second writer must not even cut the first one's tail.
    const lock = readOnly ? null : await acquireWriterLock(abs, { ...(options.lock !== undefined && { mechanism: options.lock }), what: `the journal ${abs}` });
    let fh: FileHandle;
    try {
      fh = await open(abs, readOnly ? 'r' : 'a+', 0o600);
    } catch (err) {
      await lock?.release().catch(() => undefined);
      throw err;
    }
    try {
      if (!readOnly) await rm(probePath(abs), { force: true }); // a probe a crash left behind
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
      const journal = new FileJournal(abs, fh, keep, head, report, groupCommitMs, maxWaitingBytes);
      journal.readOnly = readOnly;
      journal.lock = lock;
      return journal;
    } catch (err) {
      await fh.close().catch(() => undefined);
      await lock?.release().catch(() => undefined);
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
   * Whether new work may be taken on: false while writes fail (until one goes
   * through), after another writer changed the file, and once closing.
   */
  available(): boolean {
    return this.failure === null && this.outage === null && !this.closing;
  }

  /** Called once when writes start failing and once when they work again (or the journal fails for good). */
  onAvailabilityChange(listener: (change: JournalAvailability) => void): () => void {
    this.availabilityListeners.add(listener);
    return () => this.availabilityListeners.delete(listener);
  }

  /** Envelopes accepted and not yet written. */
  get waiting(): number {
    return this.queue.reduce((n, q) => n + q.lines.length, 0);
  }

  /**
   * Appends after the head, counting appends still in flight: a caller may
   * append again before the previous append resolved (they share a group
   * write). Rejects with ConcurrencyError when the first envelope does not
   * follow, ValidationError when an envelope's hash does not match its
   * content. A write that fails does not reject: it is cut back and retried
   * until it goes through (see the file's header); with `failFast`, the append
   * rejects with JournalUnavailableError instead, and nothing is stored. After
   * another writer changed the file, every append rejects.
   */
  async append(envelopes: readonly Envelope[], options: AppendOptions = {}): Promise<void> {
    if (this.closing) throw new VirtFunError('JOURNAL_CLOSED', `${this.url} is closed`);
    if (this.readOnly) throw new VirtFunError('JOURNAL_CLOSED', `${this.url} was opened read-only`);
    if (this.failure !== null) throw this.failure;
    const failFast = options.failFast === true;
    if (failFast && this.outage !== null) throw new JournalUnavailableError(UNAVAILABLE);
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
    const bytes = lines.reduce((n, l) => n + l.bytes, 0);
    if (this.waitingBytes + bytes > this.maxWaitingBytes) {
      throw new JournalUnavailableError(`${UNAVAILABLE}: ${this.waitingBytes} bytes already wait to be written (at most ${this.maxWaitingBytes})`);
    }
    this.tail = after;
    this.waitingBytes += bytes;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ text, bytes, failFast, lines, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.flushing) return;
    this.flushing = true;
    this.loop = this.flushLoop();
  }

  /** Writes what is queued, one group at a time; while writes fail, retries with backoff (probing when nothing waits). */
  private async flushLoop(): Promise<void> {
    try {
      for (;;) {
        if (this.failure !== null || (this.queue.length === 0 && (this.outage === null || this.closing))) return;
        if (this.outage !== null) await this.pause();
        else if (this.groupCommitMs > 0) await new Promise((r) => setTimeout(r, this.groupCommitMs));
        if (this.failure !== null || (this.queue.length === 0 && (this.outage === null || this.closing))) return;
        await this.attempt();
      }
    } finally {
      this.flushing = false;
    }
  }

  /** One try: cut what a failed write left, then write every queued append (or a probe) and fdatasync. Never throws. */
  private async attempt(): Promise<void> {
    let bytes = 0;
    try {
      if (this.dirty) {
        await this.fh.truncate(this.size);
        await this.fh.datasync();
        this.dirty = false;
        // Fail-fast appends whose bytes could not be cut at once were kept back: now they can be refused.
        if (this.outage !== null) this.withdrawFailFast(new Error(this.outage.reason));
      }
      const group = this.queue.slice();
      if (group.length === 0) {
        await this.probe();
        this.recovered();
        return;
      }
      // Another process appending to the same file would break the chain: refuse to write after it.
      const { size } = await this.fh.stat();
      if (size !== this.size) {
        // No path in the message: appenders may pass it on to a tenant (the availability listener's log names the journal).
        this.fail(new ConcurrencyError(`the journal file changed under its writer (${size} bytes where ${this.size} were written): another writer?`));
        return;
      }
      const buf = Buffer.from(group.map((g) => g.text).join(''), 'utf8');
      bytes = buf.length;
      this.dirty = true;
      for (let off = 0; off < buf.length; ) {
        const { bytesWritten } = await this.fh.write(buf, off, buf.length - off, null);
        off += bytesWritten;
      }
      await this.fh.datasync();
      this.dirty = false;
      this.queue.splice(0, group.length);
      this.committed(group, buf.length);
      this.recovered();
    } catch (err) {
      if (this.dirty) {
        // Cut the partial line now, so the file never ends in one while we wait (retried before the next write otherwise).
        try {
          await this.fh.truncate(this.size);
          await this.fh.datasync();
          this.dirty = false;
        } catch {
          // still dirty: the next attempt cuts first
        }
      }
      this.failedBytes = Math.max(bytes, this.failedBytes);
      // A fail-fast append is refused only once its bytes are cut: never refuse what a crash could leave in the file.
      if (!this.dirty) this.withdrawFailFast(err);
      this.unavailable(err);
    }
  }

  /** Writes `failedBytes` into a file beside the journal, fdatasync'd, then removes it: can the journal's file system take that now? */
  private async probe(): Promise<void> {
    const path = probePath(this.path);
    const fh = await open(path, 'w', 0o600);
    try {
      await fh.write(Buffer.alloc(Math.max(PROBE_MIN_BYTES, this.failedBytes), 0x20), 0, null, 0);
      await fh.datasync();
    } finally {
      await fh.close().catch(() => undefined);
      await rm(path, { force: true }).catch(() => undefined);
    }
  }

  /** The backoff pause between attempts (doubling up to RETRY_MAX_MS); close() ends it early. */
  private async pause(): Promise<void> {
    const ms = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX_MS);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      if (this.queue.length === 0) timer.unref(); // only probing: keeps no process alive
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
    this.wake = null;
  }

  /**
   * The appends at the end of the queue that asked to fail fast are withdrawn:
   * rejected, never to be written. (One followed by a waiting append stays: the
   * waiting one chains on it.)
   */
  private withdrawFailFast(err: unknown): void {
    let keep = this.queue.length;
    while (keep > 0 && this.queue[keep - 1]!.failFast) keep--;
    if (keep === this.queue.length) return;
    const withdrawn = this.queue.splice(keep);
    for (const q of withdrawn) this.waitingBytes -= q.bytes;
    const last = this.queue.at(-1);
    this.tail = last === undefined ? this.durable : last.lines.at(-1)!.head;
    const refusal = new JournalUnavailableError(UNAVAILABLE, { cause: err });
    for (const q of withdrawn) q.reject(refusal);
  }

  private unavailable(err: unknown): void {
    const reason = errorText(err);
    if (this.outage !== null) {
      this.outage.reason = reason;
      return;
    }
    this.outage = { since: Date.now(), reason };
    this.retryDelay = RETRY_FIRST_MS;
    this.emit({ available: false, reason, waiting: this.waiting });
  }

  private recovered(): void {
    if (this.outage === null) return;
    const outageMs = Date.now() - this.outage.since;
    this.outage = null;
    this.failedBytes = 0;
    this.retryDelay = RETRY_FIRST_MS;
    this.emit({ available: true, reason: null, waiting: this.waiting, outageMs });
  }

  /** The file can no longer be trusted for appends: every queued append fails, and every later one. */
  private fail(err: Error): void {
    this.failure = err;
    const doomed = this.queue.splice(0);
    this.waitingBytes = 0;
    this.tail = this.durable;
    for (const q of doomed) q.reject(err);
    this.outage = null;
    this.emit({ available: false, reason: err.message, waiting: 0 });
  }

  private emit(change: JournalAvailability): void {
    for (const l of this.availabilityListeners) {
      try {
        l(change);
      } catch {
        // a listener's fault is its own
      }
    }
  }

  private committed(group: readonly QueuedAppend[], byteCount: number): void {
    let offset = this.size;
    for (const q of group) {
      this.waitingBytes -= q.bytes;
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

  /**
   * Waits for queued appends to be written, then closes the file and gives the
   * writer lock up. Idempotent. While writes fail, that wait lasts until they
   * work again (nothing accepted is dropped); a probe with nothing queued stops.
   */
  async close(): Promise<void> {
    this.closing = true;
    this.wake?.();
    while (this.flushing) await this.loop;
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
    await this.lock?.release();
  }
}

/** The file written and removed to probe the journal's file system while writes fail and nothing waits. */
function probePath(journal: string): string {
  return `${journal}.probe`;
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
