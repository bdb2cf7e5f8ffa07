/**
 * The file journal, vFunD's embedded default (docs/events.md, "File journal").
 *
 * One envelope per line, as its canonical JSON, then '\n'. The file is only
 * ever appended to. Appends that arrive while a write + fdatasync is in
 * flight are gathered into the next single write and one fdatasync (group
 * commit); each append resolves once its own bytes are on disk.
 *
 * Opening repairs one thing only: a torn last record (no trailing newline: a
 * write a crash cut short) is cut off and reported in `openReport` (open.ts).
 * A complete line that does not verify is damage or tampering, never a torn
 * write: a last one makes opening for writing fail (JournalCorruptError,
 * nothing changed); anywhere else it is left in place, `read()` throws
 * JournalCorruptError when it reaches it, and `verifyFile()` names it
 * (reader.ts).
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
 * when writes work again (probe.ts).
 *
 * Every such decision is made by the write queue (write-queue.ts, pure). This
 * class encodes appends, carries out the queue's writes, cuts, probes and
 * pauses, feeds their outcomes back, and reads (reader.ts).
 */
import type { FileHandle } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { ConcurrencyError, ValidationError, VirtFunError } from '../../../errors.js';
import { encodeEnvelope } from '../../canonical.js';
import { checkAppend } from '../../chain.js';
import type { Envelope } from '../../envelope.js';
import { checkHosts, type HostPolicy } from '../../host-check.js';
import { checkFromSeq, type AppendOptions, type Journal, type JournalAvailability, type JournalHead, type ReadOptions } from '../../journal.js';
import { nativeSha256Hex as sha256Hex } from '../native-hash.js';
import type { WriterLock } from '../writer-lock.js';
import { openJournalFile, type OpenedFile } from './open.js';
import { resolveOptions, type FileJournalOpenReport, type FileJournalOptions, type ResolvedOptions } from './options.js';
import { writeProbe } from './probe.js';
import { ReadIndex } from './read-index.js';
import { readFromLastOfType, readVerified, type ReadSnapshot } from './reader.js';
import type { VFunEventType } from '../../catalogue.js';
import { closeSegment, type Rotated } from './rotate.js';
import { CHECKPOINT_TYPE, shouldRotate, type Segment } from './segments.js';
import * as queue from './write-queue.js';
import type { AppendLine, WriteInput, WriteQueueConfig, WriteQueueState } from './write-queue.js';

