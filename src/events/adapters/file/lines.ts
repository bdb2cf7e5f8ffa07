/**
 * The journal file as lines of bytes (docs/events.md, "File journal"): one
 * envelope per line, as its canonical JSON, then '\n'. Scanning forward a
 * chunk at a time (the reader, verifyFile) and finding the line before an
 * offset (open.ts, looking for the last good line from the end).
 */
import type { FileHandle } from 'node:fs/promises';
import { JournalCorruptError } from '../../../errors.js';
import { decodeStored, type StoredDecode } from '../../chain.js';

const NEWLINE = 0x0a;
/** Bytes read at a time when scanning forward. Grows for longer lines. */
const READ_CHUNK = 1 << 20;
/** Bytes read at a time when looking for the last line at open. */
const TAIL_CHUNK = 1 << 16;

/** One line as found in the file. */
export interface RawLine {
  readonly text: string;
  /** File offset of the first byte. */
  readonly offset: number;
  /** Byte length, newline included. */
  readonly bytes: number;
  readonly terminated: boolean;
}

/** Parses a line and checks it is an envelope written in canonical form. Does not check the hash. */
export const decodeLine = (text: string): StoredDecode => decodeStored(text, false);

/** A line that stands on its own: canonical envelope whose hash recomputes. Continuity is not checked. */
export const checkLine = (text: string): StoredDecode => decodeStored(text, true);

async function readFully(fh: FileHandle, buf: Buffer, position: number): Promise<number> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/**
 * Lines of `[start, end)`, a chunk at a time. The last one is unterminated
 * when the range does not end with a newline.
 */
export async function* scanLines(fh: FileHandle, start: number, end: number): AsyncGenerator<RawLine[]> {
  let buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(end - start, 1)));
  let filled = 0;
  let bufOffset = start; // file offset of buf[0]
  let pos = start; // next file offset to read
  let stop = end;
  while (pos < stop || filled > 0) {
    if (pos < stop) {
      if (filled === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, filled);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, filled, Math.min(buf.length - filled, stop - pos), pos);
      if (bytesRead === 0) stop = pos; // the file shrank under us
      filled += bytesRead;
      pos += bytesRead;
    }
    const view = buf.subarray(0, filled);
    const lines: RawLine[] = [];
    let lineStart = 0;
    for (let nl = view.indexOf(NEWLINE, lineStart); nl !== -1; nl = view.indexOf(NEWLINE, lineStart)) {
      lines.push({ text: view.toString('utf8', lineStart, nl), offset: bufOffset + lineStart, bytes: nl + 1 - lineStart, terminated: true });
      lineStart = nl + 1;
    }
    if (pos >= stop && lineStart < filled) {
      lines.push({ text: view.toString('utf8', lineStart, filled), offset: bufOffset + lineStart, bytes: filled - lineStart, terminated: false });
      lineStart = filled;
    }
    if (lineStart > 0) {
      buf.copy(buf, 0, lineStart, filled);
      filled -= lineStart;
      bufOffset += lineStart;
    }
    if (lines.length > 0) yield lines;
  }
}

/** The bytes between the last newline before `stop` (exclusive) and `stop`. */
export async function lineBefore(fh: FileHandle, stop: number): Promise<{ start: number; bytes: Buffer }> {
  const chunks: Buffer[] = [];
  let pos = stop;
  while (pos > 0) {
    const len = Math.min(TAIL_CHUNK, pos);
    const b = Buffer.allocUnsafe(len);
    const got = await readFully(fh, b, pos - len);
    if (got !== len) throw new JournalCorruptError(`offset ${pos - len}`, 'short read: the file changed while it was being opened');
    const nl = b.lastIndexOf(NEWLINE);
    if (nl !== -1) {
      chunks.unshift(b.subarray(nl + 1));
      return { start: pos - len + nl + 1, bytes: Buffer.concat(chunks) };
    }
    chunks.unshift(b);
    pos -= len;
  }
  return { start: 0, bytes: Buffer.concat(chunks) };
}

/** Number of newlines in the file's first `end` bytes (its complete lines there). Reads them all: for error reports. */
export async function countLines(fh: FileHandle, end: number): Promise<number> {
  const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(end, 1)));
  let count = 0;
  for (let pos = 0; pos < end; ) {
    const got = await readFully(fh, buf.subarray(0, Math.min(buf.length, end - pos)), pos);
    if (got === 0) break;
    for (let nl = buf.indexOf(NEWLINE, 0); nl !== -1 && nl < got; nl = buf.indexOf(NEWLINE, nl + 1)) count++;
    pos += got;
  }
  return count;
}

/** The file's first line within its first `end` bytes (null when it has no complete one). */
export async function firstLine(fh: FileHandle, end: number): Promise<Buffer | null> {
  for await (const lines of scanLines(fh, 0, end)) {
    const first = lines[0] as RawLine;
    return first.terminated ? Buffer.from(first.text, 'utf8') : null;
  }
  return null;
}
