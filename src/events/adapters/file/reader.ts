/**
 * Reading the journal, verified (docs/events.md, "File journal"): the
 * journal's `read()`, across its closed segments and the active file
 * (segments.ts), and `verifyFile`, which checks a journal as it is on disk
 * without opening it as a journal. Every line is checked: terminated, an
 * envelope in canonical form, its hash, seq and prevHash continuity, from
 * one file to the next too.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { JournalCorruptError } from '../../../errors.js';
import { chainFault, faultOf, type ChainReport } from '../../chain.js';
import type { Envelope } from '../../envelope.js';
import { initialHostCheck, stepHostCheck, type HostPolicy } from '../../host-check.js';
import type { JournalHead } from '../../journal.js';
import { nativeSha256Hex as sha256Hex } from '../native-hash.js';
import { checkLine, decodeLine, firstLine, lineBefore, scanLines } from './lines.js';
import type { Position, ReadIndex } from './read-index.js';
import { listSegments, missingError, missingRanges, planRead, type Segment } from './segments.js';
import type { VFunEventType } from '../../catalogue.js';
import { lastLineOfType, type FoundLine } from './last-line.js';

function afterSeq(prev: JournalHead | null): string {
  return prev === null ? 'before the first event' : `after seq ${prev.seq}`;
}

/** What a read needs of the journal, taken when read() is called. */
export interface ReadSnapshot {
  /** The active file's path. */
  readonly active: string;
  /** Its closed segments then, in seq order. */
  readonly segments: readonly Segment[];
  /** Seq of the active file's first line; null when it was empty. */
  readonly activeFirst: number | null;
  /** Inode of the active file then (a later rotation renames it: the read follows it); null when it did not exist. */
  readonly activeIno: number | null;
  /** Durable bytes of the active file then: the read stops there. */
  readonly size: number;
  /** The active file's good prefix and read checkpoints. */
  readonly index: ReadIndex;
}

/**
 * Where a file's read starts: a position, or a line to trust: the line at
 * byte `trustAt` (the file's first line: 0) is taken to follow what is before
 * it (its prevHash as given), because what is before it was archived or is
 * skipped. Lines are numbered only from the start of a file: past it, errors
 * name the byte offset.
 */
type Start = Position | { readonly trustAt: number };

/**
 * Envelopes of one file from `fromSeq`, up to byte `end`, streamed; returns
 * the last event read. `segment`: the seqs its name says it holds (checked).
 * At the first bad line, JournalCorruptError names the file, the line and the
 * seq it follows.
 */
async function* readOne(
  fh: FileHandle,
  where: string,
  end: number,
  fromSeq: number,
  start: Start,
  index: ReadIndex | null,
  segment: Segment | null,
): AsyncGenerator<Envelope, JournalHead | null> {
  let trust = 'trustAt' in start;
  let prev = 'trustAt' in start ? null : start.prev;
  let lineNo = 'trustAt' in start ? 0 : start.line;
  const numbered = !('trustAt' in start) || start.trustAt === 0;
  for await (const lines of scanLines(fh, 'trustAt' in start ? start.trustAt : start.offset, end)) {
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
          if (trust) prev = env.seq === 1 ? null : { seq: env.seq - 1, hash: env.prevHash };
          reason = chainFault(d.env, prev, { hash: sha256Hex, encoding: d.encoding, schema: false, shapeChecked: true });
          if (reason === null && segment !== null && numbered && lineNo === 1 && env.seq !== segment.first) reason = `is seq ${env.seq}, where the segment's name says ${segment.first}`;
        } else {
          reason = d.reason;
        }
      }
      trust = false;
      if (reason !== null || env === null) {
        if (!numbered) throw new JournalCorruptError(`${where}@${raw.offset}`, `the line at byte ${raw.offset} is damaged ${afterSeq(prev)}: ${reason ?? 'unreadable'}`);
        throw new JournalCorruptError(`${where}:${lineNo}`, `line ${lineNo} is damaged ${afterSeq(prev)}: ${reason ?? 'unreadable'}`);
      }
      prev = { seq: env.seq, hash: env.hash };
      if (numbered) index?.checked(raw.offset, raw.bytes, lineNo, prev);
      if (env.seq >= fromSeq) yield env;
    }
  }
  if (segment !== null && prev?.seq !== segment.last) {
    throw new JournalCorruptError(where, `segment ${basename(where)} ends at ${prev === null ? 'no event' : `seq ${prev.seq}`}, where its name says ${segment.last}`);
  }
  return prev;
}

