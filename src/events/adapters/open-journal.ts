/**
 * Journal URLs: how a journal is chosen everywhere (CLI, daemon, library).
 *   file:<path>  (or file:///abs/path)  the embedded default: append-only file
 *   memory:                             in-memory, gone at exit (tests, embedding)
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VirtFunError } from '../../errors.js';
import type { Journal } from '../journal.js';
import { MemoryJournal } from '../memory-journal.js';
import { FileJournal, type FileJournalOpenReport } from './file-journal.js';

export const JOURNAL_SCHEMES = ['file:', 'memory:'] as const;

export interface OpenedJournal {
  readonly journal: Journal;
  /** What opening repaired (a torn last record cut off), if anything. */
  readonly repaired: FileJournalOpenReport | null;
}

/** Where a `file:` journal URL points, as an absolute path. */
export function journalPath(url: string): string | null {
  if (!url.startsWith('file:')) return null;
  if (url.startsWith('file://')) return fileURLToPath(url);
  return resolve(url.slice('file:'.length));
}

export interface OpenJournalOptions {
  /** For audit, replay and verify: never write (a file journal's torn tail is skipped, not cut). */
  readonly readOnly?: boolean;
}

export async function openJournal(url: string, options: OpenJournalOptions = {}): Promise<OpenedJournal> {
  const path = journalPath(url);
  if (path !== null) {
    if (path === resolve('')) throw new VirtFunError('JOURNAL_URL', `journal URL '${url}' names no file`);
    const journal = await FileJournal.open(path, { readOnly: options.readOnly === true });
    return { journal, repaired: journal.openReport };
  }
  if (url === 'memory:') return { journal: new MemoryJournal(), repaired: null };
  if (/^nats:\/\//.test(url)) {
    throw new VirtFunError('JOURNAL_URL', `journal URL '${url}': the JetStream adapter is not part of this build yet; use file:<path>`);
  }
  throw new VirtFunError('JOURNAL_URL', `journal URL '${url}' has an unknown scheme; expected one of ${JOURNAL_SCHEMES.join(' ')}`);
}
