/**
 * One writer per journal file (docs/events.md, "One writer").
 *
 * The lock is a file beside the journal, `<journal>.lock`, holding the
 * writer's pid and how it holds the lock (`4242 flock\n`), so that a refused
 * opener can name the holder. Readers (audit, verify, replay) take no lock.
 *
 * - `flock` (the native addon is built): the lock file is opened (created when
 *   missing, never removed) and locked with flock(LOCK_EX | LOCK_NB). The
 *   kernel drops the lock when its holder exits, however it exits: a lock
 *   cannot outlive its writer, and a pid left in the file means nothing.
 * - `file` (no addon): the lock file is created with O_EXCL. A lock file whose
 *   pid is not a live process is stale and taken over. Weaker: a stale pid
 *   that the system has given to another live process keeps the journal
 *   refused until the lock file is removed by hand.
 *
 * The two understand each other: a `file` opener refuses a lock file whose pid
 * is alive, whatever wrote it; a `flock` opener that gets the lock still
 * refuses a lock file written by a live `file` holder.
 */
import { readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { JournalLockedError, VirtFunError } from '../../errors.js';
import { loadShm, type ShmAddon } from '../../native/shm.js';
import { processAlive } from '../../util/process.js';
import { flockFile } from '../../util/flock-file.js';

export type LockMechanism = 'flock' | 'file';

export interface WriterLock {
  /** The lock file. */
  readonly path: string;
  readonly mechanism: LockMechanism;
  /** Gives the lock up (idempotent). */
  release(): Promise<void>;
}

export interface WriterLockOptions {
  /** Default: `flock` when the native addon has it, else `file`. */
  readonly mechanism?: LockMechanism;
  /** What the lock protects, for messages (default: the lock path without `.lock`). */
  readonly what?: string;
}

type Flock = ShmAddon['flock'];

/** The addon's flock, when the addon is built (and has it: a stale build may not). */
function addonFlock(): Flock | null {
  const shm = loadShm();
  return typeof shm?.flock === 'function' ? shm.flock.bind(shm) : null;
}

/** Lock files this process holds with the `file` mechanism (its own pid in a lock file is then not stale). */
const heldHere = new Set<string>();

/** The lock beside `target`: `<target>.lock`. */
export function lockPathOf(target: string): string {
  return `${target}.lock`;
}

interface Holder {
  readonly pid: number | null;
  readonly mechanism: LockMechanism | null;
}

function parseHolder(text: string): Holder {
  const m = /^(\d+)(?: (flock|file))?\s*$/.exec(text);
  if (m === null) return { pid: null, mechanism: null };
  return { pid: Number(m[1]), mechanism: (m[2] as LockMechanism | undefined) ?? null };
}

function refused(what: string, lockPath: string, holder: Holder): JournalLockedError {
  const who =
    holder.pid === null
      ? 'another process (its pid is not written yet)'
      : holder.pid === process.pid
        ? `this process (pid ${holder.pid})`
        : `pid ${holder.pid}`;
  return new JournalLockedError(`${what} is already open for writing by ${who} (lock ${lockPath}); one writer per journal`, holder.pid, lockPath);
}

/**
 * Takes the writer lock of `target` (a journal file), or throws
 * JournalLockedError naming the holder's pid. Never waits.
 */
export async function acquireWriterLock(target: string, options: WriterLockOptions = {}): Promise<WriterLock> {
  const path = lockPathOf(target);
  const what = options.what ?? target;
  const flock = addonFlock();
  const mechanism = options.mechanism ?? (flock !== null ? 'flock' : 'file');
  if (mechanism === 'flock') {
    if (flock === null) throw new VirtFunError('JOURNAL_LOCKED', `cannot lock ${what} with flock: the native addon is not built or has no flock`);
    return flockLock(path, what, flock);
  }
  return fileLock(path, what);
}

async function flockLock(path: string, what: string, flock: Flock): Promise<WriterLock> {
  // A `file` opener may remove a stale lock file between our open and our flock: flockFile then
  // takes the lock again on the file the path names now.
  const got = await flockFile(path, flock);
  if (got === null) throw new VirtFunError('JOURNAL_LOCKED', `could not take ${path}: it keeps being replaced`);
  if ('heldBy' in got) throw refused(what, path, parseHolder(got.heldBy));
  const { fh } = got;
  try {
    const holder = parseHolder(await fh.readFile('utf8'));
    if (holder.mechanism === 'file' && holder.pid !== null && processAlive(holder.pid) && !(holder.pid === process.pid && !heldHere.has(path))) {
      throw refused(what, path, holder);
    }
    // The pid only names the holder for refused openers: the flock is the lock. A full disk may refuse it.
    await fh.truncate(0).then(() => fh.write(`${process.pid} flock\n`, 0)).catch(() => undefined);
    return flockHeld(path, fh);
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}

function flockHeld(path: string, fh: FileHandle): WriterLock {
  let released: Promise<void> | null = null;
  return {
    path,
    mechanism: 'flock',
    release: () =>
      (released ??= (async () => {
        // Emptied, not removed (removing it would race with the next opener); closing drops the flock.
        await fh.truncate(0).catch(() => undefined);
        await fh.close();
      })()),
  };
}

async function fileLock(path: string, what: string): Promise<WriterLock> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(path, `${process.pid} file\n`, { mode: 0o600, flag: 'wx' });
      heldHere.add(path);
      return fileHeld(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        await rm(path, { force: true }); // we created it (no EEXIST) but could not write our pid: a full disk
        throw err;
      }
      const text = await readFile(path, 'utf8').catch(() => null);
      if (text === null) continue; // removed meanwhile: try again
      const holder = parseHolder(text);
      const ours = holder.pid === process.pid;
      if (holder.pid !== null && processAlive(holder.pid) && (!ours || heldHere.has(path))) throw refused(what, path, holder);
      await rm(path, { force: true }); // stale: its writer is gone
    }
  }
  throw new VirtFunError('JOURNAL_LOCKED', `could not take ${path}: it keeps being recreated`);
}

function fileHeld(path: string): WriterLock {
  let released: Promise<void> | null = null;
  return {
    path,
    mechanism: 'file',
    release: () =>
      (released ??= (async () => {
        heldHere.delete(path);
        const holder = parseHolder((await readFile(path, 'utf8').catch(() => '')) ?? '');
        if (holder.pid === process.pid) await rm(path, { force: true });
      })()),
  };
}
