/**
 * An exclusive flock on a lock file, taken without waiting: what the
 * journal's writer lock (src/events/adapters/writer-lock.ts) and the root's
 * lock (src/dataplane/root-lock.ts) both do before writing their holder's pid.
 * The kernel drops the lock when its holder exits, however it exits.
 */
import { constants } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';

/** The native addon's flock (src/native/shm.ts), as far as this needs it. */
export type ExclusiveFlock = (fd: number, mode: 'exclusive', wait: boolean) => boolean;

/** Held (by the open handle: closing it gives the lock up), or held by another process (the file's text: its holder's pid as written). */
export type Flocked = { readonly fh: FileHandle } | { readonly heldBy: string };

/**
 * Open `path` (created 0600 when missing, never through a symlink) and take
 * flock(LOCK_EX | LOCK_NB) on it. A lock taken on a file the path no longer
 * names (removed or replaced as it was opened) is dropped and taken again on
 * the file there now; null when that keeps happening (5 times).
 */
export async function flockFile(path: string, flock: ExclusiveFlock): Promise<Flocked | null> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const fh = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    let kept = false;
    try {
      if (!flock(fh.fd, 'exclusive', false)) return { heldBy: await fh.readFile('utf8') };
      const [mine, named] = await Promise.all([fh.stat(), stat(path).catch(() => null)]);
      if (named !== null && named.ino === mine.ino && named.dev === mine.dev) {
        kept = true;
        return { fh };
      }
    } finally {
      if (!kept) await fh.close().catch(() => undefined);
    }
  }
  return null;
}