/** How the journal settles a queued append: its promise's callbacks. */
interface Settle {
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * A Journal in one append-only file (see the module's comment): each append resolves once fdatasync'd;
 * one writer per file (a writer lock), any number of read-only readers. Open it with `FileJournal.open`.
 */
export class FileJournal implements Journal {
  readonly url: string;
  /** Absolute path of the journal file. */
  readonly path: string;
  /** Set when `open` cut a torn last record; null when the file was clean. */
  readonly openReport: FileJournalOpenReport | null;

  /** The write queue's state: changed only by admit() and dispatch(). */
  private q: WriteQueueState<Settle>;
  private flushing = false;
  private loop: Promise<void> = Promise.resolve();
  private closed = false;
  /** Ends the backoff pause early (close). */
  private wake: (() => void) | null = null;
  private readonly availabilityListeners = new Set<(change: JournalAvailability) => void>();
  /** The good prefix of the active file and read checkpoints inside it (a new one per active file). */
  private index: ReadIndex;
  /** The active file: null only read-only, when a crash left only closed segments. */
  private fh: FileHandle | null;
  private ino: number | null;
  /** The closed segments, in seq order (segments.ts); the writer adds those it closes. */
  private readonly segments: Segment[];
  /** Seq of the active file's first line; null while it is empty. */
  private activeFirst: number | null;
  /** Why the last try to close a segment failed, if one did (the active file then stays open and grows). */
  rotationError: unknown = null;
  private readonly readOnly: boolean;
  private readonly config: WriteQueueConfig;
  private readonly segmentBytes: number;
  private readonly lock: WriterLock | null;
  /** Read-only with a host: the host check of every envelope read. */
  private readonly readHosts: HostPolicy | null;

  private constructor(path: string, f: OpenedFile, o: ResolvedOptions) {
    this.path = path;
    this.url = `file:${path}`;
    this.openReport = f.report;
    this.q = queue.initialWriteState(f.size, f.head);
    this.fh = f.fh;
    this.ino = f.ino;
    this.lock = f.lock;
    this.segments = [...f.segments];
    this.activeFirst = f.activeFirst;
    this.index = new ReadIndex(f.base);
    this.readOnly = o.readOnly;
    this.config = o.queue;
    this.segmentBytes = o.segmentBytes;
    this.readHosts = o.readOnly ? o.hosts : null;
  }

  /**
   * Opens (creating it and its directory, mode 0700, when missing) the
   * journal at `path`, cuts a torn last record (no trailing newline), and
   * finds the head: the last line that is a valid envelope on its own (the
   * last closed segment's last event when the active file is empty). For
   * writing, a complete last line that is not a valid envelope chaining on
   * the line before it is refused with JournalCorruptError (nothing is
   * changed); read-only, it is left for `read()` to report. With `host`, the
   * writer refuses a journal whose last envelope names another host
   * (JournalHostError; see FileJournalOptions.host).
   */
  static async open(path: string, options: FileJournalOptions = {}): Promise<FileJournal> {
    const o = resolveOptions(options);
    const abs = resolvePath(path);
    const f = await openJournalFile(abs, { readOnly: o.readOnly, lock: o.lock, hosts: o.hosts });
    return new FileJournal(abs, f, o);
  }

  /** The closed segments, in seq order (segments.ts). */
  get closedSegments(): readonly Segment[] {
    return [...this.segments];
  }

  /** The last durable event (appends still in flight are not counted). */
  async head(): Promise<JournalHead | null> {
    return this.q.durable;
  }

  /** Number of group writes (each one write + one fdatasync) done so far. */
  get groupCommits(): number {
    return this.q.groupCommits;
  }

  /**
   * Whether new work may be taken on: false while writes fail (until one goes
   * through), after another writer changed the file, and once closing.
   */
  available(): boolean {
    return queue.isAvailable(this.q);
  }

  /** Called once when writes start failing and once when they work again (or the journal fails for good). */
  onAvailabilityChange(listener: (change: JournalAvailability) => void): () => void {
    this.availabilityListeners.add(listener);
    return () => this.availabilityListeners.delete(listener);
  }

  /** Envelopes accepted and not yet written. */
  get waiting(): number {
    return queue.waitingEvents(this.q);
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
    if (this.q.closing) throw new VirtFunError('JOURNAL_CLOSED', `${this.url} is closed`);
    if (this.readOnly) throw new VirtFunError('JOURNAL_CLOSED', `${this.url} was opened read-only`);
    const failFast = options.failFast === true;
    const refused = queue.refusal(this.q, failFast);
    if (refused !== null) throw refused;
    if (envelopes.length === 0) return;
    checkAppend(this.q.tail, envelopes);
    let text = '';
    const lines: AppendLine[] = [];
    envelopes.forEach((env, i) => {
      const { canonical, hashInput } = encodeEnvelope(env);
      if (sha256Hex(hashInput) !== env.hash) {
        throw new ValidationError(`envelopes[${i}].hash`, `seq ${env.seq}: does not match the envelope's content`);
      }
      if (canonical.includes('\n')) throw new ValidationError(`envelopes[${i}]`, 'canonical JSON contains a newline');
      text += canonical + '\n';
      lines.push({ bytes: Buffer.byteLength(canonical, 'utf8') + 1, head: { seq: env.seq, hash: env.hash }, ...(env.type === CHECKPOINT_TYPE && { checkpoint: true as const }) });
    });
    const bytes = lines.reduce((n, l) => n + l.bytes, 0);
    return new Promise<void>((resolve, reject) => {
      const admitted = queue.admit(this.q, this.config, { text, bytes, failFast, lines, payload: { resolve, reject } });
      if (!admitted.ok) {
        reject(admitted.error);
        return;
      }
      this.q = admitted.state;
      this.kick();
    });
  }

  /** Feeds an outcome to the write queue and carries out its effects, in order. */
  private dispatch(input: WriteInput): void {
    const { state, effects } = queue.step(this.q, input);
    this.q = state;
    for (const fx of effects) {
      switch (fx.type) {
        case 'committed':
          this.index.committed(fx.offset, fx.lines);
          if (this.activeFirst === null) this.activeFirst = fx.lines[0]?.head.seq ?? null;
          break;
        case 'resolve':
          for (const a of fx.appends) a.payload.resolve();
          break;
        case 'reject':
          for (const a of fx.appends) a.payload.reject(fx.error);
          break;
        case 'notify':
          this.emit(fx.change);
          break;
      }
    }
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
        const move = queue.nextMove(this.q, this.config);
        if (move.type === 'stop') return;
        if (move.type === 'backoff') {
          this.dispatch({ type: 'backoff' });
          await this.pause(move.ms, move.holdsProcess);
        } else if (move.type === 'gather') {
          await new Promise((r) => setTimeout(r, move.ms));
        }
        if (queue.isIdle(this.q)) return;
        await this.attempt();
      }
    } finally {
      this.flushing = false;
    }
  }

