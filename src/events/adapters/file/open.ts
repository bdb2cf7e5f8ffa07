/**
 * Opening the journal file (docs/events.md, "File journal"): the writer lock
 * first (writer-lock.ts; read-only opens take none), then the file and its
 * directory (mode 0700, created when missing), a probe a crash left behind
 * removed, the torn-tail repair and the head.
 *
 * The repair cuts one thing only: a torn last record (no trailing newline, or
 * a last line that is not a valid, self-consistent envelope). Damage anywhere
 * else is left in place for the reader to report. A read-only open cuts
 * nothing: it stops before the torn record instead.
 */
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { VirtFunError } from '../../../errors.js';
import type { JournalHead } from '../../journal.js';
import { acquireWriterLock, type LockMechanism, type WriterLock } from '../writer-lock.js';
import { checkLine, lineBefore } from './lines.js';
import type { FileJournalOpenReport } from './options.js';
import { probePath } from './probe.js';

/** The journal file, opened and repaired. */
export interface OpenedFile {
  /** Opened for appending ('a+'), or for reading when read-only. */
  readonly fh: FileHandle;
  /** Held until the journal closes; null when read-only. */
  readonly lock: WriterLock | null;
  /** Bytes of the file the journal owns (a torn last record excluded). */
  readonly size: number;
  /** The last line before `size` that is a valid envelope on its own. */
  readonly head: JournalHead | null;
  /** What was cut, when something was. */
  readonly report: FileJournalOpenReport | null;
}

/** Where the good part of a file of `size` bytes ends: before a torn last record, when there is one (reason). */
interface TailCheck {
  readonly keep: number;
  readonly reason: string | null;
}

/** Opens the journal file at the absolute path `abs`, writer lock first, and repairs its tail (see the file's header). */
export async function openJournalFile(abs: string, options: { readonly readOnly: boolean; readonly lock: LockMechanism | undefined }): Promise<OpenedFile> {
  const { readOnly } = options;
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
    const { keep, reason } = await checkTail(fh, size);
    let report: FileJournalOpenReport | null = null;
    if (reason !== null && !readOnly) {
      await fh.truncate(keep);
      await fh.datasync();
      report = { truncatedBytes: size - keep, offset: keep, reason };
    }
    return { fh, lock, size: keep, head: await findHead(fh, keep), report };
  } catch (err) {
    await fh.close().catch(() => undefined);
    await lock?.release().catch(() => undefined);
    throw err;
  }
}

/** Whether the last record of the file's first `size` bytes is torn: unterminated, or not a valid envelope on its own. */
async function checkTail(fh: FileHandle, size: number): Promise<TailCheck> {
  if (size === 0) return { keep: size, reason: null };
  const tail = await lineBefore(fh, size);
  if (tail.start < size) return { keep: tail.start, reason: 'the last record has no trailing newline (torn write)' };
  const last = await lineBefore(fh, size - 1);
  const checked = checkLine(last.bytes.toString('utf8'));
  if (!checked.ok) return { keep: last.start, reason: `the last record ${checked.reason} (torn write)` };
  return { keep: size, reason: null };
}

/** Head: the last line before `stop` that is good on its own. Damage before it is for read() to report. */
async function findHead(fh: FileHandle, keep: number): Promise<JournalHead | null> {
  for (let stop = keep; stop > 0; ) {
    const line = await lineBefore(fh, stop - 1);
    const checked = checkLine(line.bytes.toString('utf8'));
    if (checked.ok) return { seq: checked.env.seq, hash: checked.env.hash };
    stop = line.start;
  }
  return null;
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
