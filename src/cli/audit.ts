/**
 * `vfun audit`: list, verify and summarize a journal, for operators.
 */
import { describeAdminEvent } from '../admin/describe.js';
import Table from 'cli-table3';
import { EVENT_TYPES, isEventType, isSecurityEvent, type ClaimedNames, type PeerProcess, type VFunEvent } from '../events/catalogue.js';
import { eventOf, type Envelope } from '../events/envelope.js';
import { ValidationError } from '../errors.js';

export type AuditFormat = 'table' | 'json' | 'ndjson';
export const AUDIT_FORMATS: readonly AuditFormat[] = ['table', 'json', 'ndjson'];

export interface AuditFilter {
  readonly tenant?: string;
  readonly app?: string;
  readonly fn?: string;
  readonly instance?: string;
  /** Event types, or families written `negotiation.*`: events of any of them (the option is repeatable). */
  readonly type?: string | readonly string[];
  /** ISO-8601 time: events at or after it. Without a zone, UTC (as the output). */
  readonly since?: string;
  /** ISO-8601 time: events before it. Without a zone, UTC. */
  readonly until?: string;
}

/**
 * Milliseconds of an ISO-8601 time given on the command line. A time without
 * a zone designator is UTC, like every time vfun prints (JavaScript would read
 * it as local time: the same query then gave other answers under another TZ).
 */
export function parseIsoTime(field: string, text: string): number {
  const bare = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(text);
  const ms = Date.parse(bare ? `${text}Z` : text);
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/.test(text) || Number.isNaN(ms)) {
    throw new ValidationError(field, `'${text}' is not an ISO-8601 time (e.g. 2026-11-25, 2026-11-25T10:00:00Z or 2026-11-25T11:00:00+01:00; without a zone it is UTC)`);
  }
  return ms;
}

/** A time given without a zone: how it is read (`--since 2026-12-07 is 2026-12-07T00:00:00.000Z (UTC)`), else null. */
export function zonelessReading(field: string, text: string, ms: number): string | null {
  return /(Z|[+-]\d{2}:\d{2})$/.test(text) ? null : `${field} ${text} has no zone: read as ${new Date(ms).toISOString()} (UTC, like every time vfun prints)`;
}

/**
 * Validate the filter's fields; returns a predicate over envelopes. `note`
 * is told how a time given without a zone is read (UTC).
 */
export function auditPredicate(f: AuditFilter, note?: (line: string) => void): (e: Envelope) => boolean {
  const sinceMs = f.since === undefined ? -Infinity : parseIsoTime('--since', f.since);
  const untilMs = f.until === undefined ? Infinity : parseIsoTime('--until', f.until);
  for (const [field, text, ms] of [['--since', f.since, sinceMs], ['--until', f.until, untilMs]] as const) {
    const said = text === undefined ? null : zonelessReading(field, text, ms);
    if (said !== null) note?.(said);
  }
  if (sinceMs >= untilMs) throw new ValidationError('--until', `'${f.until}' is not after --since '${f.since}': no event can match`);
  const types = f.type === undefined ? [] : typeof f.type === 'string' ? [f.type] : f.type;
  const matchers = types.map((want): ((t: string) => boolean) => {
    if (want.endsWith('.*')) {
      const prefix = want.slice(0, -1);
      if (!EVENT_TYPES.some((t) => t.startsWith(prefix))) {
        throw new ValidationError('--type', `no event type matches '${want}'; known: ${EVENT_TYPES.join(', ')}`);
      }
      return (t) => t.startsWith(prefix);
    }
    if (!isEventType(want)) throw new ValidationError('--type', `unknown event type '${want}'; known: ${EVENT_TYPES.join(', ')}`);
    return (t) => t === want;
  });
  const timed = f.since !== undefined || f.until !== undefined;
  return (e) => {
    if (f.tenant !== undefined && e.tenant !== f.tenant) return false;
    if (f.app !== undefined && e.app !== f.app) return false;
    if (f.fn !== undefined && e.fn !== f.fn) return false;
    if (f.instance !== undefined && e.instance !== f.instance) return false;
    if (matchers.length > 0 && !matchers.some((m) => m(e.type))) return false;
    if (!timed) return true;
    const at = Date.parse(e.at);
    return at >= sinceMs && at < untilMs;
  };
}

