/**
 * `vfun audit summary --host <host|h1,h2|*>`: on a JetStream journal, the
 * summary of `vfun audit summary` (per tenant: instances, nacks by reason,
 * errors, security events) for each host named (`*`: every host whose event
 * stream is on the server), with the same filters. Each host's stream is read
 * and checked as `vfun audit --host` reads it (fleet-audit.ts).
 *
 * The table has a section per host (`host <name>`, then that host's summary
 * table) and, with more than one host, a last section `every host` adding the
 * rows of each tenant up across hosts. `json` and `ndjson` give one row per
 * host and tenant, with its `host` first (the totals are theirs to add).
 *
 * A file journal holds one host's events: there `--host '*'` is plain
 * `vfun audit summary`, and naming a host is refused.
 */
import type { Envelope } from '../events/envelope.js';
import type { HostSource } from '../events/merge-hosts.js';
import { auditPredicate, formatSummary, type AuditFilter, type AuditFormat, type TenantSummary } from './audit.js';
import { matching, mergeSummary, summarizeStream, summaryCommand } from './audit-commands.js';
import { checkHostOption, oneHostJournal, tenantsSeen, unknownTenantOfHosts, withHostSources } from './fleet-audit.js';
import { warn } from './output.js';
import { journalUrl, type JournalOptions } from './journal-options.js';

/** What `vfun audit summary --host` takes. */
export type SummaryHostsOptions = JournalOptions & AuditFilter & { readonly host: string; readonly format: AuditFormat };

/** A row of the summary of several hosts: one tenant on one host. */
export type HostSummary = { readonly host: string } & TenantSummary;

/**
 * The summary of each host's events that `match`: its tenants' rows, each with
 * its host, by host then tenant. A host without a matching event has no row.
 * Hosts are read one after the other, a batch of events at a time.
 */
export async function summarizeHosts(sources: readonly HostSource[], match: (e: Envelope) => boolean): Promise<HostSummary[]> {
  const out: HostSummary[] = [];
  for (const s of [...sources].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0))) {
    for (const row of await summarizeStream(matching(s.events, match))) out.push({ host: s.host, ...row });
  }
  return out;
}

/** The rows of every host added up per tenant (numbers summed, nacks by reason summed), by tenant. */
export function acrossHosts(rows: readonly HostSummary[]): TenantSummary[] {
  const by = new Map<string, TenantSummary>();
  for (const { host: _host, ...row } of rows) {
    const had = by.get(row.tenant);
    by.set(row.tenant, had === undefined ? row : mergeSummary(had, row));
  }
  return [...by.values()].sort((a, b) => a.tenant.localeCompare(b.tenant));
}

/** The summary of several hosts in `format` (see above). */
export function formatHostSummary(rows: readonly HostSummary[], format: AuditFormat): string {
  if (format !== 'table') return formatSummary(rows, format);
  const hosts = [...new Set(rows.map((r) => r.host))];
  const sections = hosts.map((h) => `host ${h}\n${formatSummary(rows.filter((r) => r.host === h).map(({ host: _host, ...row }) => row), 'table')}`);
  if (hosts.length > 1) sections.push(`every host (${hosts.length})\n${formatSummary(acrossHosts(rows), 'table')}`);
  return sections.length === 0 ? formatSummary([], 'table') : sections.join('\n\n');
}

/** `vfun audit summary --host …` (see above). */
export async function summaryHostsCommand(o: SummaryHostsOptions): Promise<void> {
  checkHostOption(o.host);
  if (oneHostJournal(journalUrl(o), o.host)) return summaryCommand(o);
  const match = auditPredicate(o, (l) => warn(`vfun: ${l}`));
  const tenants = new Set<string>();
  const rows = await withHostSources(journalUrl(o), o.host, (sources) =>
    summarizeHosts(
      sources.map((s) => ({ host: s.host, events: tenantsSeen(s.events, tenants) })),
      match,
    ),
  );
  unknownTenantOfHosts(o.tenant, tenants);
  console.log(formatHostSummary(rows, o.format));
}