/** The last event of a closed segment (its last line, which must be good on its own). */
export async function lastOfSegment(segment: Segment): Promise<Envelope> {
  const fh = await open(segment.path, 'r');
  try {
    const { size } = await fh.stat();
    const line = size === 0 ? null : await lineBefore(fh, size - 1);
    const checked = line === null ? null : checkLine(line.bytes.toString('utf8'));
    if (checked === null || !checked.ok) {
      throw new JournalCorruptError(segment.path, `the last line of segment ${basename(segment.path)} ${checked === null ? 'is missing (empty file)' : checked.reason}`);
    }
    return checked.env;
  } finally {
    await fh.close();
  }
}

/** The first envelope of a file's first `end` bytes, when its first line is a good envelope on its own. */
export async function firstOf(fh: FileHandle, end: number): Promise<Envelope | null> {
  const line = await firstLine(fh, end);
  if (line === null) return null;
  const checked = checkLine(line.toString('utf8'));
  return checked.ok ? checked.env : null;
}

/** Opens the active file the snapshot saw: at its path, or, after a rotation renamed it, as the segment it became. */
async function openActive(s: ReadSnapshot): Promise<FileHandle> {
  const fh = await open(s.active, 'r');
  if ((await fh.stat()).ino === s.activeIno) return fh;
  await fh.close();
  const moved = (await listSegments(s.active)).find((seg) => seg.first === s.activeFirst);
  if (moved !== undefined) {
    const again = await open(moved.path, 'r');
    if ((await again.stat()).ino === s.activeIno) return again;
    await again.close();
  }
  throw new JournalCorruptError(s.active, 'the journal file was replaced while it was being read');
}

/**
 * Durable envelopes from `fromSeq`, streamed, across the closed segments
 * and the active file of the snapshot. Segments wholly before `fromSeq` are
 * not read (the first one read must chain on the last line of the one before
 * it, when that one is here). Seqs at or after `fromSeq` that are not here
 * (archived segments) are a JournalCorruptError naming them and where reading
 * can start.
 */
export async function* readVerified(s: ReadSnapshot, fromSeq: number): AsyncGenerator<Envelope> {
  const plan = planRead(s.segments, s.activeFirst, fromSeq);
  if (!plan.ok) throw missingError(s.active, plan, fromSeq);
  let prev: JournalHead | null = null;
  let started = plan.before !== null;
  if (plan.before !== null) {
    const last = await lastOfSegment(plan.before);
    prev = { seq: last.seq, hash: last.hash };
  }
  for (const seg of plan.segments) {
    const fh = await open(seg.path, 'r');
    try {
      const start: Start = started || seg.first === 1 ? { offset: 0, line: 0, prev } : { trustAt: 0 };
      prev = yield* readOne(fh, seg.path, (await fh.stat()).size, fromSeq, start, null, seg);
      started = true;
    } finally {
      await fh.close();
    }
  }
  if (s.size === 0) return;
  const fh = await openActive(s);
  try {
    // The active file's index starts on the event before its first line (the last segment's, or its first line's prevHash when none is here).
    yield* readOne(fh, s.active, s.size, fromSeq, s.index.startFor(fromSeq), s.index, null);
  } finally {
    await fh.close();
  }
}

/**
 * The envelopes from the last one of `type` (included) to the end of the
 * snapshot, across segments: the active file then the closed segments, newest
 * first, are searched backwards for it (last-line.ts), then read forward from
 * there, checked as read() checks (its prevHash is taken as given: what comes
 * before it is not read). Null when no file here holds one.
 */
export async function readFromLastOfType(s: ReadSnapshot, type: VFunEventType): Promise<AsyncIterable<Envelope> | null> {
  const files: { readonly segment: Segment | null; readonly index: number }[] = [
    ...(s.size === 0 ? [] : [{ segment: null, index: s.segments.length }]),
    ...s.segments.map((segment, index) => ({ segment, index })).reverse(),
  ];
  for (const file of files) {
    const fh = file.segment === null ? await openActive(s) : await open(file.segment.path, 'r');
    let found: FoundLine | null;
    try {
      found = await lastLineOfType(fh, file.segment === null ? s.size : (await fh.stat()).size, type);
    } finally {
      await fh.close();
    }
    if (found !== null) return readFrom(s, file.index, found.offset);
  }
  return null;
}

/** Reads from byte `offset` of file `k` (the snapshot's segments, then the active file at k = segments.length) to the end of the snapshot. */
async function* readFrom(s: ReadSnapshot, k: number, offset: number): AsyncGenerator<Envelope> {
  let prev: JournalHead | null = null;
  let start: Start = { trustAt: offset };
  for (const seg of s.segments.slice(k)) {
    const fh = await open(seg.path, 'r');
    try {
      prev = yield* readOne(fh, seg.path, (await fh.stat()).size, 1, start, null, seg);
    } finally {
      await fh.close();
    }
    start = { offset: 0, line: 0, prev };
  }
  if (s.size === 0) return;
  const fh = await openActive(s);
  try {
    yield* readOne(fh, s.active, s.size, 1, start, 'trustAt' in start && start.trustAt !== 0 ? null : s.index, null);
  } finally {
    await fh.close();
  }
}

