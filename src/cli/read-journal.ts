/**
 * What the read-only `vfun` commands read: the journal, and the events that
 * wait in vFunD's outbox (not yet in the journal), marked as pending
 * (docs/operator-guide.md, "Auditing"). The outbox is the one vFunD uses for
 * the same journal and root: the URL's `outbox=`, else
 * `<root>/admin/outbox.ndjson`. Only a remote journal (nats:) has one.
 */
import { resolve } from 'node:path';
import { OUTBOX_FILE, readPending } from '../events/adapters/pending.js';
import type { Envelope } from '../events/envelope.js';
import { checkHosts, type HostPolicy } from '../events/host-check.js';
import type { Journal, JournalHead } from '../events/journal.js';
import { journalUrl, openForReading, type JournalOptions } from './journal-options.js';

/** The journal's events and the outbox's pending ones, in seq order. */
export interface JournalRead {
  /** Events in the journal (those the filter kept). */
  readonly events: Envelope[];
  /** Events that wait in the outbox, after the journal's head (those the filter kept). */
  readonly pending: Envelope[];
  /** The outbox file looked at, or null (the journal has none). */
  readonly outbox: string | null;
}

/** The outbox file a vFunD on this journal and root writes, or null when the journal keeps none (file:, memory:). */
export function outboxPathOf(o: JournalOptions): string | null {
  const url = journalUrl(o);
  if (!url.startsWith('nats://')) return null;
  const query = url.indexOf('?');
  const given = query === -1 ? null : new URLSearchParams(url.slice(query + 1)).get('outbox');
  return given !== null && given !== '' ? resolve(given) : resolve(o.root, ...OUTBOX_FILE);
}

/** The pending events of `o`'s outbox after the journal's `head` (none without an outbox). */
export async function pendingOf(o: JournalOptions, head: JournalHead | null): Promise<{ readonly pending: Envelope[]; readonly outbox: string | null }> {
  const outbox = outboxPathOf(o);
  return { pending: outbox === null ? [] : await readPending(head, outbox), outbox };
}

/**
 * The host a remote journal's URL names (`host=`): its envelopes must all be
 * that host's. Null for file: journals (the file journal checks its URL's
 * host itself) and URLs without one.
 */
export function remoteHostPolicy(o: JournalOptions): HostPolicy | null {
  const url = journalUrl(o);
  const query = url.indexOf('?');
  if (!url.startsWith('nats://') || query === -1) return null;
  const host = new URLSearchParams(url.slice(query + 1)).get('host');
  return host === null || host === '' ? null : { host };
}

/** The journal's envelopes, read-only, host-checked when its URL names a host (remoteHostPolicy). */
export function readChecked(journal: Journal, o: JournalOptions): AsyncIterable<Envelope> {
  const hosts = remoteHostPolicy(o);
  return hosts === null ? journal.read() : checkHosts(journal.read(), hosts);
}

/** Reads the journal read-only, then its outbox's pending events (see the file's header). */
export async function readJournal(o: JournalOptions, filter: (e: Envelope) => boolean = () => true): Promise<JournalRead> {
  const { journal } = await openForReading(o);
  const events: Envelope[] = [];
  let head: JournalHead | null;
  try {
    let last: Envelope | null = null;
    for await (const e of readChecked(journal, o)) {
      last = e;
      if (filter(e)) events.push(e);
    }
    head = last === null ? null : { seq: last.seq, hash: last.hash };
  } finally {
    await journal.close();
  }
  const { pending, outbox } = await pendingOf(o, head);
  return { events, pending: pending.filter(filter), outbox };
}

/** The line saying how many events wait in the outbox, or null when none do. */
export function pendingNote(r: { readonly pending: readonly Envelope[]; readonly outbox: string | null }): string | null {
  const n = r.pending.length;
  if (n === 0) return null;
  return `${n} event${n === 1 ? '' : 's'} wait${n === 1 ? 's' : ''} in the outbox ${r.outbox ?? ''} (pending: decided, not yet in the journal)`;
}
