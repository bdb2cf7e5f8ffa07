/**
 * The outbox file's bytes as envelopes (docs/jetstream.md, "Outbox"): the
 * same line format as the file journal, holding a slice of a chain (its first
 * envelope may have any seq; every next one chains on the one before it).
 *
 * Only a last record without its newline is a torn write (a crash cut it
 * short). A complete line (newline included) that is not a self-consistent
 * envelope, or does not chain on the line before it, is damage or tampering,
 * wherever it is, the last line included: the outbox holds events that exist
 * nowhere else, so nothing complete is ever dropped. Pure: no I/O.
 */
import { JournalCorruptError } from '../../errors.js';
import { chainFault, decodeStored } from '../chain.js';
import type { Envelope } from '../envelope.js';
import type { JournalHead } from '../journal.js';
import { nativeSha256Hex as sha256Hex } from './native-hash.js';

/** The outbox's envelopes, and where its complete lines end. */
export interface ParsedOutbox {
  readonly envelopes: readonly Envelope[];
  /** Bytes of complete, good lines: the file's size without a torn last record. */
  readonly keep: number;
  /** Why the bytes after `keep` are a torn record; null when there are none. */
  readonly torn: string | null;
}

/**
 * Parses the outbox file's `bytes` (found at `path`, for error locations).
 * Throws JournalCorruptError naming the first damaged complete line.
 */
export function parseOutbox(bytes: Uint8Array, path: string): ParsedOutbox {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const envelopes: Envelope[] = [];
  let prev: JournalHead | null = null;
  let offset = 0;
  let lineNo = 0;
  // Byte offsets: walk the buffer, not the string (multi-byte characters).
  while (offset < buf.length) {
    lineNo++;
    const nl = buf.indexOf(0x0a, offset);
    if (nl === -1) return { envelopes, keep: offset, torn: 'the last record has no trailing newline (torn write)' };
    const parsed = decodeStored(buf.toString('utf8', offset, nl), true);
    const reason = !parsed.ok ? parsed.reason : prev === null ? null : chainFault(parsed.env, prev, { hash: sha256Hex, schema: false });
    if (!parsed.ok || reason !== null) {
      const last = buf.indexOf(0x0a, nl + 1) === -1 ? ', its last complete line (not a torn write: damage or tampering)' : '';
      throw new JournalCorruptError(`${path}:${lineNo}`, `outbox line ${lineNo}${last} ${reason ?? 'is unreadable'}`);
    }
    envelopes.push(parsed.env);
    prev = { seq: parsed.env.seq, hash: parsed.env.hash };
    offset = nl + 1;
  }
  return { envelopes, keep: offset, torn: null };
}
