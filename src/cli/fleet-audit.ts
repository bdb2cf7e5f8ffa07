/**
 * `vfun audit --host <host|h1,h2|*>`: on a JetStream journal, the events of
 * the hosts named (`*`: every host whose event stream is on the server),
 * merged into one history (src/events/merge-hosts.ts: by event time, then
 * host, then seq), with the other filters, `--limit`/`--tail` and formats of
 * `vfun audit`. Each host's stream is read on its own as `vfun audit` reads
 * one: every message verified, the chain followed (the reader), every event
 * of that host (host check), every checkpoint's tree rebuilt (signatures are
 * `vfun audit verify --pubkey`'s, one host at a time: each host signs with
 * its own key). The table has a `host` column first and fits 120 columns
 * (audit-table.ts; `--wide` for every column in full). Events waiting in a
 * host's local outbox are not listed (they are on that host only).
 *
 * A file journal holds one host's events: there `--host '*'` is plain
 * `vfun audit`, and naming a host is refused.
 */
import { ValidationError } from '../errors.js';
import type { Envelope } from '../events/envelope.js';
import { checkHosts } from '../events/host-check.js';
import { mergeHosts, type HostSource } from '../events/merge-hosts.js';
import { checkedAgainstCheckpoints } from '../events/checkpoint-verify.js';
import { ed25519Verify } from '../events/adapters/checkpoint-key.js';
import type { JetStreamJournal as JetStreamJournalType } from '../events/adapters/jetstream/journal.js';
import { NAME_MAX, NAME_PATTERN } from '../util/names.js';
import { auditPredicate, type AuditFilter, type AuditFormat } from './audit.js';
import { auditCommand } from './audit-commands.js';
import { printAudit, streamSink, windowOf } from './audit-stream.js';
import { warn } from './output.js';
import { journalUrl, type JournalOptions } from './journal-options.js';

/** What `vfun audit --host` takes. */
export type AuditHostsOptions = JournalOptions &
  AuditFilter & { readonly host: string; readonly format: AuditFormat; readonly limit?: string; readonly tail?: string; readonly wide?: boolean };

/** `--host`: `*`, or host names separated by commas; ValidationError otherwise. */
export function checkHostOption(value: string): void {
  if (value.trim() === '*') return;
  const names = value.split(',').map((h) => h.trim());
  const bad = names.find((h) => h.length === 0 || h.length > NAME_MAX || !NAME_PATTERN.test(h));
  if (bad !== undefined) throw new ValidationError('--host', `'${value}' is not '*' nor host names separated by commas ('${bad}' is not a valid name)`);
}

/** The envelopes of `source`, noting each tenant named. */
export async function* tenantsSeen(source: AsyncIterable<Envelope>, into: Set<string>): AsyncGenerator<Envelope> {
  for await (const e of source) {
    if (e.tenant !== null) into.add(e.tenant);
    yield e;
  }
}

/** A --tenant that no event of the hosts names: ValidationError naming the tenants they hold. */
export function unknownTenantOfHosts(tenant: string | undefined, seen: ReadonlySet<string>): void {
  if (tenant === undefined || seen.has(tenant)) return;
  const known = [...seen].sort();
  throw new ValidationError('--tenant', `no event of these hosts names tenant '${tenant}'; they hold ${known.length === 0 ? 'no tenant event' : `tenants ${known.join(', ')}`}`);
}

/**
 * With `--host` on a journal that is not JetStream: true when it is `*` (the
 * caller then does what it does without --host); a host named is refused.
 */
export function oneHostJournal(url: string, host: string): boolean {
  if (url.startsWith('nats://')) return false;
  if (host.trim() === '*') return true;
  throw new ValidationError('--host', `a ${url.slice(0, url.indexOf(':') + 1)} journal holds the events of one host; --host names hosts of a JetStream journal (--journal nats://…)`);
}

/**
 * Runs `use` on the event streams of the hosts `--host` selects on the JetStream journal at `url`
 * (in host order, each read and checked as `vfun audit` reads one), then closes them; says on
 * stderr when the server holds no host's stream.
 */
export async function withHostSources<T>(url: string, host: string, use: (sources: readonly HostSource[]) => Promise<T>): Promise<T> {
  // Loaded on demand: commands on a file journal never load the NATS client.
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const { connectUrl } = await import('../events/adapters/jetstream/connection.js');
  const { listHostStreams, selectHosts } = await import('../events/adapters/jetstream/hosts.js');
  const { JetStreamJournal, defaultEventStream, parseJetStreamUrl } = await import('../events/adapters/jetstream/index.js');
  const { stream: _stream, host: _host, outbox: _outbox, ...common } = parseJetStreamUrl(url);
  const { nc, options } = await connectUrl(url, { name: 'vfun-audit-hosts', reconnect: false });
  const journals: JetStreamJournalType[] = [];
  try {
    const jsm = await jetstreamManager(nc, { timeout: Math.max(options.ackTimeoutMs, 5000) });
    const hosts = selectHosts(await listHostStreams(jsm), host, defaultEventStream);
    const sources: HostSource[] = [];
    for (const h of hosts) {
      const journal = await JetStreamJournal.open({ ...common, host: h.host, stream: h.stream, readOnly: true, connection: nc });
      journals.push(journal);
      const events = checkedAgainstCheckpoints(checkHosts(journal.read(), { host: h.host }), { key: null, verify: ed25519Verify, location: journal.url });
      sources.push({ host: h.host, events });
    }
    const result = await use(sources);
    if (hosts.length === 0) process.stderr.write(`no host's event stream on ${options.servers.join(',')} (streams capturing vfun.evt.<host>.>)\n`);
    return result;
  } finally {
    for (const j of journals) await j.close().catch(() => undefined);
    await nc.close().catch(() => undefined);
  }
}

/** `vfun audit --host …` (see above). */
export async function auditHostsCommand(o: AuditHostsOptions): Promise<void> {
  checkHostOption(o.host);
  if (oneHostJournal(journalUrl(o), o.host)) return auditCommand(o);
  const match = auditPredicate(o, (l) => warn(`vfun: ${l}`));
  const window = windowOf(o);
  const tenants = new Set<string>();
  await withHostSources(journalUrl(o), o.host, (sources) =>
    printAudit(tenantsSeen(mergeHosts(sources), tenants), match, o.format, window, streamSink(process.stdout), o.wide === true ? 'wide' : 'fit', true),
  );
  if (window.kind !== 'limit') unknownTenantOfHosts(o.tenant, tenants);
}
