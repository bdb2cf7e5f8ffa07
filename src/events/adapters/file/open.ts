/**
 * Opening the journal file (docs/events.md, "File journal"): the writer lock
 * first (writer-lock.ts; read-only opens take none), then the file and its
 * directory (mode 0700, created when missing), a probe a crash left behind
 * removed, the end of the file checked, and the head.
 *
 * A torn tail is a last record without its newline: a write the crash cut
 * short. The writer cuts it and reports that it did; a read-only open stops
 * before it. A complete line (newline included) that is not a valid envelope,
 * or does not chain on the line before it, is not a torn write: it is damage
 * or tampering. The writer refuses to open such a journal (JournalCorruptError
 * naming the line, the seq and what is wrong, and the operator's way out) and
 * changes nothing, not even a torn tail after it; a read-only open keeps it
 * for read() to report. Damage before the last line is left in place for the
 * reader to report too. Told its host, the writer refuses a journal whose
 * last envelope names another one (host-check.ts), before it cuts anything.
 */
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { JournalCorruptError, VirtFunError } from '../../../errors.js';
import { chainFault } from '../../chain.js';
import type { Envelope } from '../../envelope.js';
import { writerHostFault, type HostPolicy } from '../../host-check.js';
import type { JournalHead } from '../../journal.js';
import { nativeSha256Hex as sha256Hex } from '../native-hash.js';
import { acquireWriterLock, type LockMechanism, type WriterLock } from '../writer-lock.js';
import { checkLine, countLines, lineBefore } from './lines.js';
import type { FileJournalOpenReport } from './options.js';
import { probePath } from './probe.js';
import { firstOf, lastOfSegment } from './reader.js';
import { listSegments, type Segment } from './segments.js';

/** The journal file, opened and repaired. */
export interface OpenedFile {
  /** The active file, opened for appending ('a+'), or for reading when read-only (null: read-only, and a crash left only closed segments). */
  readonly fh: FileHandle | null;
  /** Its inode (null with no file). */
  readonly ino: number | null;
  /** Held until the journal closes; null when read-only. */
  readonly lock: WriterLock | null;
  /** Bytes of the active file the journal owns (a torn last record excluded). */
  readonly size: number;
  /** The last event: the active file's last line that is a valid envelope on its own, else the last closed segment's. */
  readonly head: JournalHead | null;
  /** That event (its seq, id and host), or null. */
  readonly last: Envelope | null;
  /** What was cut, when something was. */
  readonly report: FileJournalOpenReport | null;
  /** The closed segments beside the active file, in seq order (segments.ts). */
  readonly segments: readonly Segment[];
  /** Seq of the active file's first line, when it is a good envelope; null when the file is empty. */
  readonly activeFirst: number | null;
  /** The event before the active file's first line: the last closed segment's, else what its first line's prevHash says; null: it begins the journal. */
  readonly base: JournalHead | null;
}

/** A complete last line that is not a valid envelope, or does not chain on the line before it. */
interface DamagedLine {
  /** Byte offset of its first byte. */
  readonly start: number;
  /** Its own seq when it has one (`own`), else the seq expected there (0: unknown). */
  readonly seq: number;
  readonly own: boolean;
  readonly reason: string;
}

/** What the end of a file of `size` bytes holds. */
interface TailCheck {
  /** Where the file's complete lines end: before a torn last record, when there is one. */
  readonly keep: number;
  /** Why the bytes after `keep` are a torn record; null when there are none. */
  readonly torn: string | null;
  /** The last complete line, when it is damaged. */
  readonly damaged: DamagedLine | null;
}

/** Opens the journal file at the absolute path `abs`, writer lock first, cuts a torn tail, refuses a damaged last line (see the file's header). */
export async function openJournalFile(
  abs: string,
  options: { readonly readOnly: boolean; readonly lock: LockMechanism | undefined; readonly hosts: HostPolicy | null },
): Promise<OpenedFile> {
  const { readOnly } = options;
  if (!readOnly) await mkdir(dirname(abs), { recursive: true, mode: 0o700 });
  // The writer lock comes first: a second writer must not even cut the first one's tail.
  const lock = readOnly ? null : await acquireWriterLock(abs, { ...(options.lock !== undefined && { mechanism: options.lock }), what: `the journal ${abs}` });
  let fh: FileHandle | null;
  let segments: Segment[];
  try {
    segments = await listSegments(abs);
    fh = await open(abs, readOnly ? 'r' : 'a+', 0o600).catch((err: NodeJS.ErrnoException) => {
      // Read-only, a crash between closing a segment and creating the next active file left only segments: an empty active file.
      if (readOnly && err.code === 'ENOENT' && segments.length > 0) return null;
      throw err;
    });
  } catch (err) {
    await lock?.release().catch(() => undefined);
    throw err;
  }
  try {
    if (!readOnly) await rm(probePath(abs), { force: true }); // a probe a crash left behind
    if (!readOnly) await syncDirectory(dirname(abs)); // make the file's directory entry durable too
    const stat = fh === null ? null : await fh.stat();
    if (stat !== null && !stat.isFile()) throw new VirtFunError('JOURNAL_URL', `${abs} is not a regular file`);
    const size = stat?.size ?? 0;
    const lastSegment = segments.at(-1);
    // The writer needs the last closed segment's last event to chain on; a reader reports a bad one when it reads there.
    const segmentLast = lastSegment === undefined ? null : await lastOfSegment(lastSegment).catch((err: unknown) => (readOnly ? null : Promise.reject(err)));
    if (!readOnly && segmentLast !== null && lastSegment !== undefined && segmentLast.seq !== lastSegment.last) {
      throw new JournalCorruptError(lastSegment.path, `refusing to write to the journal: the segment ends at seq ${segmentLast.seq}, where its name says ${lastSegment.last}`);
    }
    const first = fh === null ? null : await firstOf(fh, size);
    // The last segment is the active file's base unless segments between them were archived (then, as with none here, its first line's prevHash).
    const base: JournalHead | null =
      segmentLast !== null && (first === null || first.seq === segmentLast.seq + 1)
        ? { seq: segmentLast.seq, hash: segmentLast.hash }
        : first !== null && first.seq > 1
          ? { seq: first.seq - 1, hash: first.prevHash }
          : null;
    if (fh === null) {
      const head = segmentLast === null ? null : { seq: segmentLast.seq, hash: segmentLast.hash };
      return { fh, ino: null, lock, size: 0, head, last: segmentLast, report: null, segments, activeFirst: null, base };
    }
    const { keep, torn, damaged } = await checkTail(fh, size, base);
    if (damaged !== null && !readOnly) throw await refusal(fh, abs, damaged);
    let report: FileJournalOpenReport | null = null;
    if (torn !== null && !readOnly) {
      // Checked before anything is cut: a journal of another host is left as it is.
      const hostFault = options.hosts === null ? null : writerHostFault((await findLast(fh, keep)) ?? segmentLast, options.hosts);
      if (hostFault !== null) throw hostFault;
      await fh.truncate(keep);
      await fh.datasync();
      report = { truncatedBytes: size - keep, offset: keep, reason: torn };
    }
    const last = (await findLast(fh, keep)) ?? segmentLast;
    const hostFault = readOnly || options.hosts === null ? null : writerHostFault(last, options.hosts);
    if (hostFault !== null) throw hostFault;
    const head = last === null ? null : { seq: last.seq, hash: last.hash };
    const activeFirst = keep === 0 ? null : (first?.seq ?? null);
    return { fh, ino: stat?.ino ?? null, lock, size: keep, head, last, report, segments, activeFirst, base };
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await lock?.release().catch(() => undefined);
    throw err;
  }
}

