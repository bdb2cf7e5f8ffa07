/**
 * One vFunD per root: `<root>/admin/vfund.lock`, opened and locked with
 * flock(LOCK_EX | LOCK_NB) for as long as vFunD runs (the native addon's
 * flock, as the journal's writer lock does: src/events/adapters/writer-lock.ts).
 * The kernel drops the lock when its holder exits, however it exits, so a
 * root is never held by a process that is gone: a pid file left by a vFunD
 * that died, or naming a pid the system has since given to another process
 * (after a reboot), blocks nothing.
 *
 * The holder's pid is written in the lock file (for a refused opener's
 * message) and in `admin/vfund.pid` (for operators and scripts). Both files
 * are removed when the lock is given up; an opener that locked a file removed
 * meanwhile takes the lock again on the file there now (src/util/flock-file.ts).
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VirtFunError } from '../errors.js';
import { loadShm } from '../native/shm.js';
import { flockFile } from '../util/flock-file.js';

/** The lock file and the pid file, in `<root>/admin/`. */
export const ROOT_LOCK_FILE = 'vfund.lock';
export const ROOT_PID_FILE = 'vfund.pid';

/** The root held by this process: give it back with `release` (idempotent). */
export interface RootLock {
  readonly path: string;
  release(): Promise<void>;
}

/** A root held by another live process: its pid when the lock file names it. */
export class RootLockedError extends VirtFunError {
  override readonly name = 'RootLockedError';
  constructor(
    readonly root: string,
    readonly holder: number | null,
    readonly lockPath: string,
  ) {
    super('REGION', `${root} is in use by vFunD ${holder === null ? '(a process that has not written its pid yet)' : `pid ${holder}`} (it holds ${lockPath}); one vFunD per root`);
  }
}

/** The pid a lock file holds (`4242\n`), or null. */
export function pidOf(text: string): number | null {
  const m = /^(\d+)\s*$/.exec(text);
  return m === null ? null : Number(m[1]);
}

/** Take `<adminDir>/vfund.lock` (never waits): RootLockedError naming the holder's pid when another process holds it. */
export async function lockRoot(root: string, adminDir: string): Promise<RootLock> {
  const shm = loadShm();
  if (typeof shm?.flock !== 'function') throw new VirtFunError('REGION', `cannot lock ${root}: the native addon is not built (npm install builds it)`);
  const path = join(adminDir, ROOT_LOCK_FILE);
  const pidPath = join(adminDir, ROOT_PID_FILE);
  const got = await flockFile(path, shm.flock.bind(shm));
  if (got === null) throw new VirtFunError('REGION', `could not take ${path}: it keeps being replaced`);
  if ('heldBy' in got) throw new RootLockedError(root, pidOf(got.heldBy), path);
  const { fh } = got;
  try {
    await fh.truncate(0);
    await fh.write(`${process.pid}\n`, 0);
    await writeFile(pidPath, `${process.pid}\n`, { mode: 0o600 });
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
  let released: Promise<void> | null = null;
  return {
    path,
    release: () =>
      (released ??= (async () => {
        // The pid file first (while the lock is ours, no next vFunD has written its own), then the lock file.
        if (pidOf(await readFile(pidPath, 'utf8').catch(() => '')) === process.pid) await rm(pidPath, { force: true });
        await rm(path, { force: true });
        await fh.close();
      })()),
  };
}
