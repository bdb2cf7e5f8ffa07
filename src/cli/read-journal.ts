/**
 * What the read-only `vfun` commands read besides the journal: the events
 * that wait in vFunD's outbox (not yet in the journal), marked as pending
 * (docs/operator-guide.md, "Auditing"), and, for a remote journal whose URL
 * names its host, the host check of what they read. The outbox is the one
 * vFunD uses for the same journal and root: the URL's `outbox=`, else
 * `<root>/admin/outbox.ndjson`. Only a remote journal (nats:) has one.
 */
import { resolve } from 'node:path';
import { parseJetStreamUrl } from '../events/adapters/jetstream/options.js';
import { OUTBOX_FILE, readPending } from '../events/adapters/pending.js';
import type { Envelope } from '../events/envelope.js';
import { checkHosts, type HostPolicy } from '../events/host-check.js';
import type { JournalHead } from '../events/journal.js';
import { journalUrl, type JournalOptions } from './journal-options.js';

/** An envelope as the read-only commands list it: `pending` when it waits in the outbox. */
export type Listed = Envelope & { readonly pending?: true };

/** Whether a listed envelope waits in the outbox. */
export const isPending = (e: Envelope): boolean => (e as Listed).pending === true;

/** How many events a read found waiting in the outbox, once it read to the end. */
export interface PendingTally {
  pending: number;
  outbox: string | null;
  /** Events read from the journal. */
  journal: number;
}

/** A tally before reading. */
export const newTally = (): PendingTally => ({ pending: 0, outbox: null, journal: 0 });

/** The outbox file a vFunD on this journal and root writes, or null when the journal keeps none (file:, memory:). */
export function outboxPathOf(o: JournalOptions): string | null {
  const url = journalUrl(o);
  if (!url.startsWith('nats://')) return null;
  const given = parseJetStreamUrl(url).outbox;
  return typeof given === 'string' && given !== '' ? resolve(given) : resolve(o.root, ...OUTBOX_FILE);
}

/** The pending events of `o`'s outbox after the journal's `head` (none without an outbox). */
export async function pendingOf(o: JournalOptions, head: JournalHead | null): Promise<{ readonly pending: Envelope[]; readonly outbox: string | null }> {
  const outbox = outboxPathOf(o);
  return { pending: outbox === null ? [] : await readPending(head, outbox), outbox };
}

/**
 * The envelopes of `source` (the journal, read to its head), then, once it
 * ended, the outbox's events after the last of them, marked `pending: true`.
 * `tally` counts both. A read stopped early (`--limit`) never opens the outbox.
 */
export async function* withPending(source: AsyncIterable<Envelope>, o: JournalOptions, tally: PendingTally = newTally()): AsyncGenerator<Listed> {
  let head: JournalHead | null = null;
  for await (const e of source) {
    head = { seq: e.seq, hash: e.hash };
    tally.journal++;
    yield e;
  }
  const { pending, outbox } = await pendingOf(o, head);
  tally.outbox = outbox;
  for (const e of pending) {
    tally.pending++;
    yield { ...e, pending: true };
  }
}

/** The journal's envelopes of a `withPending` stream (the outbox's left out, still counted in its tally). */
export async function* withoutPending(source: AsyncIterable<Listed>): AsyncGenerator<Envelope> {
  for await (const e of source) if (!isPending(e)) yield e;
}

/** The line saying how many events wait in the outbox, or null when none do. */
export function pendingNote(r: { readonly pending: number | readonly Envelope[]; readonly outbox: string | null }): string | null {
  const n = typeof r.pending === 'number' ? r.pending : r.pending.length;
  if (n === 0) return null;
  return `${n} event${n === 1 ? '' : 's'} wait${n === 1 ? 's' : ''} in the outbox ${r.outbox ?? ''} (pending: decided, not yet in the journal)`;
}

/**
 * The host a remote journal's URL names (`host=`): its envelopes must all be
 * that host's. Null for file: journals (the file journal checks its URL's
 * host itself) and URLs without one.
 */
export function remoteHostPolicy(o: JournalOptions): HostPolicy | null {
  const url = journalUrl(o);
  if (!url.startsWith('nats://')) return null;
  const host = parseJetStreamUrl(url).host;
  return host === undefined || host === '' ? null : { host };
}

/** `source` host-checked when the journal's URL names a host (remoteHostPolicy); as it is otherwise. */
export function hostChecked(source: AsyncIterable<Envelope>, o: JournalOptions): AsyncIterable<Envelope> {
  const hosts = remoteHostPolicy(o);
  return hosts === null ? source : checkHosts(source, hosts);
}
