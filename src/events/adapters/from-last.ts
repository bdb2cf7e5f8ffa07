/**
 * Reading a journal from its last envelope of a type (`Journal.readFromLast`),
 * whatever its adapter: the adapter's own way when it has one (the memory
 * journal), the file searched backwards for a `file:` journal (file-tail.ts),
 * and otherwise null, which tells the caller to read the whole journal (the
 * JetStream journal today: its host-wide events share one subject, so the
 * stream cannot be asked for the last event of a type).
 */
import type { VFunEventType } from '../catalogue.js';
import type { Envelope } from '../envelope.js';
import type { Journal } from '../journal.js';
import { fileReadFromLast } from './file-tail.js';
import { journalPath } from './open-journal.js';

/**
 * The envelopes of `journal` from its last one of `type` (included) to its
 * head; null when it holds none, or when it cannot find it without reading
 * everything (then read the whole journal).
 */
export async function readFromLast(journal: Journal, type: VFunEventType): Promise<AsyncIterable<Envelope> | null> {
  if (journal.readFromLast !== undefined) return journal.readFromLast(type);
  const path = journalPath(journal.url);
  return path === null ? null : fileReadFromLast(path, type);
}
