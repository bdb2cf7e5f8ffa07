/**
 * The file journal's segments (docs/events.md, "Segments"). The active file
 * keeps the journal's path; when it has grown to `segmentBytes` and its last
 * line is a checkpoint (`journal.checkpoint`), the writer closes it: renames
 * it, beside itself, to `<name>.<first seq>-<last seq>` (12 digits each,
 * zero-padded) and starts a new, empty active file. So every closed segment
 * ends with a checkpoint, and a closed segment can be archived (moved
 * elsewhere) as a whole.
 *
 * This module names and lists segments, and plans reads across them: which
 * files, from where, and what is missing (archived segments). The plan is
 * pure; listSegments reads the directory.
 */
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { JournalCorruptError } from '../../../errors.js';

/** Default size of the active file past which it is closed at its next checkpoint: 64 MiB. */
export const DEFAULT_SEGMENT_BYTES = 64 << 20;

/** The event type after which a segment may close (compared as a string: the catalogue owns the type). */
export const CHECKPOINT_TYPE: string = 'journal.checkpoint';

/** Digits of each seq in a segment's name (zero-padded: names sort in seq order). */
const SEQ_DIGITS = 12;

/** A closed segment: its file and the seqs of its first and last lines, as its name says. */
export interface Segment {
  readonly path: string;
  readonly first: number;
  readonly last: number;
}

/** A range of seqs, both ends included. */
export interface SeqRange {
  readonly from: number;
  readonly to: number;
}

/** The path a closed segment of the journal `active` holding seqs `first`..`last` gets. */
export function segmentPath(active: string, first: number, last: number): string {
  return `${active}.${String(first).padStart(SEQ_DIGITS, '0')}-${String(last).padStart(SEQ_DIGITS, '0')}`;
}

/** The seqs a file named `name` holds when it is a closed segment of the journal named `journalName`; null otherwise. */
export function parseSegmentName(journalName: string, name: string): { readonly first: number; readonly last: number } | null {
  if (!name.startsWith(`${journalName}.`)) return null;
  const m = /^(\d+)-(\d+)$/.exec(name.slice(journalName.length + 1));
  if (m === null) return null;
  const first = Number(m[1]);
  const last = Number(m[2]);
  return Number.isSafeInteger(first) && Number.isSafeInteger(last) && first >= 1 && last >= first ? { first, last } : null;
}

/**
 * The closed segments beside the journal `active`, in seq order. Two that
 * overlap are a JournalCorruptError (a copy put back beside another?).
 */
export async function listSegments(active: string): Promise<Segment[]> {
  const dir = dirname(active);
  const name = basename(active);
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const segments: Segment[] = [];
  for (const entry of entries) {
    const seqs = parseSegmentName(name, entry);
    if (seqs !== null) segments.push({ path: join(dir, entry), ...seqs });
  }
  segments.sort((a, b) => a.first - b.first);
  for (let i = 1; i < segments.length; i++) {
    const [a, b] = [segments[i - 1] as Segment, segments[i] as Segment];
    if (b.first <= a.last) throw new JournalCorruptError(b.path, `segment ${basename(b.path)} overlaps ${basename(a.path)}`);
  }
  return segments;
}

/**
 * The seqs not here: before the first present segment, between segments,
 * and between the last segment and the active file (whose first line has
 * seq `activeFirst`; null when it is empty). Pure.
 */
export function missingRanges(segments: readonly Segment[], activeFirst: number | null): SeqRange[] {
  const out: SeqRange[] = [];
  let next = 1; // the next seq expected
  for (const s of segments) {
    if (s.first > next) out.push({ from: next, to: s.first - 1 });
    next = s.last + 1;
  }
  if (activeFirst !== null && activeFirst > next) out.push({ from: next, to: activeFirst - 1 });
  return out;
}

/** Where a read of the closed segments starts. */
export type SegmentReadPlan =
  | {
      readonly ok: true;
      /** The segments to read, in order (those holding `fromSeq` or later). */
      readonly segments: readonly Segment[];
      /** The segment just before the first file read, whose last line that file's first line must chain on; null: none here (the read trusts its first line's prevHash, or it begins the journal). */
      readonly before: Segment | null;
    }
  /** Seqs at or after `fromSeq` are not here: the read cannot give them. */
  | { readonly ok: false; readonly missing: SeqRange; readonly firstPresent: number | null };

/** Plans a read from `fromSeq` over the closed `segments` and the active file (first seq `activeFirst`). Pure. */
export function planRead(segments: readonly Segment[], activeFirst: number | null, fromSeq: number): SegmentReadPlan {
  const missing = missingRanges(segments, activeFirst).find((r) => r.to >= fromSeq);
  if (missing !== undefined) {
    const firstPresent = [...segments.map((s) => s.first), ...(activeFirst === null ? [] : [activeFirst])].find((f) => f > missing.to) ?? null;
    return { ok: false, missing, firstPresent };
  }
  const i = segments.findIndex((s) => s.last >= fromSeq);
  const read = i === -1 ? [] : segments.slice(i);
  const k = i === -1 ? segments.length : i; // index of the first segment read (or past the end)
  // The segment before the first file read, when it is its direct predecessor (not one before an archived gap).
  const previous = k === 0 ? null : (segments[k - 1] as Segment);
  const nextFirst = read[0]?.first ?? activeFirst;
  return { ok: true, segments: read, before: previous !== null && previous.last + 1 === nextFirst ? previous : null };
}

/** The error for a read that needs seqs that are not here (archived segments). */
export function missingError(active: string, plan: Extract<SegmentReadPlan, { ok: false }>, fromSeq: number): JournalCorruptError {
  const { from, to } = plan.missing;
  const what = from === to ? `seq ${from} is` : `seqs ${from}..${to} are`;
  const way = plan.firstPresent === null ? '' : `; read from seq ${plan.firstPresent} on to read what is here`;
  return new JournalCorruptError(
    active,
    `${what} not here, needed to read from seq ${fromSeq}: the closed segment(s) that held them were archived or removed ` +
      `(e.g. ${basename(segmentPath(active, from, to))})${way}`,
  );
}

/** Whether the writer closes the active file now: it has grown to `segmentBytes` and its last line is a checkpoint. */
export function shouldRotate(size: number, segmentBytes: number, lastLineIsCheckpoint: boolean): boolean {
  return lastLineIsCheckpoint && size >= segmentBytes;
}
