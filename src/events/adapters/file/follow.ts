/**
 * Following a file journal as its writer appends to it (`vfun audit
 * --follow`): the events after a given one, then each new complete line of
 * the active file as it is written, checked as read() checks them (canonical
 * envelope, hash, seq and prevHash continuity). When the writer closes the
 * active file as a segment (rotate.ts renames it, then creates a new one),
 * the renamed file is read to its end and following goes on in the new active
 * file, through any segments closed meanwhile. Nothing is yielded twice.
 *
 * A journal truncated under the follower (its file shorter than what was
 * read), or replaced (a new file whose lines do not continue the chain, or
 * events missing between what was read and what is there) is a
 * JournalCorruptError saying so: following never skips or re-reads silently.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { JournalCorruptError } from '../../../errors.js';
import { chainFault } from '../../chain.js';
import type { Envelope } from '../../envelope.js';
import type { JournalHead } from '../../journal.js';
import { nativeSha256Hex as sha256Hex } from '../native-hash.js';
import { decodeLine, firstLine, scanLines } from './lines.js';
import { listSegments } from './segments.js';

/** When to look again: resolves true when there may be more to read (a change seen, a poll period passed), false to stop. */
export type FollowWait = () => Promise<boolean>;

/** The active file as it is being followed. */
interface Followed {
  readonly fh: FileHandle;
  readonly ino: number;
  /** Bytes read: the start of the first line not read yet. */
  offset: number;
}

/** What reading a range of a file left: the last event and where the next line starts. */
interface Progress {
  readonly prev: JournalHead | null;
  readonly offset: number;
  /** The line at `from` was met, or a line after it: positioning is over. */
  readonly placed: boolean;
}

const seqOf = (h: JournalHead | null): number => h?.seq ?? 0;

function replaced(where: string, detail: string): JournalCorruptError {
  return new JournalCorruptError(where, `the journal was replaced while it was followed: ${detail}`);
}

/**
 * The complete lines of `fh` in [start, end), each checked to follow `prev`;
 * returns where it stopped (before a line not yet terminated: its writer is
 * still writing it). `positioning`: lines up to `prev` are skipped (the one
 * at `prev.seq` must be `prev` itself), for the first file read.
 */
async function* readLines(fh: FileHandle, where: string, start: number, end: number, from: JournalHead | null, positioning: boolean): AsyncGenerator<Envelope, Progress> {
  let prev = from;
  let offset = start;
  let placed = !positioning;
  for await (const lines of scanLines(fh, start, end)) {
    for (const raw of lines) {
      if (!raw.terminated) return { prev, offset, placed };
      const d = decodeLine(raw.text);
      if (!d.ok) throw new JournalCorruptError(`${where}@${raw.offset}`, `the line at byte ${raw.offset} is damaged after seq ${seqOf(prev)}: ${d.reason}`);
      const env = d.env;
      if (positioning && prev !== null && env.seq <= prev.seq) {
        if (env.seq === prev.seq && env.hash !== prev.hash) throw replaced(where, `its seq ${env.seq} is not the event read before (hash ${env.hash.slice(0, 16)}…, was ${prev.hash.slice(0, 16)}…)`);
        if (env.seq === prev.seq) placed = true;
        offset = raw.offset + raw.bytes;
        continue;
      }
      if (prev !== null && env.seq <= prev.seq) throw replaced(`${where}@${raw.offset}`, `it holds seq ${env.seq} where seq ${prev.seq + 1} was expected`);
      const fault = chainFault(env, prev, { hash: sha256Hex, encoding: d.encoding, schema: false, shapeChecked: true });
      if (fault !== null) throw new JournalCorruptError(`${where}@${raw.offset}`, `the line at byte ${raw.offset} does not follow seq ${seqOf(prev)}: ${fault}`);
      prev = { seq: env.seq, hash: env.hash };
      offset = raw.offset + raw.bytes;
      placed = true;
      yield env;
    }
  }
  return { prev, offset, placed };
}

/** The inode at `path`, or null when there is no file there. */
async function inodeAt(path: string): Promise<number | null> {
  try {
    return (await stat(path)).ino;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** The seq of a file's first line when it is complete, else null. */
async function firstSeq(fh: FileHandle): Promise<number | null> {
  const { size } = await fh.stat();
  const line = await firstLine(fh, size);
  if (line === null) return null;
  const d = decodeLine(line.toString('utf8'));
  return d.ok ? d.env.seq : null;
}

/**
 * The events of the file journal whose active file is `path` after `after`
 * (null: from its first), as they are written, until `wait` says to stop.
 */
export async function* followFileJournal(path: string, after: JournalHead | null, wait: FollowWait): AsyncGenerator<Envelope> {
  let prev = after;
  let positioning = after !== null;
  let cur: Followed | null = null;
  /** Reads `cur` from its offset to its current end. */
  async function* drain(f: Followed): AsyncGenerator<Envelope, boolean> {
    const { size } = await f.fh.stat();
    if (size < f.offset) throw new JournalCorruptError(path, `the journal was truncated while it was followed: ${size} bytes, where ${f.offset} had been read`);
    if (size === f.offset) return false;
    const r = yield* readLines(f.fh, path, f.offset, size, prev, positioning);
    const moved = r.offset > f.offset;
    f.offset = r.offset;
    prev = r.prev;
    if (r.placed) positioning = false;
    return moved;
  }
  try {
    for (;;) {
      if (cur === null) {
        const ino = await inodeAt(path);
        // No active file: a writer between closing a segment and creating the next one. Look again.
        if (ino === null) {
          if (!(await wait())) return;
          continue;
        }
        const fh = await open(path, 'r');
        cur = { fh, ino: (await fh.stat()).ino, offset: 0 };
        // Segments closed since `prev` hold what comes before the active file's first line.
        const first = await firstSeq(fh);
        if (first !== null && first > seqOf(prev) + 1) {
          for (const seg of await listSegments(path)) {
            if (seg.last <= seqOf(prev) || seg.first >= first) continue;
            const sfh = await open(seg.path, 'r');
            try {
              const r = yield* readLines(sfh, seg.path, 0, (await sfh.stat()).size, prev, positioning);
              prev = r.prev;
              if (r.placed) positioning = false;
            } finally {
              await sfh.close();
            }
          }
          if (seqOf(prev) + 1 !== first) throw replaced(path, `seqs ${seqOf(prev) + 1} to ${first - 1} are not here (its active file begins at seq ${first})`);
        }
      }
      const moved = yield* drain(cur);
      // The event read last is in a closed segment, or the active file was cut before it (or replaced by a shorter one).
      if (positioning && after !== null && !(await listSegments(path)).some((seg) => seg.first <= after.seq && after.seq <= seg.last)) {
        throw new JournalCorruptError(path, `the journal was truncated while it was followed: seq ${after.seq}, read before, is no longer in it`);
      }
      const ino = await inodeAt(path);
      if (ino !== cur.ino) {
        // Rotated (or replaced): what the old file holds past what was read comes first, then the new file.
        yield* drain(cur);
        await cur.fh.close();
        cur = null;
        continue;
      }
      if (!moved && !(await wait())) return;
    }
  } finally {
    await cur?.fh.close();
  }
}