/** What a refused request named, said as claimed (never checked): `; claimed app a, fn f`. */
function claimedText(c: ClaimedNames | undefined): string {
  if (c === undefined) return '';
  const named = (['app', 'fn', 'instance'] as const).flatMap((k) => (c[k] === undefined ? [] : [`${k} ${c[k]}`]));
  return named.length === 0 ? '' : `; claimed ${named.join(', ')}`;
}

/** The peer process of a control connection: `; peer pid 42 uid 1000`. */
function peerText(p: PeerProcess | undefined): string {
  return p === undefined ? '' : `; peer pid ${p.pid} uid ${p.uid}`;
}

/** One line of what happened, for the table. */
export function describeEvent(e: VFunEvent): string {
  switch (e.type) {
    case 'vfund.started':
      return `host ${e.data.host}: ${e.data.config.tenants.length} tenants, ${e.data.config.functions.length} functions`;
    case 'vfund.stopped':
      return e.data.reason;
    case 'negotiation.acked':
      return `${e.data.kind}${e.data.fallback ? ' (fallback)' : ''} -> ${e.data.instance}`;
    case 'negotiation.nacked':
    case 'activation.nacked':
    case 'release.nacked':
      return `${e.data.reason}: ${e.data.detail}`;
    case 'request.refused':
      return `${e.data.op} refused, ${e.data.reason}: ${e.data.detail}${claimedText(e.data.claimed)}${peerText(e.data.peer)}`;
    case 'refusals.suppressed': {
      const by = Object.entries(e.data.counts).map(([k, n]) => `${k}=${n}`).join(' ');
      const closed = e.data.disconnections > 0 ? `, ${e.data.disconnections} connection(s) closed` : '';
      return `${e.data.total} refusals not journaled one by one${by ? ` (${by})` : ''} from ${e.data.from} to ${e.data.to}${closed}${e.data.ended ? ', flood over' : ''}`;
    }
    case 'journal.damage-acknowledged':
      return `DAMAGED message (sha256 ${e.data.sha256.slice(0, 16)}…) ${e.data.fault}; acknowledged by ${e.data.by}: ${e.data.reason}`;
    case 'control.disconnected':
      return `connection closed after ${e.data.refusals} refusals (${e.data.suppressed} past the limit): ${e.data.detail}${peerText(e.data.peer)}`;
    case 'activation.started':
      return `region ${e.data.capacity} B`;
    case 'activation.acked': {
      const d = e.data.driver;
      if (d === undefined) return `region ${e.data.capacity} B`;
      return `region ${e.data.capacity} B; ${d.device} ${d.adapter.vendor}/${d.adapter.architecture} ${d.adapter.device}${d.adapter.software ? ' (software)' : ''}, prepared in ${d.prepareMs.toFixed(1)} ms`;
    }
    case 'device.probed':
      return e.data.available
        ? `device ${e.data.device}: ${e.data.adapter ? `${e.data.adapter.vendor}/${e.data.adapter.architecture} ${e.data.adapter.description}${e.data.adapter.software ? ' (software)' : ''}` : e.data.detail}`
        : `device ${e.data.device} UNAVAILABLE: ${e.data.detail}`;
    case 'device.failover':
      return `device ${e.data.device} lost, instance runs on its software twin: ${e.data.detail}`;
    case 'crosscheck.mismatch':
      return `device ${e.data.device}: call ${e.data.call} differs from the software twin: ${e.data.detail}`;
    case 'service.failed':
    case 'client.lost':
      return e.data.detail;
    case 'service.restarted':
      return `restart #${e.data.attempt} in ${e.data.backoffMs} ms: ${e.data.detail}`;
    case 'journal.checkpoint':
      return `signed tree head over seqs 1..${e.data.size}: root ${e.data.root}`;
    case 'state.snapshot':
      return `state after seq ${e.data.seq}: ${Object.keys(e.data.state.instances).length} live instances`;
    case 'instance.released': {
      if (e.data.stats === null) return `${e.data.reason}, calls unknown`;
      const errs = Object.entries(e.data.stats.errors).map(([k, n]) => `${k}=${n}`).join(' ');
      return `${e.data.reason}, ${e.data.stats.calls} calls${errs ? `, errors ${errs}` : ''}`;
    }
    case 'admin.evicted':
    case 'drain.changed':
    case 'tenant.disabled':
    case 'tenant.enabled':
    case 'config.reloaded':
      return describeAdminEvent(e);
  }
}

