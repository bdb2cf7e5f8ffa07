/**
 * Closing the active file as a segment (segments.ts): the writer renames it
 * to `<name>.<first>-<last>`, makes the rename durable (fsync of the
 * directory), then creates a new, empty active file (0600) and makes that
 * durable too. A crash between the two steps leaves the segments and no
 * active file: the next open creates it and goes on from the last segment's
 * last event (nothing is lost). If the new file cannot be created, the rename
 * is undone, so the writer never appends to a file that is no longer the
 * journal.
 */
import { open, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { VirtFunError } from '../../../errors.js';
import { syncDirectory } from './open.js';
import { segmentPath, type Segment } from './segments.js';

/** The new active file, and the segment the old one became. */
export interface Rotated {
  readonly fh: FileHandle;
  readonly ino: number;
  readonly segment: Segment;
}

/**
 * Renames the active file `path` (seqs `first`..`last`, all durable) to its
 * segment name and opens a new active file in its place. Throws when it could
 * not: then the active file is still at `path` (the rename undone), unless
 * undoing it failed too (VirtFunError JOURNAL_CORRUPT: the writer must stop).
 */
export async function closeSegment(path: string, first: number, last: number): Promise<Rotated> {
  const segment: Segment = { path: segmentPath(path, first, last), first, last };
  await rename(path, segment.path);
  try {
    await syncDirectory(dirname(path));
    const fh = await open(path, 'a+', 0o600);
    try {
      const { ino } = await fh.stat();
      await syncDirectory(dirname(path));
      return { fh, ino, segment };
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  } catch (err) {
    try {
      await rename(segment.path, path);
    } catch (undo) {
      throw new VirtFunError('JOURNAL_CORRUPT', `closing the segment ${segment.path} failed half-way and could not be undone: the journal's active file is missing`, {
        cause: undo,
      });
    }
    throw err;
  }
}