/** Options of verifyFile. */
export interface VerifyFileOptions {
  /** Every envelope must be this host's (host-check.ts). */
  readonly hosts?: HostPolicy | null;
  /**
   * Start at the first segment here when older ones were archived, taking
   * its first line's prevHash as given (the count is then of what is here).
   * Default false: seqs that are not here are the first fault.
   */
  readonly fromFirstPresent?: boolean;
}

/**
 * Verifies a journal as it is on disk, its closed segments then its active
 * file, without opening it as a journal (nothing is cut or written). Checks
 * every line: terminated, valid JSON, an envelope in canonical form, then the
 * chain rules of `verifyChain` (seq, prevHash, hash, known type and version),
 * across files too. The first bad line is reported with its line number in
 * its file (a segment's file is named in the reason); `seq` is the bad
 * envelope's own seq when it has one, else the seq expected there. With
 * `hosts`, an envelope of another host is the first bad one too. Seqs not
 * here (archived segments) are reported as the first fault, unless
 * `fromFirstPresent`.
 */
export async function verifyFile(path: string, options: VerifyFileOptions = {}): Promise<ChainReport> {
  const hosts = options.hosts ?? null;
  const segments = await listSegments(path);
  const active = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    // A crash between closing a segment and creating the next active file leaves none: nothing after the segments.
    if (err.code === 'ENOENT' && segments.length > 0) return null;
    throw err;
  });
  try {
    const activeSize = active === null ? 0 : (await active.stat()).size;
    const activeFirst = active === null ? null : ((await firstOf(active, activeSize))?.seq ?? null);
    const missing = missingRanges(segments, activeFirst);
    let count = 0;
    let prev: JournalHead | null = null;
    let trust = false;
    const first = missing[0];
    if (first !== undefined) {
      const later = missing.length > 1 || first.from !== 1;
      if (!options.fromFirstPresent || later) {
        const what = first.from === first.to ? `seq ${first.from} is` : `seqs ${first.from}..${first.to} are`;
        return { ok: false, count, firstBad: faultOf(null, first.from, `${what} not here: their segments were archived or removed`) };
      }
      trust = true;
    }
    let hostState = initialHostCheck;
    const files: { readonly fh: FileHandle | null; readonly path: string; readonly segment: Segment | null }[] = [
      ...segments.map((s) => ({ fh: null, path: s.path, segment: s })),
      ...(active === null ? [] : [{ fh: active, path, segment: null }]),
    ];
    for (const file of files) {
      const fh = file.fh ?? (await open(file.path, 'r'));
      const inFile = file.segment === null ? '' : ` (in ${basename(file.path)})`;
      try {
        const { size } = await fh.stat();
        let lineNo = 0;
        for await (const lines of scanLines(fh, 0, size)) {
          for (const raw of lines) {
            lineNo++;
            if (!raw.terminated) {
              const what = file.segment === null ? 'a torn last record (opening the journal cuts it)' : 'a closed segment never ends so';
              return { ok: false, count, firstBad: faultOf(null, (prev?.seq ?? 0) + 1, `has no trailing newline: ${what}${inFile}`, lineNo) };
            }
            const d = decodeLine(raw.text);
            if (!d.ok) return { ok: false, count, firstBad: faultOf(d.value, (prev?.seq ?? 0) + 1, `${d.reason}${inFile}`, lineNo) };
            if (trust) prev = d.env.seq === 1 ? null : { seq: d.env.seq - 1, hash: d.env.prevHash };
            trust = false;
            let reason = chainFault(d.env, prev, { hash: sha256Hex, encoding: d.encoding, shapeChecked: true });
            if (reason === null && file.segment !== null && lineNo === 1 && d.env.seq !== file.segment.first) reason = `is seq ${d.env.seq}, where the segment's name says ${file.segment.first}`;
            if (reason === null && hosts !== null) {
              const step = stepHostCheck(hostState, d.env, hosts);
              reason = step.error?.message ?? null;
              hostState = step.state;
            }
            if (reason !== null) return { ok: false, count, firstBad: faultOf(d.env, (prev?.seq ?? 0) + 1, `${reason}${inFile}`, lineNo) };
            prev = { seq: d.env.seq, hash: d.env.hash };
            count++;
          }
        }
        if (file.segment !== null && prev?.seq !== file.segment.last) {
          return { ok: false, count, firstBad: faultOf(null, (prev?.seq ?? 0) + 1, `segment ${basename(file.path)} ends at seq ${prev?.seq ?? 0}, where its name says ${file.segment.last}`) };
        }
      } finally {
        if (file.fh === null) await fh.close();
      }
    }
    return { ok: true, count, head: prev };
  } finally {
    await active?.close();
  }
}