export interface TenantSummary {
  readonly tenant: string;
  readonly events: number;
  readonly instances: number;
  readonly fallbacks: number;
  readonly calls: number;
  /** Instances released with unknown counters (a recovery without their control area): `calls` is a lower bound. */
  readonly unknownCounts: number;
  readonly nacks: Record<string, number>;
  /** Service failures plus error answers counted by the services. */
  readonly errors: number;
  readonly security: number;
}

export function summarize(envs: Iterable<Envelope>): TenantSummary[] {
  const by = new Map<string, { -readonly [K in keyof TenantSummary]: TenantSummary[K] }>();
  for (const env of envs) {
    const t = env.tenant ?? '(host)';
    let s = by.get(t);
    if (!s) by.set(t, (s = { tenant: t, events: 0, instances: 0, fallbacks: 0, calls: 0, unknownCounts: 0, nacks: {}, errors: 0, security: 0 }));
    const e = eventOf(env);
    s.events++;
    // A summary of suppressed refusals counts as the refusals it stands for.
    if (isSecurityEvent(e)) s.security += e.type === 'refusals.suppressed' ? e.data.total : 1;
    switch (e.type) {
      case 'negotiation.acked':
        s.instances++;
        if (e.data.fallback) s.fallbacks++;
        break;
      case 'negotiation.nacked':
      case 'activation.nacked':
      case 'release.nacked':
      case 'request.refused':
        s.nacks[e.data.reason] = (s.nacks[e.data.reason] ?? 0) + 1;
        break;
      case 'refusals.suppressed':
        for (const [reason, n] of Object.entries(e.data.counts)) s.nacks[reason] = (s.nacks[reason] ?? 0) + (n ?? 0);
        break;
      case 'service.failed':
      case 'service.restarted':
        s.errors++;
        break;
      case 'instance.released':
        if (e.data.stats === null) {
          s.unknownCounts++;
          break;
        }
        s.calls += e.data.stats.calls;
        for (const n of Object.values(e.data.stats.errors)) s.errors += n;
        break;
      default:
        break;
    }
  }
  return [...by.values()].sort((a, b) => a.tenant.localeCompare(b.tenant));
}

export function formatSummary(rows: readonly TenantSummary[], format: AuditFormat): string {
  if (format === 'json') return JSON.stringify(rows, null, 2);
  if (format === 'ndjson') return rows.map((r) => JSON.stringify(r)).join('\n');
  const table = new Table({
    head: ['tenant', 'events', 'instances', 'fallbacks', 'calls', 'nacks by reason', 'errors', 'security'],
    style: { head: [], border: [], compact: true },
  });
  for (const r of rows) {
    const nacks = Object.entries(r.nacks).map(([k, n]) => `${k}=${n}`).join(' ') || '-';
    table.push([r.tenant, r.events, r.instances, r.fallbacks, r.unknownCounts > 0 ? `≥${r.calls} (${r.unknownCounts} unknown)` : r.calls, nacks, r.errors, r.security]);
  }
  return table.toString();
}
