/**
 * The refusal limiter: how many of a tenant's refused control requests vFunD journals one by one.
 * Pure: every function takes the state and the time (from the injected clock) and returns the
 * next state and what to do; no timers, no I/O. The control server holds one state per tenant
 * (all of the tenant's connections share it, so reconnecting does not refill it) and carries the
 * effects out.
 *
 * - A token bucket (`burst`, refilled at `refillPerSecond`): a refusal that finds a token is
 *   journaled as `request.refused`, as always; one that finds none is *suppressed*: answered to
 *   the guest and counted, not journaled one by one.
 * - Suppressed refusals open a *flood*, cut into periods of `summaryIntervalMs` from the first one.
 *   At the end of each period one `refusals.suppressed` summary is journaled with the counts by
 *   reason. The flood has ended (`ended: true`, no further period) when the period counted no
 *   suppressed refusal or when the bucket has a token again at its end.
 * - A connection is closed for flooding when, within one flood, more than `disconnectAfter` of its
 *   refusals were suppressed, or when it had suppressed refusals in `disconnectIntervals` periods
 *   in a row. The first such disconnection of a period is journaled on its own
 *   (`control.disconnected`); later ones in the same period only counted in its summary, so a
 *   guest that reconnects in a loop cannot turn disconnections into a flood of their own.
 *
 * What one tenant can journal is thus bounded: in any span of t ms at most
 * `burst + refillPerSecond * t / 1000` refusals, and one summary plus one disconnection per
 * `summaryIntervalMs` (docs/operator-guide.md, "Refusal floods").
 */
import type { NackReason } from '../domain/types.js';

/**
 * How many refused control requests of one tenant are journaled one by one, and when a flooding connection is closed (see the module's comment).
 */
export interface RefusalLimits {
  /** Refusals journaled one by one in a burst (bucket size). */
  readonly burst: number;
  /** Tokens added per second: the sustained rate of refusals journaled one by one. */
  readonly refillPerSecond: number;
  /** Length of a summary period, in ms. */
  readonly summaryIntervalMs: number;
  /** A connection with more suppressed refusals than this within one flood is closed. */
  readonly disconnectAfter: number;
  /** A connection with suppressed refusals in this many periods in a row is closed. */
  readonly disconnectIntervals: number;
}

/**
 * Defaults. A healthy guest has no refusals at all; a guest with a bug (a wrong secret, a clock
 * out of step) gets its first 20 refusals journaled in full, detail included, then one a second
 * and a summary every 10 s. A connection whose refusals go on past the bucket is closed after
 * 200 suppressed refusals, or after 3 periods in a row (20-30 s of it).
 */
export const DEFAULT_REFUSAL_LIMITS: RefusalLimits = {
  burst: 20,
  refillPerSecond: 1,
  summaryIntervalMs: 10_000,
  disconnectAfter: 200,
  disconnectIntervals: 3,
};

export type ReasonCounts = Readonly<Partial<Record<NackReason, number>>>;

interface ConnectionState {
  /** Refusals on this connection since it opened (journaled or not). */
  readonly refusals: number;
  /** Of them, suppressed within the current flood. */
  readonly suppressed: number;
  /** Closed periods in a row, within the current flood, with suppressed refusals of this connection. */
  readonly streak: number;
  /** It had a suppressed refusal in the open period. */
  readonly inPeriod: boolean;
  /** A disconnection was decided: it is never decided twice. */
  readonly disconnected: boolean;
}

interface Period {
  readonly start: number;
  readonly end: number;
  readonly counts: ReasonCounts;
  /** Connections closed for flooding in this period. */
  readonly disconnections: number;
  /** The first of them was journaled on its own. */
  readonly disconnectJournaled: boolean;
}

export interface LimiterState {
  /** Tokens at `at` (fractional). */
  readonly tokens: number;
  /** Time the tokens were computed at (ms): never moves backwards. */
  readonly at: number;
  /** The open period of a flood, or null when there is no flood. */
  readonly period: Period | null;
  readonly connections: Readonly<Record<string, ConnectionState>>;
}

/** Journal one summary of the refusals suppressed over [from, to). */
export interface SummaryEffect {
  readonly type: 'summary';
  readonly from: number;
  readonly to: number;
  readonly counts: ReasonCounts;
  readonly total: number;
  readonly disconnections: number;
  readonly ended: boolean;
}

/** Close a connection for flooding; journal it on its own when `journal`, else it is counted in the period's summary. */
export interface DisconnectEffect {
  readonly type: 'disconnect';
  readonly connection: string;
  readonly refusals: number;
  readonly suppressed: number;
  readonly rule: 'suppressed' | 'periods';
  readonly journal: boolean;
}

export type LimiterEffect = SummaryEffect | DisconnectEffect;

export interface Step {
  readonly state: LimiterState;
  readonly effects: readonly LimiterEffect[];
}

export type Verdict = 'journal' | 'suppress';

/** A full bucket, no flood, no connection. */
export function initialLimiter(limits: RefusalLimits, now: number): LimiterState {
  return { tokens: limits.burst, at: now, period: null, connections: {} };
}

/** When `tick` has something to do next (the end of the open period), or null. */
export function nextDeadline(state: LimiterState): number | null {
  return state.period?.end ?? null;
}

/** Refill the bucket up to `now` (a clock that went back refills nothing). */
function refill(state: LimiterState, limits: RefusalLimits, now: number): LimiterState {
  if (!(now > state.at)) return state;
  return { ...state, tokens: Math.min(limits.burst, state.tokens + ((now - state.at) * limits.refillPerSecond) / 1000), at: now };
}