  /** One try: cut what a failed write left, then write every queued append (or a probe) and fdatasync. Never throws. */
  private async attempt(): Promise<void> {
    let bytes = 0;
    const fh = this.fh as FileHandle; // a writer always has its active file
    try {
      if (this.q.dirty) {
        await fh.truncate(this.q.size);
        await fh.datasync();
        this.dispatch({ type: 'cut' });
      }
      const plan = queue.writePlan(this.q);
      if (plan.type === 'probe') {
        await writeProbe(this.path, plan.bytes);
        this.dispatch({ type: 'probed', now: Date.now() });
        return;
      }
      // Another process appending to the same file would break the chain: refuse to write after it.
      const { size } = await fh.stat();
      if (size !== this.q.size) {
        // No path in the message: appenders may pass it on to a tenant (the availability listener's log names the journal).
        this.dispatch({ type: 'fence', error: new ConcurrencyError(`the journal file changed under its writer (${size} bytes where ${this.q.size} were written): another writer?`) });
        return;
      }
      const buf = Buffer.from(plan.text, 'utf8');
      bytes = buf.length;
      this.dispatch({ type: 'writing' });
      for (let off = 0; off < buf.length; ) {
        const { bytesWritten } = await fh.write(buf, off, buf.length - off, null);
        off += bytesWritten;
      }
      await fh.datasync();
      // Closed before the appends resolve: an append that ends with a checkpoint returns with its segment closed.
      const rotated = await this.closeIfDue(plan.count, buf.length);
      this.dispatch({ type: 'written', count: plan.count, bytes: buf.length, now: Date.now() });
      if (rotated !== null) this.rotated(rotated);
    } catch (err) {
      let cut = !this.q.dirty;
      if (!cut) {
        // Cut the partial line now, so the file never ends in one while we wait (retried before the next write otherwise).
        try {
          await fh.truncate(this.q.size);
          await fh.datasync();
          cut = true;
        } catch {
          // still dirty: the next attempt cuts first
        }
      }
      this.dispatch({ type: 'failed', error: err, bytes, cut, now: Date.now() });
    }
  }

