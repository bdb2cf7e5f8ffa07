/**
 * `vfun audit summary --host` (src/cli/fleet-summary.ts): each host's rows are
 * the summary of that host's events that match, and the `every host` rows are
 * the summary of all the hosts' events together (generated events); the table
 * has a section per host, then the totals; json rows carry their host.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { auditPredicate, summarize } from '../../src/cli/audit.js';
import { acrossHosts, formatHostSummary, summarizeHosts, type HostSummary } from '../../src/cli/fleet-summary.js';
import { sealEnvelope } from '../../src/events/chain.js';
import { GENESIS_HASH, type Envelope, type PendingEvent } from '../../src/events/envelope.js';
import { pendingArb } from '../events/arbitraries.js';

/** `list` as the journal of `host`, seq 1.. */
function journalOf(host: string, list: readonly PendingEvent[]): Envelope[] {
  const out: Envelope[] = [];
  let prev = GENESIS_HASH;
  list.forEach((p, i) => {
    const env = sealEnvelope(p, { seq: i + 1, prevHash: prev, id: `${host}-${i + 1}`, at: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(), host });
    out.push(env);
    prev = env.hash;
  });
  return out;
}

async function* from<T>(xs: readonly T[]): AsyncGenerator<T> {
  for (const x of xs) yield x;
}

/** Pending events of a few known tenants (so that hosts share some). */
const tenantEventArb = fc.tuple(pendingArb, fc.constantFrom('acme', 'globex', null)).map(([p, tenant]): PendingEvent => ({ ...p, scope: { ...p.scope, tenant } }));
const hostsArb = fc.uniqueArray(fc.constantFrom('fleet-1', 'fleet-2', 'fleet-3'), { minLength: 1, maxLength: 3 }).chain((hosts) =>
  fc.tuple(...hosts.map((host) => fc.array(tenantEventArb, { maxLength: 15 }).map((list) => ({ host, events: journalOf(host, list) })))),
);
const filterArb = fc.record({ tenant: fc.constantFrom('acme', 'globex'), type: fc.constant(['negotiation.*', 'instance.released', 'request.refused']) }, { requiredKeys: [] });

describe('the summary of several hosts', () => {
  test.prop([hostsArb, filterArb])('a host\'s rows summarize its matching events; the totals summarize every host\'s together', async (hosts, filter) => {
    const match = auditPredicate(filter);
    const rows = await summarizeHosts(
      [...hosts].reverse().map((h) => ({ host: h.host, events: from(h.events) })),
      match,
    );
    const sorted = [...hosts].sort((a, b) => (a.host < b.host ? -1 : 1));
    expect(rows).toEqual(sorted.flatMap((h) => summarize(h.events.filter(match)).map((r) => ({ host: h.host, ...r }))));
    expect(acrossHosts(rows)).toEqual(summarize(hosts.flatMap((h) => h.events).filter(match)));
    if (filter.tenant !== undefined) expect(rows.every((r) => r.tenant === filter.tenant)).toBe(true);
  });

  const negotiated = (tenant: string, instance: string): PendingEvent => ({
    event: { type: 'negotiation.acked', data: { tenant, app: 'billing', fn: 'crc32', kind: 'sw', instance, fallback: false } },
    scope: { tenant, app: 'billing', fn: 'crc32', instance },
    causationId: null,
    correlationId: null,
  });
  const refused = (tenant: string): PendingEvent => ({
    event: { type: 'request.refused', data: { tenant, op: 'negotiate', reason: 'credential', detail: 'signature does not match' } },
    scope: { tenant, app: null, fn: null, instance: null },
    causationId: null,
    correlationId: null,
  });

  it('prints a section per host, then every host added up; json rows name their host', async () => {
    const sources = [
      { host: 'fleet-2', events: from(journalOf('fleet-2', [negotiated('acme', 'i1'), refused('acme')])) },
      { host: 'fleet-1', events: from(journalOf('fleet-1', [negotiated('acme', 'i1'), negotiated('globex', 'i2')])) },
    ];
    const rows = await summarizeHosts(sources, () => true);
    expect(rows.map((r) => [r.host, r.tenant, r.instances])).toEqual([
      ['fleet-1', 'acme', 1],
      ['fleet-1', 'globex', 1],
      ['fleet-2', 'acme', 1],
    ]);
    const table = formatHostSummary(rows, 'table');
    const sections = table.split('\n\n');
    expect(sections.map((s) => s.split('\n')[0])).toEqual(['host fleet-1', 'host fleet-2', 'every host (2)']);
    const acmeTotal = sections[2]!.split('\n').find((l) => l.includes(' acme '))!;
    expect(acmeTotal.split(/\s+/).filter((c) => /^[\w=-]+$/.test(c))).toEqual(['acme', '3', '2', '0', '0', 'credential=1', '0', '1']);
    expect(JSON.parse(formatHostSummary(rows, 'json')) as HostSummary[]).toEqual(rows);
    expect(formatHostSummary(rows, 'ndjson').split('\n').map((l) => (JSON.parse(l) as HostSummary).host)).toEqual(['fleet-1', 'fleet-1', 'fleet-2']);
    // One host: its section alone.
    expect(formatHostSummary(rows.filter((r) => r.host === 'fleet-2'), 'table').split('\n\n')).toHaveLength(1);
  });
});