function total(counts: ReasonCounts): number {
  let n = 0;
  for (const v of Object.values(counts)) n += v ?? 0;
  return n;
}

function mapConnections(state: LimiterState, f: (c: ConnectionState) => ConnectionState): LimiterState['connections'] {
  return Object.fromEntries(Object.entries(state.connections).map(([id, c]) => [id, f(c)]));
}

/** Decide a disconnection (in the open period), once per connection. */
function disconnect(state: LimiterState, id: string, rule: DisconnectEffect['rule']): Step {
  const c = state.connections[id];
  const p = state.period;
  if (!c || c.disconnected || !p) return { state, effects: [] };
  const journal = !p.disconnectJournaled;
  return {
    state: {
      ...state,
      period: { ...p, disconnections: p.disconnections + 1, disconnectJournaled: true },
      connections: { ...state.connections, [id]: { ...c, disconnected: true } },
    },
    effects: [{ type: 'disconnect', connection: id, refusals: c.refusals, suppressed: c.suppressed, rule, journal }],
  };
}

/** Close the open period at its end: its summary, then either the next period or the end of the flood. */
function closePeriod(state: LimiterState, limits: RefusalLimits): Step {
  const p = state.period!;
  const atEnd = refill(state, limits, p.end);
  const count = total(p.counts);
  const ended = count === 0 || atEnd.tokens >= 1;
  const summary: SummaryEffect = { type: 'summary', from: p.start, to: p.end, counts: p.counts, total: count, disconnections: p.disconnections, ended };
  if (ended) {
    const connections = mapConnections(state, (c) => ({ ...c, suppressed: 0, streak: 0, inPeriod: false }));
    return { state: { ...state, period: null, connections }, effects: [summary] };
  }
  const next: LimiterState = {
    ...state,
    period: { start: p.end, end: p.end + limits.summaryIntervalMs, counts: {}, disconnections: 0, disconnectJournaled: false },
    connections: mapConnections(state, (c) => ({ ...c, streak: c.inPeriod ? c.streak + 1 : 0, inPeriod: false })),
  };
  const effects: LimiterEffect[] = [summary];
  let s = next;
  for (const [id, c] of Object.entries(next.connections)) {
    if (c.streak >= limits.disconnectIntervals) {
      const d = disconnect(s, id, 'periods');
      s = d.state;
      effects.push(...d.effects);
    }
  }
  return { state: s, effects };
}

/** Close every period that ended by `now`. */
export function tick(state: LimiterState, limits: RefusalLimits, now: number): Step {
  let s = state;
  const effects: LimiterEffect[] = [];
  while (s.period !== null && s.period.end <= now) {
    const step = closePeriod(s, limits);
    s = step.state;
    effects.push(...step.effects);
  }
  return { state: s, effects };
}

/** A refusal on `connection`: journal it one by one, or suppress (count) it. */
export function refuse(state: LimiterState, limits: RefusalLimits, now: number, connection: string, reason: NackReason): Step & { readonly verdict: Verdict } {
  const ticked = tick(state, limits, now);
  const s = refill(ticked.state, limits, now);
  const known = Object.hasOwn(s.connections, connection) ? s.connections[connection] : undefined;
  const c: ConnectionState = known ?? { refusals: 0, suppressed: 0, streak: 0, inPeriod: false, disconnected: false };
  if (s.tokens >= 1) {
    const next = { ...s, tokens: s.tokens - 1, connections: { ...s.connections, [connection]: { ...c, refusals: c.refusals + 1 } } };
    return { state: next, effects: ticked.effects, verdict: 'journal' };
  }
  const p: Period = s.period ?? { start: now, end: now + limits.summaryIntervalMs, counts: {}, disconnections: 0, disconnectJournaled: false };
  const updated: ConnectionState = { ...c, refusals: c.refusals + 1, suppressed: c.suppressed + 1, inPeriod: true };
  const next: LimiterState = {
    ...s,
    period: { ...p, counts: { ...p.counts, [reason]: (p.counts[reason] ?? 0) + 1 } },
    connections: { ...s.connections, [connection]: updated },
  };
  if (updated.suppressed > limits.disconnectAfter) {
    const d = disconnect(next, connection, 'suppressed');
    return { state: d.state, effects: [...ticked.effects, ...d.effects], verdict: 'suppress' };
  }
  return { state: next, effects: ticked.effects, verdict: 'suppress' };
}

/** A connection closed: forget it (the bucket is the tenant's and stays). */
export function forget(state: LimiterState, connection: string): LimiterState {
  if (!Object.hasOwn(state.connections, connection)) return state;
  const { [connection]: _gone, ...rest } = state.connections;
  return { ...state, connections: rest };
}

/** End the flood now (vFunD stops): the open period's summary, cut at `now`, with `ended`. */
export function flush(state: LimiterState, limits: RefusalLimits, now: number): Step {
  const ticked = tick(state, limits, now);
  const p = ticked.state.period;
  if (p === null) return ticked;
  const summary: SummaryEffect = {
    type: 'summary',
    from: p.start,
    to: Math.max(p.start, Math.min(now, p.end)),
    counts: p.counts,
    total: total(p.counts),
    disconnections: p.disconnections,
    ended: true,
  };
  const connections = mapConnections(ticked.state, (c) => ({ ...c, suppressed: 0, streak: 0, inPeriod: false }));
  return { state: { ...ticked.state, period: null, connections }, effects: [...ticked.effects, summary] };
}
