/**
 * Replay: fold a journal into vFunD's state, and re-run `decide` on the
 * commands the journal records, reporting the first decision that does not
 * come out the same (tampering, or a vFunD whose rules changed).
 *
 * Commands are rebuilt from their events (each command's events are
 * contiguous and share its causationId). A journal holds credential digests,
 * never secrets, so the one thing replay cannot recompute is whether a secret
 * matched: it takes that from the record and recomputes everything else
 * (quota, capacity, ownership, phases, instance ids, fallbacks).
 */
import { canonicalJson } from '../events/canonical.js';
import { ACTIVATION_FAILURES, type InstanceReleased, type VFunEvent } from '../events/catalogue.js';
import { eventOf, type Envelope } from '../events/envelope.js';
import type { VFunDCommand } from './commands.js';
import { CREDENTIAL_MAX, decide, NO_STATS, type CredentialCheck } from './decide.js';
import { evolve } from './evolve.js';
import { initialState, type VFunDState } from './state.js';

/**
 * The first recorded decision that `decide` does not reproduce: the command, what the journal holds, what it recomputes.
 */
export interface Divergence {
  /** Seq of the first event of the command whose decision differs. */
  readonly seq: number;
  /** The command's id, as its events carry it. */
  readonly causationId: string | null;
  /** The type of the command rebuilt from those events. */
  readonly command: VFunDCommand['type'];
  /** Its events as journaled. */
  readonly recorded: readonly VFunEvent[];
  /** Its events as `decide` gives them today. */
  readonly recomputed: readonly VFunEvent[];
}

/**
 * What `replayJournal` found: the state folded from the journal, how many events and commands, and the first divergence.
 */
export interface ReplayReport {
  /** vFunD's state after the last event. */
  readonly state: VFunDState;
  /** Events read. */
  readonly events: number;
  /** Commands rebuilt and re-decided. */
  readonly commands: number;
  /** The first divergence, or null when decide reproduces every recorded decision. */
  readonly divergence: Divergence | null;
}

interface Rebuilt {
  readonly command: VFunDCommand;
  /** The recorded outcome of the secret check, where the command carried one. */
  readonly secretMatched: boolean;
}

const VALID = 'replayed-credential';

/** Rebuild the command behind a group of events (all with one causationId, in order). */
export function rebuildCommand(group: readonly Envelope[]): Rebuilt {
  const first = group[0]!;
  const id = first.causationId ?? first.id;
  const e = eventOf(first);
  const started = group.find((g) => g.type === 'vfund.started');
  if (started && started.type === 'vfund.started') {
    // The counters of recovered instances were read from their control areas: take them from the record.
    const recovered = Object.fromEntries(
      group.flatMap((g) => (g.type === 'instance.released' && g.data.reason === 'recovery' ? [[g.data.instance, g.data.stats] as const] : [])),
    );
    return { command: { type: 'start', id, host: started.data.host, config: started.data.config, recovered }, secretMatched: true };
  }
  const admin = rebuildAdminCommand(group, id);
  if (admin !== null) return { command: admin, secretMatched: true };
  const stopped = group.find((g) => g.type === 'vfund.stopped');
  if (stopped && stopped.type === 'vfund.stopped') {
    return { command: { type: 'stop', id, reason: stopped.data.reason }, secretMatched: true };
  }
  const tenant = first.tenant ?? '';
  switch (e.type) {
    case 'negotiation.acked':
    case 'negotiation.nacked': {
      const d = e.data;
      const nacked = e.type === 'negotiation.nacked' ? e.data : null;
      return {
        command: {
          type: 'negotiate',
          id,
          tenant: d.tenant,
          credential: credentialFor(nacked),
          app: d.app,
          fn: d.fn,
          kind: d.kind as 'hw' | 'sw',
          fallback: e.type === 'negotiation.acked' ? e.data.fallback : false,
        },
        secretMatched: nacked?.reason !== 'credential',
      };
    }
    case 'activation.started':
      return { command: { type: 'activate', id, tenant, credential: VALID, instance: e.data.instance }, secretMatched: true };
    case 'activation.acked':
      return { command: { type: 'activation-result', id, instance: e.data.instance, ok: true, detail: '', ...(e.data.driver !== undefined && { driver: e.data.driver }) }, secretMatched: true };
    case 'activation.nacked':
      if (ACTIVATION_FAILURES.has(e.data.reason)) {
        return {
          command: { type: 'activation-result', id, instance: e.data.instance, ok: false, detail: e.data.detail, reason: e.data.reason as 'driver-failed' | 'no-resources' },
          secretMatched: true,
        };
      }
      return {
        command: { type: 'activate', id, tenant, credential: credentialFor(e.data), instance: e.data.instance },
        secretMatched: e.data.reason !== 'credential',
      };
    case 'release.nacked':
      return {
        command: { type: 'release', id, tenant: e.data.tenant, credential: credentialFor(e.data), instance: e.data.instance, stats: NO_STATS },
        secretMatched: e.data.reason !== 'credential',
      };
    case 'service.failed':
    case 'client.lost': {
      const rel = group.find((g) => g.type === 'instance.released') as Envelope<InstanceReleased> | undefined;
      const reason = e.type === 'service.failed' ? 'failure' : 'lease';
      return {
        command: {
          type: 'reclaim',
          id,
          instance: e.data.instance,
          reason,
          detail: e.data.detail,
          stats: rel === undefined ? NO_STATS : rel.data.stats,
          ...(e.type === 'service.failed' && e.data.cause !== undefined && { cause: e.data.cause }),
        },
        secretMatched: true,
      };
    }
    case 'instance.released':
      if (e.data.reason === 'client') {
        return {
          command: { type: 'release', id, tenant, credential: VALID, instance: e.data.instance, stats: e.data.stats ?? NO_STATS },
          secretMatched: true,
        };
      }
      return {
        command: {
          type: 'reclaim',
          id,
          instance: e.data.instance,
          reason: e.data.reason,
          detail: '',
          stats: e.data.stats,
        },
        secretMatched: true,
      };
    case 'service.restarted':
      return { command: { type: 'service-restarted', id, ...e.data }, secretMatched: true };
    case 'request.refused':
      return { command: { type: 'refuse', id, ...e.data }, secretMatched: true };
    case 'refusals.suppressed':
      return { command: { type: 'summarize-refusals', id, ...e.data }, secretMatched: true };
    case 'control.disconnected':
      return { command: { type: 'disconnect', id, ...e.data }, secretMatched: true };
    case 'journal.checkpoint':
      return { command: { type: 'checkpoint', id, ...e.data }, secretMatched: true };
    case 'state.snapshot':
      // The state after the event before this one: decide recomputes it from the replayed state.
      return { command: { type: 'snapshot', id, seq: first.seq - 1 }, secretMatched: true };
    case 'device.probed':
      return { command: { type: 'probe-devices', id, probes: group.flatMap((g) => (g.type === 'device.probed' ? [g.data] : [])) }, secretMatched: true };
    case 'device.failover':
      return { command: { type: 'device-failover', id, ...e.data }, secretMatched: true };
    case 'crosscheck.mismatch':
      return { command: { type: 'crosscheck-mismatch', id, ...e.data }, secretMatched: true };
    case 'vfund.started':
    case 'vfund.stopped':
    case 'admin.evicted':
    case 'drain.changed':
    case 'tenant.disabled':
    case 'tenant.enabled':
    case 'config.reloaded':
      throw new Error('unreachable: handled above');
    case 'journal.damage-acknowledged':
      throw new Error('unreachable: not a decision (replayJournal skips it)');
  }
}

