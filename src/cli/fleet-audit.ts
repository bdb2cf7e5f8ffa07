/**
 * `vfun audit --host <host|h1,h2|*>`: on a JetStream journal, the events of
 * the hosts named (`*`: every host whose event stream is on the server),
 * merged into one history (src/events/merge-hosts.ts: by event time, then
 * host, then seq), with the other filters, `--limit`/`--tail` and formats of
 * `vfun audit`. Each host's stream is read on its own as `vfun audit` reads
 * one: every message verified, the chain followed (the reader), every event
 * of that host (host check), every checkpoint's tree rebuilt (signatures are
 * `vfun audit verify --pubkey`'s, one host at a time: each host signs with
 * its own key). The table has a `host` column first. Events waiting in a
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
import { printAudit, streamSink, tableFoot, tableHead, tableRow, windowed, windowOf, type Sink, type Window } from './audit-stream.js';
import { journalUrl, type JournalOptions } from './journal-options.js';

/** What `vfun audit --host` takes. */
export type AuditHostsOptions = JournalOptions & AuditFilter & { readonly host: string; readonly format: AuditFormat; readonly limit?: string; readonly tail?: string };

/** `--host`: `*`, or host names separated by commas; ValidationError otherwise. */
export function checkHostOption(value: string): void {
  if (value.trim() === '*') return;
  const names = value.split(',').map((h) => h.trim());
  const bad = names.find((h) => h.length === 0 || h.length > NAME_MAX || !NAME_PATTERN.test(h));
  if (bad !== undefined) throw new ValidationError('--host', `'${value}' is not '*' nor host names separated by commas ('${bad}' is not a valid name)`);
}

/** Prints the merged events as `vfun audit` does; the table with a host column first, `width` wide. */
async function printMerged(source: AsyncIterable<Envelope>, match: (e: Envelope) => boolean, format: AuditFormat, w: Window, sink: Sink, width: number): Promise<void> {
  if (format !== 'table') return printAudit(source, match, format, w, sink);
  const cell = (s: string): string => (s.length > width ? `${s.slice(0, width - 1)}…` : s.padEnd(width));
  const indent = ' '.repeat(width + 1);
  const prefix = (host: string, text: string): string =>
    text
      .split('\n')
      .map((line, i) => (line === '' ? line : `${i === 0 ? cell(host) : indent} ${line}`))
      .join('\n');
  const [head, rule] = tableHead().split('\n');
  let out = `${cell('host')} ${head}\n${'-'.repeat(width + 1)}${rule}\n`;
  const events = windowed(source, match, w);
  let shown = 0;
  let r = await events.next();
  for (; r.done !== true; r = await events.next()) {
    out += prefix(r.value.host, tableRow(r.value));
    shown++;
    if (out.length >= 1 << 16) {
      await sink(out);
      out = '';
    }
  }
  await sink(out + tableFoot(shown, r.value, w));
}

/** The envelopes of `source`, noting each tenant named. */
async function* tenantsSeen(source: AsyncIterable<Envelope>, into: Set<string>): AsyncGenerator<Envelope> {
  for await (const e of source) {
    if (e.tenant !== null) into.add(e.tenant);
    yield e;
  }
}

/** `vfun audit --host …` (see above). */
export async function auditHostsCommand(o: AuditHostsOptions): Promise<void> {
  checkHostOption(o.host);
  const url = journalUrl(o);
  if (!url.startsWith('nats://')) {
    if (o.host.trim() === '*') return auditCommand(o);
    throw new ValidationError('--host', `a ${url.slice(0, url.indexOf(':') + 1)} journal holds the events of one host; --host names hosts of a JetStream journal (--journal nats://…)`);
  }
  const match = auditPredicate(o);
  const window = windowOf(o);
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
    const hosts = selectHosts(await listHostStreams(jsm), o.host, defaultEventStream);
    const sources: HostSource[] = [];
    for (const h of hosts) {
      const journal = await JetStreamJournal.open({ ...common, host: h.host, stream: h.stream, readOnly: true, connection: nc });
      journals.push(journal);
      const events = checkedAgainstCheckpoints(checkHosts(journal.read(), { host: h.host }), { key: null, verify: ed25519Verify, location: journal.url });
      sources.push({ host: h.host, events });
    }
    const tenants = new Set<string>();
    const width = Math.min(16, Math.max(4, ...hosts.map((h) => h.host.length)));
    await printMerged(tenantsSeen(mergeHosts(sources), tenants), match, o.format, window, streamSink(process.stdout), width);
    if (hosts.length === 0) process.stderr.write(`no host's event stream on ${options.servers.join(',')} (streams capturing vfun.evt.<host>.>)\n`);
    if (o.tenant !== undefined && !tenants.has(o.tenant) && window.kind !== 'limit') {
      const known = [...tenants].sort();
      throw new ValidationError('--tenant', `no event of these hosts names tenant '${o.tenant}'; they hold ${known.length === 0 ? 'no tenant event' : `tenants ${known.join(', ')}`}`);
    }
  } finally {
    for (const j of journals) await j.close().catch(() => undefined);
    await nc.close().catch(() => undefined);
  }
}
