/**
 * What vFunD's log says about what it does: each journaled event mapped to a
 * log record (level, message, fields) by one pure function, `logRecordOf`,
 * and the journal's availability (an outage, its end, an outbox, a fenced
 * JetStream writer) by `availabilityRecord` and `jetStreamRecord`. The daemon
 * subscribes to vFunD and its journal and logs what these return.
 *
 * The mapping is a table over every event type of the catalogue: a new event
 * type does not compile until it says how it is logged (or that it is not).
 */
import { SECURITY_REASONS, type VFunEvent, type VFunEventType } from '../events/catalogue.js';
import type { Envelope } from '../events/envelope.js';
import type { JournalAvailability } from '../events/journal.js';
import { rec, type LogLevel, type LogRecord } from './log.js';

type EnvelopeOf<T extends VFunEventType> = Envelope<Extract<VFunEvent, { type: T }>>;
type Fields = Record<string, unknown>;

/** How each event type is logged: a record from its envelope (its scope and seq are added), or null for none. */
const BY_TYPE: { readonly [T in VFunEventType]: (e: EnvelopeOf<T>) => { level: LogLevel; msg: string; fields?: Fields } | null } = {
  'vfund.started': (e) => ({
    level: 'info',
    msg: 'vFunD started (journaled)',
    fields: { host: e.data.host, tenants: e.data.config.tenants.length, functions: e.data.config.functions.length },
  }),
  'vfund.stopped': (e) => ({ level: 'info', msg: 'vFunD stopped (journaled)', fields: { reason: e.data.reason } }),
  'negotiation.acked': (e) => ({ level: 'debug', msg: 'negotiation acked', fields: { kind: e.data.kind, fallback: e.data.fallback } }),
  'negotiation.nacked': (e) => ({
    level: SECURITY_REASONS.has(e.data.reason) ? 'warn' : 'info',
    msg: `negotiation nacked: ${e.data.reason}`,
    fields: { kind: e.data.kind, reason: e.data.reason, detail: e.data.detail },
  }),
  'activation.started': (e) => ({ level: 'debug', msg: 'activation started', fields: { capacity: e.data.capacity } }),
  'activation.acked': (e) => ({ level: 'info', msg: 'instance active', fields: { capacity: e.data.capacity } }),
  'activation.nacked': (e) => ({ level: 'warn', msg: `activation nacked: ${e.data.reason}`, fields: { reason: e.data.reason, detail: e.data.detail } }),
  'service.failed': (e) => ({
    level: 'error',
    msg: 'service failed',
    fields: { detail: e.data.detail, ...(e.data.cause !== undefined && { exitCode: e.data.cause.code, signal: e.data.cause.signal }) },
  }),
  'instance.released': (e) => ({
    level: e.data.reason === 'failure' || e.data.reason === 'recovery' ? 'warn' : 'info',
    msg: e.data.reason === 'recovery' ? 'instance released at recovery: its vFunD did not stop' : `instance released (${e.data.reason})`,
    fields: { reason: e.data.reason, calls: e.data.stats?.calls ?? null },
  }),
  'release.nacked': (e) => ({
    level: SECURITY_REASONS.has(e.data.reason) ? 'warn' : 'info',
    msg: `release nacked: ${e.data.reason}`,
    fields: { reason: e.data.reason, detail: e.data.detail },
  }),
  'request.refused': (e) => ({ level: 'warn', msg: `request refused: ${e.data.reason}`, fields: { op: e.data.op, reason: e.data.reason, detail: e.data.detail } }),
  'client.lost': (e) => ({ level: 'warn', msg: 'client lost: its guest went away without releasing', fields: { detail: e.data.detail } }),
  'service.restarted': (e) => ({
    level: 'warn',
    msg: `service restarted (attempt ${e.data.attempt})`,
    fields: { attempt: e.data.attempt, backoffMs: e.data.backoffMs, detail: e.data.detail },
  }),
  'refusals.suppressed': (e) => ({
    level: 'warn',
    msg: `refusals suppressed: ${e.data.total} past the tenant's refusal limit${e.data.ended ? ', the flood ended' : ''}`,
    fields: { total: e.data.total, counts: e.data.counts, disconnections: e.data.disconnections, from: e.data.from, to: e.data.to, ended: e.data.ended },
  }),
  'control.disconnected': (e) => ({
    level: 'warn',
    msg: 'connection closed for flooding',
    fields: { refusals: e.data.refusals, suppressed: e.data.suppressed, detail: e.data.detail },
  }),
  'journal.checkpoint': (e) => ({ level: 'info', msg: `checkpoint over ${e.data.size} events`, fields: { size: e.data.size, root: e.data.root } }),
  'state.snapshot': (e) => ({
    level: 'info',
    msg: `state snapshot at seq ${e.data.seq}`,
    fields: { snapshotSeq: e.data.seq, instances: Object.keys(e.data.state.instances).length },
  }),
  // Never stored: readers put it where a damaged message is; vFunD does not journal it, it is logged if it ever comes.
  'journal.damage-acknowledged': (e) => ({
    level: 'warn',
    msg: 'journal damage acknowledged',
    fields: { stream: e.data.stream, fault: e.data.fault, reason: e.data.reason, by: e.data.by },
  }),
  'admin.evicted': (e) => ({ level: 'warn', msg: `instance ${e.data.instance} evicted by an operator`, fields: { by: e.data.by } }),
  'drain.changed': (e) => ({
    level: 'warn',
    msg: `${e.data.draining ? 'drain started' : 'drain ended'}: ${e.data.tenant === null ? 'the host' : `tenant ${e.data.tenant}`}`,
    fields: { draining: e.data.draining, drained: e.data.tenant, by: e.data.by },
  }),
  'tenant.disabled': (e) => ({ level: 'warn', msg: `tenant ${e.data.tenant} disabled by an operator`, fields: { by: e.data.by } }),
  'tenant.enabled': (e) => ({ level: 'info', msg: `tenant ${e.data.tenant} enabled by an operator`, fields: { by: e.data.by } }),
  'config.reloaded': (e) => ({ level: 'info', msg: 'configuration reloaded (journaled)', fields: { changes: e.data.changes, by: e.data.by } }),
  'device.probed': (e) => ({
    level: e.data.available ? 'info' : 'warn',
    msg: e.data.available ? `device ${e.data.device} available` : `device ${e.data.device} unavailable: its functions fall back to software`,
    fields: { device: e.data.device, detail: e.data.detail, ...(e.data.adapter !== undefined && { adapter: e.data.adapter }) },
  }),
  'device.failover': (e) => ({ level: 'warn', msg: `device ${e.data.device} lost: the instance fails over to its software twin`, fields: { device: e.data.device, detail: e.data.detail } }),
  'crosscheck.mismatch': (e) => ({ level: 'error', msg: `device ${e.data.device}: a cross-checked call differs from the software twin`, fields: { device: e.data.device, call: e.data.call, detail: e.data.detail } }),
};