  /**
   * After the first `count` queued appends (`bytes` long) were written and
   * made durable: closes the active file as a segment when it has now grown
   * to `segmentBytes` and their last line is a checkpoint (segments.ts,
   * rotate.ts). A rotation that fails leaves the active file as it was
   * (tried again after the next checkpoint; `rotationError` says why), unless
   * it could not be undone: then the journal stops taking appends, like after
   * another writer. Never throws.
   */
  private async closeIfDue(count: number, bytes: number): Promise<Rotated | null> {
    const group = queue.queued(this.q).slice(0, count);
    const lastLine = group.at(-1)?.lines.at(-1);
    const first = this.activeFirst ?? group[0]?.lines[0]?.head.seq;
    if (lastLine === undefined || first === undefined || !shouldRotate(this.q.size + bytes, this.segmentBytes, lastLine.checkpoint === true)) return null;
    try {
      return await closeSegment(this.path, first, lastLine.head.seq);
    } catch (err) {
      this.rotationError = err;
      // No path in the message: appenders may pass it on to a tenant (rotationError keeps the cause for the operator).
      if (err instanceof VirtFunError) this.dispatch({ type: 'fence', error: new VirtFunError('JOURNAL_CORRUPT', 'closing a journal segment failed half-way', { cause: err }) });
      return null;
    }
  }

  /** The active file was closed as `r.segment`: writes go on in the new one, reads find the old one among the segments. */
  private rotated(r: Rotated): void {
    void this.fh?.close().catch(() => undefined);
    this.fh = r.fh;
    this.ino = r.ino;
    this.segments.push(r.segment);
    this.activeFirst = null;
    this.index = new ReadIndex(this.q.durable);
    this.dispatch({ type: 'rotated' });
  }

  /** The backoff pause between attempts; close() ends it early. `holdsProcess` false: the timer keeps no process alive. */
  private async pause(ms: number, holdsProcess: boolean): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      if (!holdsProcess) timer.unref(); // only probing
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
    this.wake = null;
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

  /**
   * Durable envelopes from `fromSeq`, streamed. Every line is checked
   * (canonical JSON, hash, seq and prevHash continuity); at the first bad
   * one, JournalCorruptError names the line and the seq it follows. Lines
   * before `fromSeq` are checked too, except those this journal already
   * checked since it was opened. Opened read-only with a `host`, an envelope
   * of another host throws JournalHostError naming its seq.
   */
  async *read(options?: ReadOptions): AsyncIterable<Envelope> {
    const fromSeq = checkFromSeq(options);
    if (this.q.closing) throw new VirtFunError('JOURNAL_CLOSED', `${this.url} is closed`);
    const verified = readVerified(this.snapshot(), fromSeq);
    yield* this.readHosts === null ? verified : checkHosts(verified, this.readHosts);
  }

  /**
   * The durable envelopes from the last one of `type` (included) to the head,
   * found by searching the active file, then the closed segments, backwards
   * (reader.ts): start-up and `vfun replay --from-snapshot` never read what
   * comes before it. Null when the journal holds none here. Opened read-only
   * with a `host`, an envelope of another host throws JournalHostError.
   */
  async readFromLast(type: VFunEventType): Promise<AsyncIterable<Envelope> | null> {
    if (this.q.closing) throw new VirtFunError('JOURNAL_CLOSED', `${this.url} is closed`);
    const found = await readFromLastOfType(this.snapshot(), type);
    return found === null || this.readHosts === null ? found : checkHosts(found, this.readHosts);
  }

  /** What a read needs, taken now: a rotation while reading renames the active file, and the read follows it (reader.ts). */
  private snapshot(): ReadSnapshot {
    return { active: this.path, segments: [...this.segments], activeFirst: this.activeFirst, activeIno: this.ino, size: this.q.size, index: this.index };
  }

  /**
   * Waits for queued appends to be written, then closes the file and gives the
   * writer lock up. Idempotent. While writes fail, that wait lasts until they
   * work again (nothing accepted is dropped); a probe with nothing queued stops.
   */
  async close(): Promise<void> {
    this.dispatch({ type: 'close' });
    this.wake?.();
    while (this.flushing) await this.loop;
    if (this.closed) return;
    this.closed = true;
    await this.fh?.close();
    await this.lock?.release();
  }
}
