/**
 * The file journal read from its last envelope of a type (docs/events.md,
 * "State snapshots"): the file is searched backwards from its end for the
 * last line of that type, then read forward from there, so start-up from the
 * latest `state.snapshot` never reads the history before it.
 *
 * Works on the file format (lines.ts), from outside the adapter: it opens the
 * file read-only and never writes. What it yields is checked as the reader
 * checks it: the first line's hash, then every next line's seq, prevHash and
 * hash. What precedes the first line is not read, so not checked: that is
 * `vfun audit verify`'s work.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { JournalCorruptError } from '../../errors.js';
import type { VFunEventType } from '../catalogue.js';
import { chainFault } from '../chain.js';
import type { Envelope } from '../envelope.js';
import type { JournalHead } from '../journal.js';
import { decodeLine, scanLines } from './file/lines.js';
import { nativeSha256Hex as sha256Hex } from './native-hash.js';

const NEWLINE = 0x0a;
/** Bytes read at a time, backwards. */
const BACK_CHUNK = 1 << 20;

/** A line of the file holding an envelope. */
export interface FoundLine {
  /** File offset of its first byte. */
  readonly offset: number;
  readonly env: Envelope;
}

/** The end of the last complete line before `size` (a torn last record is not read). */
async function completeEnd(fh: FileHandle, size: number): Promise<number> {
  let pos = size;
  const b = Buffer.allocUnsafe(BACK_CHUNK);
  while (pos > 0) {
    const len = Math.min(BACK_CHUNK, pos);
    const { bytesRead } = await fh.read(b, 0, len, pos - len);
    const nl = b.subarray(0, bytesRead).lastIndexOf(NEWLINE);
    if (nl !== -1) return pos - len + nl + 1;
    pos -= len;
  }
  return 0;
}

/**
 * The last complete line of `[0, end)` that holds an envelope of `type`, read
 * backwards a chunk at a time; null when there is none. `end` must follow a
 * newline. Lines are matched on their canonical encoding (`"type":"…","v":`,
 * keys being sorted) and confirmed by decoding; the hash is not checked here.
 */
export async function lastLineOfType(fh: FileHandle, end: number, type: VFunEventType): Promise<FoundLine | null> {
  const pattern = Buffer.from(`"type":${JSON.stringify(type)},"v":`);
  let pos = end;
  /** Bytes from `pos` on that start inside a line not yet seen whole (they end with a newline). */
  let carry = Buffer.alloc(0);
  while (pos > 0) {
    const len = Math.min(BACK_CHUNK, pos);
    const chunk = Buffer.allocUnsafe(len);
    const { bytesRead } = await fh.read(chunk, 0, len, pos - len);
    if (bytesRead !== len) throw new JournalCorruptError(`offset ${pos - len}`, 'short read: the file changed while it was being read');
    const buf = carry.length === 0 ? chunk : Buffer.concat([chunk, carry]);
    const bufStart = pos - len;
    // Whole lines in buf start after its first newline (or at the start of the file).
    const firstNl = buf.indexOf(NEWLINE);
    const wholeFrom = bufStart === 0 ? 0 : firstNl + 1;
    if (bufStart !== 0 && firstNl === -1) {
      carry = buf;
      pos = bufStart;
      continue;
    }
    let before = buf.length;
    for (let hit = buf.lastIndexOf(pattern, before - 1); hit >= wholeFrom; hit = buf.lastIndexOf(pattern, before - 1)) {
      const lineStart = buf.lastIndexOf(NEWLINE, hit) + 1;
      const lineEnd = buf.indexOf(NEWLINE, hit);
      const d = decodeLine(buf.toString('utf8', lineStart, lineEnd));
      if (d.ok && d.env.type === type) return { offset: bufStart + lineStart, env: d.env };
      if (lineStart === 0) break;
      before = lineStart;
    }
    carry = buf.subarray(0, wholeFrom);
    pos = bufStart;
  }
  return null;
}

/**
 * The envelopes of the journal file at `path` from its last one of `type`
 * (included) to its last complete line; null when it holds none. Each line
 * is checked as it is read: JournalCorruptError names the offset and seq of
 * the first bad one.
 */
export async function fileReadFromLast(path: string, type: VFunEventType): Promise<AsyncIterable<Envelope> | null> {
  const fh = await open(path, 'r');
  let found: FoundLine | null;
  let end: number;
  try {
    end = await completeEnd(fh, (await fh.stat()).size);
    found = await lastLineOfType(fh, end, type);
  } finally {
    await fh.close();
  }
  if (found === null) return null;
  return readChecked(path, found, end);
}

async function* readChecked(path: string, from: FoundLine, end: number): AsyncGenerator<Envelope> {
  const fh = await open(path, 'r');
  try {
    // The first line's own seq and prevHash stand for what precedes it: its hash is checked.
    let prev: JournalHead = { seq: from.env.seq - 1, hash: from.env.prevHash };
    for await (const lines of scanLines(fh, from.offset, end)) {
      for (const raw of lines) {
        const d = decodeLine(raw.text);
        const reason = !raw.terminated ? 'has no trailing newline' : d.ok ? chainFault(d.env, prev, { hash: sha256Hex, encoding: d.encoding, schema: false, shapeChecked: true }) : d.reason;
        if (reason !== null || !d.ok) {
          throw new JournalCorruptError(`${path}@${raw.offset}`, `the line at byte ${raw.offset} is damaged after seq ${prev.seq}: ${reason ?? 'unreadable'}`);
        }
        prev = { seq: d.env.seq, hash: d.env.hash };
        yield d.env;
      }
    }
  } finally {
    await fh.close();
  }
}