/** The end of the file's first `size` bytes: a torn last record (no newline), and whether the last complete line is damaged. */
async function checkTail(fh: FileHandle, size: number, base: JournalHead | null): Promise<TailCheck> {
  if (size === 0) return { keep: 0, torn: null, damaged: null };
  const tail = await lineBefore(fh, size);
  const keep = tail.start;
  const torn = keep < size ? 'the last record has no trailing newline (torn write)' : null;
  if (keep === 0) return { keep, torn, damaged: null };
  const last = await lineBefore(fh, keep - 1);
  const checked = checkLine(last.bytes.toString('utf8'));
  // The line before it: the last line must chain on it when it is good on its own (a bad one is read()'s to report).
  const before = last.start === 0 ? null : checkLine((await lineBefore(fh, last.start - 1)).bytes.toString('utf8'));
  if (!checked.ok) {
    const expected = before === null ? (base?.seq ?? 0) + 1 : before.ok ? before.env.seq + 1 : 0;
    const own = ownSeq(checked.value);
    return { keep, torn, damaged: { start: last.start, seq: own ?? expected, own: own !== null, reason: checked.reason } };
  }
  if (before !== null && !before.ok) return { keep, torn, damaged: null };
  const prevHead: JournalHead | null = before === null ? base : { seq: before.env.seq, hash: before.env.hash };
  const reason = chainFault(checked.env, prevHead, { hash: sha256Hex, encoding: checked.encoding, schema: false, shapeChecked: true });
  return { keep, torn, damaged: reason === null ? null : { start: last.start, seq: checked.env.seq, own: true, reason } };
}

/** The seq a (possibly malformed) record carries, when it carries a usable one. */
function ownSeq(value: unknown): number | null {
  const seq = typeof value === 'object' && value !== null ? (value as { readonly seq?: unknown }).seq : undefined;
  return typeof seq === 'number' && Number.isSafeInteger(seq) && seq > 0 ? seq : null;
}

/**
 * The writer's refusal of a journal whose last complete line is damaged:
 * names the line (counted only here, on the way out), its seq, what is wrong,
 * and the operator's way out (docs/operator-guide.md).
 */
async function refusal(fh: FileHandle, abs: string, d: DamagedLine): Promise<JournalCorruptError> {
  const line = (await countLines(fh, d.start)) + 1;
  const seq = d.seq > 0 ? ` (seq ${d.seq}${d.own ? '' : ' expected'})` : '';
  return new JournalCorruptError(
    `${abs}:${line}`,
    `refusing to write to the journal: line ${line}${seq}, its last complete line, ${d.reason}. ` +
      'A complete line (it ends with a newline) is not a torn write: the journal is damaged or was tampered with. Nothing was changed. ' +
      `Keep a copy as evidence and run \`vfun audit verify\`; then restore the journal from a copy you trust, or cut it at byte ${d.start} ` +
      `(\`truncate -s ${d.start}\`, which drops line ${line} and everything after it) and start again ` +
      '(docs/operator-guide.md, "A journal refused as damaged")',
  );
}

/** The head's envelope: the last line before `stop` that is good on its own. Damage before it is for read() to report. */
async function findLast(fh: FileHandle, keep: number): Promise<Envelope | null> {
  for (let stop = keep; stop > 0; ) {
    const line = await lineBefore(fh, stop - 1);
    const checked = checkLine(line.bytes.toString('utf8'));
    if (checked.ok) return checked.env;
    stop = line.start;
  }
  return null;
}

/** fsync a directory, where the platform allows it (Linux does; some systems refuse). */
export async function syncDirectory(dir: string): Promise<void> {
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