/** The log record of a journaled event (fields: event, seq, the scope it has, and what the event says), or null. */
export function logRecordOf(e: Envelope): LogRecord | null {
  const map = BY_TYPE[e.type] as ((e: Envelope) => { level: LogLevel; msg: string; fields?: Fields } | null) | undefined;
  const r = map?.(e);
  if (r === null || r === undefined) return null;
  const scope: Fields = {};
  for (const k of ['tenant', 'app', 'fn', 'instance'] as const) if (e[k] !== null) scope[k] = e[k];
  return rec(r.level, r.msg, { event: e.type, seq: e.seq, ...scope, ...r.fields });
}

/**
 * A journal's availability change (Journal.onAvailabilityChange): an outage at `error`, its end at `info`,
 * with how many events wait. The messages are those vFunD always printed.
 */
export function availabilityRecord(url: string, c: JournalAvailability): LogRecord {
  return c.available
    ? rec('info', `journal ${url}: writes again after ${((c.outageMs ?? 0) / 1000).toFixed(1)} s; what waited is written, negotiations are admitted again`, {
        event: 'journal.available',
        journal: url,
        outageMs: c.outageMs ?? 0,
        waiting: c.waiting,
      })
    : rec(
        'error',
        `journal ${url}: cannot write (${c.reason ?? 'unknown'}): new negotiations are refused (journal-unavailable), active instances keep working; ${c.waiting} event(s) wait and are written in order once it can (retrying)`,
        { event: 'journal.unavailable', journal: url, reason: c.reason ?? 'unknown', waiting: c.waiting },
      );
}

/** What a JetStream journal says of itself (JetStreamJournalState, the parts logged). */
export interface JetStreamStateView {
  readonly reachable: boolean;
  readonly available: boolean;
  readonly failClosed: boolean;
  readonly outboxed: number;
  readonly pending: number;
  readonly failure: Error | null;
  readonly lastError: string | null;
}

/**
 * A JetStream journal's change of state as a record: fenced (another writer, a stream that disagrees: sticky,
 * at `error`), unreachable (events go to the outbox, at `warn`; `error` when fail-closed refuses negotiations),
 * reachable again (`info`). Null when nothing an operator acts on changed.
 */
export function jetStreamRecord(url: string, before: JetStreamStateView | null, now: JetStreamStateView): LogRecord | null {
  const base = { journal: url, outboxed: now.outboxed, pending: now.pending };
  if (now.failure !== null && before?.failure?.message !== now.failure.message) {
    return rec('error', `journal ${url}: fenced, this vFunD no longer writes it: ${now.failure.message}`, {
      ...base,
      event: 'journal.fenced',
      err: { code: (now.failure as { code?: unknown }).code ?? null, message: now.failure.message },
    });
  }
  if (now.failure !== null) return null;
  const wasReachable = before === null ? true : before.reachable;
  if (wasReachable && !now.reachable) {
    const refused = now.failClosed && !now.available;
    return rec(
      refused ? 'error' : 'warn',
      `journal ${url}: JetStream unreachable (${now.lastError ?? 'unknown'}): events wait in the outbox${refused ? '; new negotiations are refused (fail-closed)' : ''}`,
      { ...base, event: 'journal.unreachable', reason: now.lastError, failClosed: now.failClosed },
    );
  }
  if (!wasReachable && now.reachable) return rec('info', `journal ${url}: JetStream reachable again; the outbox is written`, { ...base, event: 'journal.reachable' });
  return null;
}
