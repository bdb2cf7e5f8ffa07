/**
 * Journal URLs: how a journal is chosen everywhere (CLI, daemon, library).
 *   file:<path>[?host=&previousHost=&segment=]  (or file:///abs/path)  the embedded default: append-only file
 *   memory:                             in-memory, gone at exit (tests, embedding)
 *   nats://host:port[,host:port][?stream=&traceStream=&host=&replicas=&outbox=&failClosed=&ackTimeoutMs=]
 *                                       JetStream (docs/jetstream.md)
 */
import { resolve } from 'node:path';
import { VirtFunError } from '../../errors.js';
import type { Journal } from '../journal.js';
import { MemoryJournal } from '../memory-journal.js';
import { FileJournal, type FileJournalOpenReport } from './file/index.js';
import { parseFileJournalUrl } from './file/url.js';

/** The URL schemes `openJournal` knows: `file:`, `memory:`, `nats:` (see the module's comment). */
export const JOURNAL_SCHEMES = ['file:', 'memory:', 'nats:'] as const;

/** What `openJournal` gives back: the journal, and what opening it repaired. */
export interface OpenedJournal {
  /** The journal, open (close it when done). */
  readonly journal: Journal;
  /** What opening repaired (a torn last record cut off), if anything. */
  readonly repaired: FileJournalOpenReport | null;
}

/** Where a `file:` journal URL points, as an absolute path (its parameters left out); null for other schemes. */
export function journalPath(url: string): string | null {
  return parseFileJournalUrl(url)?.path ?? null;
}

/** Options of `openJournal`: defaults for what the URL does not say. */
export interface OpenJournalOptions {
  /** For audit, replay and verify: never write (a file journal's torn tail is skipped, not cut). */
  readonly readOnly?: boolean;
  /** This vFunD host, when the URL has no `host=`: nats: chain owner, subject token; file: a writer refuses a journal whose last event names another host. */
  readonly host?: string;
  /** nats: the local outbox file, when the URL has no `outbox=` (e.g. next to the data root). */
  readonly outbox?: string;
  /** nats: refuse new work while JetStream is unreachable, when the URL has no `failClosed=`. Default true. */
  readonly failClosed?: boolean;
}

/**
 * The host a journal URL names (`host=`), or undefined. vFunD takes it as its
 * own name when given (it stamps it on every event); else its hostname.
 */
export async function hostOfJournalUrl(url: string): Promise<string | undefined> {
  const file = parseFileJournalUrl(url);
  if (file !== null) return file.host;
  if (!url.startsWith('nats://')) return undefined;
  const { parseJetStreamUrl } = await import('./jetstream/index.js');
  return parseJetStreamUrl(url).host;
}

/**
 * Open the journal a URL names (`file:<path>`, `memory:`, `nats://…`; see the module's comment), for writing
 * unless `options.readOnly`. The NATS client is loaded only for `nats:`. Throws VirtFunError `JOURNAL_URL` for
 * an unknown scheme, a `file:` URL without a path, or a writer whose `host` differs from the URL's `host=`;
 * the adapter's own errors otherwise (JournalCorruptError, a held writer lock, JournalHostError…).
 */
export async function openJournal(url: string, options: OpenJournalOptions = {}): Promise<OpenedJournal> {
  const file = parseFileJournalUrl(url);
  if (file !== null) {
    if (file.path === resolve('')) throw new VirtFunError('JOURNAL_URL', `journal URL '${url}' names no file`);
    const readOnly = options.readOnly === true;
    checkWriterHost(file.host, options);
    // The writer checks the journal is its host's (the URL's host=, else the caller's); readers only when the URL says which host.
    const host = file.host ?? (readOnly ? undefined : options.host);
    const journal = await FileJournal.open(file.path, {
      readOnly,
      ...(host !== undefined && { host }),
      ...(file.previousHost !== undefined && { previousHost: file.previousHost }),
      ...(file.segmentBytes !== undefined && { segmentBytes: file.segmentBytes }),
    });
    return { journal, repaired: journal.openReport };
  }
  if (url === 'memory:') return { journal: new MemoryJournal(), repaired: null };
  if (url.startsWith('nats://')) {
    // Loaded on demand: file: and memory: users never load the NATS client.
    const { JetStreamJournal, parseJetStreamUrl } = await import('./jetstream/index.js');
    // URL parameters win over the options (the options are the caller's defaults).
    const parsed = parseJetStreamUrl(url);
    checkWriterHost(parsed.host, options);
    const journal = await JetStreamJournal.open({
      ...(options.host !== undefined ? { host: options.host } : {}),
      ...(options.outbox !== undefined ? { outbox: options.outbox } : {}),
      ...(options.failClosed !== undefined ? { failClosed: options.failClosed } : {}),
      ...parsed,
      readOnly: options.readOnly === true,
      checkHost: options.readOnly !== true && options.host !== undefined,
    });
    return { journal, repaired: journal.openReport };
  }
  throw new VirtFunError('JOURNAL_URL', `journal URL '${url}' has an unknown scheme; expected one of ${JOURNAL_SCHEMES.join(' ')}`);
}

/**
 * A writer stamps its own host on every envelope (the recorder's `host`): a
 * journal URL whose `host=` names another host would file them under a name
 * they do not carry. Refused (readers may name any host).
 */
function checkWriterHost(urlHost: string | undefined, options: OpenJournalOptions): void {
  if (options.readOnly === true || options.host === undefined || urlHost === undefined || urlHost === options.host) return;
  throw new VirtFunError(
    'JOURNAL_URL',
    `the journal URL says host=${urlHost}, but this vFunD is host '${options.host}' and stamps that name on every event: drop host= or give this host's name`,
  );
}