/** The admin command behind a group holding an operators' event (the released instances' counters from the record), or null. */
function rebuildAdminCommand(group: readonly Envelope[], id: string): VFunDCommand | null {
  const stats = Object.fromEntries(group.flatMap((g) => (g.type === 'instance.released' ? [[g.data.instance, g.data.stats] as const] : [])));
  for (const g of group) {
    switch (g.type) {
      case 'admin.evicted':
        return { type: 'evict', id, instance: g.data.instance, by: g.data.by, stats: Object.hasOwn(stats, g.data.instance) ? stats[g.data.instance]! : null };
      case 'drain.changed':
        return { type: 'drain', id, tenant: g.data.tenant, draining: g.data.draining, by: g.data.by };
      case 'tenant.disabled':
        return { type: 'disable-tenant', id, tenant: g.data.tenant, by: g.data.by, stats };
      case 'tenant.enabled':
        return { type: 'enable-tenant', id, tenant: g.data.tenant, by: g.data.by };
      case 'config.reloaded':
        return { type: 'reload', id, config: g.data.config, by: g.data.by, stats };
      default:
        break;
    }
  }
  return null;
}

/** A credential that fails the same format check the recorded one failed, else a well-formed one. */
function credentialFor(nack: { reason: string; detail: string } | null): string {
  if (nack?.reason === 'bad-request' && nack.detail.startsWith('credential')) return 'x'.repeat(CREDENTIAL_MAX + 1);
  return VALID;
}

/** Group contiguous envelopes by causationId. */
export async function* commandGroups(envelopes: AsyncIterable<Envelope> | Iterable<Envelope>): AsyncGenerator<Envelope[]> {
  let group: Envelope[] = [];
  for await (const env of envelopes) {
    if (group.length > 0 && (env.causationId === null || env.causationId !== group[0]!.causationId)) {
      yield group;
      group = [];
    }
    group.push(env);
  }
  if (group.length > 0) yield group;
}

/** Fold a journal (from `from`: the state before its first envelope) and check every recorded decision against decide. */
export async function replayJournal(envelopes: AsyncIterable<Envelope> | Iterable<Envelope>, from: VFunDState = initialState): Promise<ReplayReport> {
  let state = from;
  let events = 0;
  let commands = 0;
  let divergence: Divergence | null = null;
  for await (const group of commandGroups(envelopes)) {
    const recorded = group.map(eventOf);
    if (divergence === null && group[0]!.type !== 'journal.damage-acknowledged') {
      const { command, secretMatched } = rebuildCommand(group);
      const auth: CredentialCheck = () => secretMatched;
      const recomputed = decide(command, state, auth);
      if (canonicalJson(recomputed) !== canonicalJson(recorded)) {
        divergence = { seq: group[0]!.seq, causationId: group[0]!.causationId, command: command.type, recorded, recomputed };
      }
    }
    for (const e of recorded) state = evolve(state, e);
    events += group.length;
    commands += 1;
  }
  return { state, events, commands, divergence };
}
