/**
 * Finding the last line of a type in a journal file (docs/events.md, "State
 * snapshots"): the file is searched backwards from a line's end, a chunk at a
 * time, so that reading from the latest `state.snapshot` or
 * `journal.checkpoint` (FileJournal.readFromLast, reader.ts) never reads the
 * history before it. Never writes.
 */
import type { FileHandle } from 'node:fs/promises';
import { JournalCorruptError } from '../../../errors.js';
import type { VFunEventType } from '../../catalogue.js';
import type { Envelope } from '../../envelope.js';
import { decodeLine } from './lines.js';

const NEWLINE = 0x0a;
/** Bytes read at a time, backwards. */
const BACK_CHUNK = 1 << 20;

/** A line of the file holding an envelope. */
export interface FoundLine {
  /** File offset of its first byte. */
  readonly offset: number;
  readonly env: Envelope;
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
