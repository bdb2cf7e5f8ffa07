/**
 * Events that wait in the outbox, seen by read-only tools (docs/operator-guide.md,
 * "Auditing"): a remote journal's writer keeps in its outbox file what the
 * journal could not take yet. Those events were decided and are durable, but
 * are not in the journal: audit, verify and replay show them after the
 * journal's head, marked as pending, rather than ignore them.
 *
 * The outbox is read as it is on disk: nothing is cut or written (a torn last
 * record is skipped, as the writer would cut it). What the journal already
 * holds is dropped; the rest must continue the journal's chain.
 */
import { readFile } from 'node:fs/promises';
import { JournalCorruptError } from '../../errors.js';
import { GENESIS_HASH, type Envelope } from '../envelope.js';
import type { JournalHead } from '../journal.js';
import { parseOutbox } from './outbox-lines.js';

/** Where vFunD keeps the outbox under its data root (src/daemon/start.ts). */
export const OUTBOX_FILE = ['admin', 'outbox.ndjson'] as const;

/** The envelopes of the outbox file at `path` (none when it does not exist), never changing it. JournalCorruptError names a damaged line. */
export async function readOutbox(path: string): Promise<readonly Envelope[]> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return parseOutbox(bytes, path).envelopes;
}

/**
 * The outbox's envelopes the journal (its head `head`) does not hold yet, in
 * order. Pure. Those at or before the head are dropped (they were delivered;
 * the outbox is cleared later); the one at the head must be the head's. The
 * first one after it must follow the head (seq and prevHash): otherwise the
 * outbox does not belong to this journal, or the journal lost events, and a
 * JournalCorruptError located at the outbox (`path`) says which.
 */
export function pendingAfter(head: JournalHead | null, outbox: readonly Envelope[], path: string): Envelope[] {
  const headSeq = head?.seq ?? 0;
  const atHead = outbox.find((e) => e.seq === headSeq);
  if (head !== null && atHead !== undefined && atHead.hash !== head.hash) {
    throw new JournalCorruptError(path, `outbox seq ${headSeq} (event ${atHead.id}) differs from the journal's seq ${headSeq}: the journal or the outbox was changed`);
  }
  const pending = outbox.filter((e) => e.seq > headSeq);
  const first = pending[0];
  if (first === undefined) return [];
  const after = head === null ? 'the empty journal' : `the journal's head seq ${headSeq}`;
  if (first.seq !== headSeq + 1) {
    throw new JournalCorruptError(path, `outbox starts at seq ${first.seq}, after ${after}: seq ${headSeq + 1}..${first.seq - 1} are in neither`);
  }
  if (first.prevHash !== (head?.hash ?? GENESIS_HASH)) {
    throw new JournalCorruptError(path, `outbox seq ${first.seq} (event ${first.id}) does not chain on ${after} (prevHash differs)`);
  }
  return pending;
}

/** The pending envelopes of the outbox at `path` after the journal's `head` (readOutbox, then pendingAfter). */
export async function readPending(head: JournalHead | null, path: string): Promise<Envelope[]> {
  return pendingAfter(head, await readOutbox(path), path);
}
