/**
 * Journal URLs: how a journal is chosen everywhere (CLI, daemon, library).
 *   file:<path>  (or file:///abs/path)  the embedded default: append-only file
 *   memory:                             in-memory, gone at exit (tests, embedding)
 *   nats://host:port[,host:port][?stream=&traceStream=&host=&replicas=&outbox=&failClosed=&ackTimeoutMs=]
 *                                       JetStream (docs/jetstream.md)
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VirtFunError } from '../../errors.js';
import type { Journal } from '../journal.js';
import { MemoryJournal } from '../memory-journal.js';
import { FileJournal, type FileJournalOpenReport } from './file/index.js';

export const JOURNAL_SCHEMES = ['file:', 'memory:', 'nats:'] as const;

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
  /** nats: this vFunD host (chain owner, subject token), when the URL has no `host=`. */
  readonly host?: string;
  /** nats: the local outbox file, when the URL has no `outbox=` (e.g. next to the data root). */
  readonly outbox?: string;
  /** nats: refuse new work while JetStream is unreachable, when the URL has no `failClosed=`. Default true. */
  readonly failClosed?: boolean;
}

export async function openJournal(url: string, options: OpenJournalOptions = {}): Promise<OpenedJournal> {
  const path = journalPath(url);
  if (path !== null) {
    if (path === resolve('')) throw new VirtFunError('JOURNAL_URL', `journal URL '${url}' names no file`);
    const journal = await FileJournal.open(path, { readOnly: options.readOnly === true });
    return { journal, repaired: journal.openReport };
  }
  if (url === 'memory:') return { journal: new MemoryJournal(), repaired: null };
  if (url.startsWith('nats://')) {
    // Loaded on demand: file: and memory: users never load the NATS client.
    const { JetStreamJournal, parseJetStreamUrl } = await import('./jetstream/index.js');
    // URL parameters win over the options (the options are the caller's defaults).
    const parsed = parseJetStreamUrl(url);
    const journal = await JetStreamJournal.open({
      ...(options.host !== undefined ? { host: options.host } : {}),
      ...(options.outbox !== undefined ? { outbox: options.outbox } : {}),
      ...(options.failClosed !== undefined ? { failClosed: options.failClosed } : {}),
      ...parsed,
      readOnly: options.readOnly === true,
    });
    return { journal, repaired: journal.openReport };
  }
  throw new VirtFunError('JOURNAL_URL', `journal URL '${url}' has an unknown scheme; expected one of ${JOURNAL_SCHEMES.join(' ')}`);
}
