/**
 * The refusal limiter (src/actors/refusal-limiter.ts): a tenant's token bucket on journaled
 * refusals, the summaries of what it suppressed, and the disconnection of a connection that
 * keeps flooding. Pure, so driven here by generated refusals and clock ticks.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { NackReason } from '../../src/events/catalogue.js';
import {
  DEFAULT_REFUSAL_LIMITS,
  flush,
  forget,
  initialLimiter,
  nextDeadline,
  refuse,
  tick,
  type DisconnectEffect,
  type LimiterEffect,
  type LimiterState,
  type RefusalLimits,
  type SummaryEffect,
} from '../../src/actors/refusal-limiter.js';

const T0 = Date.UTC(2026, 0, 1);
const limits: RefusalLimits = { burst: 5, refillPerSecond: 1, summaryIntervalMs: 10_000, disconnectAfter: 20, disconnectIntervals: 3 };

/** A little driver: refusals and ticks at given times, collecting verdicts and effects. */
function run(l: RefusalLimits = limits) {
  let state: LimiterState = initialLimiter(l, T0);
  const effects: LimiterEffect[] = [];
  const verdicts: string[] = [];
  return {
    refuse(at: number, conn = 'c1', reason: NackReason = 'malformed') {
      const step = refuse(state, l, T0 + at, conn, reason);
      state = step.state;
      effects.push(...step.effects);
      verdicts.push(step.verdict);
      return step;
    },
    tick(at: number) {
      const step = tick(state, l, T0 + at);
      state = step.state;
      effects.push(...step.effects);
      return step.effects;
    },
    flush(at: number) {
      const step = flush(state, l, T0 + at);
      state = step.state;
      effects.push(...step.effects);
      return step.effects;
    },
    forget(conn: string) {
      state = forget(state, conn);
    },
    get state() {
      return state;
    },
    effects,
    verdicts,
    summaries: () => effects.filter((e): e is SummaryEffect => e.type === 'summary'),
    disconnects: () => effects.filter((e): e is DisconnectEffect => e.type === 'disconnect'),
  };
}

describe('refusal limiter', () => {
  it('journals a burst, suppresses the rest, and summarizes them by reason at the end of the period', () => {
    const r = run();
    for (let i = 0; i < 8; i++) r.refuse(i, 'c1', i % 2 ? 'replayed' : 'malformed');
    expect(r.verdicts).toEqual(['journal', 'journal', 'journal', 'journal', 'journal', 'suppress', 'suppress', 'suppress']);
    expect(nextDeadline(r.state)).toBe(T0 + 5 + 10_000);
    expect(r.tick(10_004)).toEqual([]);
    // The flood stopped: at the end of its period the bucket has tokens again.
    expect(r.tick(10_005)).toEqual([{ type: 'summary', from: T0 + 5, to: T0 + 10_005, counts: { replayed: 2, malformed: 1 }, total: 3, disconnections: 0, ended: true }]);
    expect(nextDeadline(r.state)).toBeNull();
  });

  it('refills at its rate: one more refusal journaled per second of quiet', () => {
    const r = run();
    for (let i = 0; i < 6; i++) r.refuse(0);
    expect(r.verdicts.filter((v) => v === 'journal')).toHaveLength(5);
    r.refuse(999);
    expect(r.verdicts.at(-1)).toBe('suppress');
    r.refuse(1000);
    expect(r.verdicts.at(-1)).toBe('journal');
  });

  it('a flood that goes on gets one summary per period, then one that says it ended', () => {
    const r = run({ ...limits, disconnectAfter: 1e9, disconnectIntervals: 1e6 });
    // 10 refusals a second for 25 s (10x the refill), then silence.
    for (let t = 0; t < 25_000; t += 100) r.refuse(t);
    r.tick(60_000);
    const s = r.summaries();
    expect(s.map((x) => [x.from - T0, x.to - T0, x.ended])).toEqual([
      [500, 10_500, false],
      [10_500, 20_500, false],
      [20_500, 30_500, true],
    ]);
    const journaled = r.verdicts.filter((v) => v === 'journal').length;
    expect(journaled + s.reduce((n, x) => n + x.total, 0)).toBe(250);
    expect(journaled).toBeLessThanOrEqual(5 + 25);
  });

  it('closes a connection past `disconnectAfter` suppressed refusals, journaling the first disconnection of a period only', () => {
    const r = run();
    for (let i = 0; i < 5 + 21; i++) r.refuse(0, 'c1');
    expect(r.disconnects()).toEqual([{ type: 'disconnect', connection: 'c1', refusals: 26, suppressed: 21, rule: 'suppressed', journal: true }]);
    r.refuse(1, 'c1'); // late lines of a closed connection decide nothing more
    expect(r.disconnects()).toHaveLength(1);
    // The guest reconnects at once: the bucket is the tenant's, still empty.
    r.forget('c1');
    for (let i = 0; i < 21; i++) r.refuse(2, 'c2');
    expect(r.verdicts.at(-1)).toBe('suppress');
    expect(r.disconnects()[1]).toMatchObject({ connection: 'c2', suppressed: 21, journal: false });
    r.tick(20_000);
    expect(r.summaries()).toEqual([expect.objectContaining({ total: 43, disconnections: 2, ended: true })]);
  });

  it('closes a connection with suppressed refusals in `disconnectIntervals` periods in a row', () => {
    const r = run({ ...limits, disconnectAfter: 1e9 });
    // 3 refusals a second: past the refill of 1 a second, far below disconnectAfter.
    for (let t = 0; t < 40_000; t += 333) r.refuse(t, 'slow');
    const d = r.disconnects();
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ connection: 'slow', rule: 'periods', journal: true });
    // Decided when its third period in a row closed.
    const third = r.summaries()[2]!;
    expect(r.effects.indexOf(d[0]!)).toBe(r.effects.indexOf(third) + 1);
  });

  it('a clock that goes back refills nothing and breaks nothing', () => {
    const r = run();
    for (let i = 0; i < 5; i++) r.refuse(5_000);
    r.refuse(1_000);
    expect(r.verdicts.at(-1)).toBe('suppress');
    expect(r.state.tokens).toBeGreaterThanOrEqual(0);
    r.refuse(6_000);
    expect(r.verdicts.at(-1)).toBe('journal');
  });

  it('flush ends an open flood now, with its summary', () => {
    const r = run();
    for (let i = 0; i < 7; i++) r.refuse(0);
    expect(r.flush(3_000)).toEqual([{ type: 'summary', from: T0, to: T0 + 3_000, counts: { malformed: 2 }, total: 2, disconnections: 0, ended: true }]);
    expect(r.flush(4_000)).toEqual([]);
  });

  it('defaults: 20 a burst, 1 a second, a summary every 10 s, cut after 200 suppressed or 3 periods', () => {
    expect(DEFAULT_REFUSAL_LIMITS).toEqual({ burst: 20, refillPerSecond: 1, summaryIntervalMs: 10_000, disconnectAfter: 200, disconnectIntervals: 3 });
  });
});

const reasons: readonly NackReason[] = ['malformed', 'replayed', 'credential', 'not-owner'];
const limitsArb: fc.Arbitrary<RefusalLimits> = fc.record({
  burst: fc.integer({ min: 1, max: 30 }),
  refillPerSecond: fc.integer({ min: 1, max: 50 }).map((n) => n / 10),
  summaryIntervalMs: fc.integer({ min: 100, max: 5_000 }),
  disconnectAfter: fc.integer({ min: 1, max: 60 }),
  disconnectIntervals: fc.integer({ min: 1, max: 4 }),
});
type Op =
  | { readonly op: 'refuse'; readonly dt: number; readonly conn: number; readonly reason: NackReason }
  | { readonly op: 'tick'; readonly dt: number }
  | { readonly op: 'close'; readonly dt: number; readonly conn: number };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant('refuse' as const), dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 3_000 })), conn: fc.integer({ min: 0, max: 3 }), reason: fc.constantFrom(...reasons) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('tick' as const), dt: fc.integer({ min: 0, max: 12_000 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('close' as const), dt: fc.constant(0), conn: fc.integer({ min: 0, max: 3 }) }) },
);

describe('refusal limiter, generated refusals and clock ticks', () => {
  test.prop([limitsArb, fc.array(opArb, { maxLength: 300 })])(
    'journaled + suppressed = total; at most burst + rate*t journaled; suppressed refusals summarized once, one summary per period',
    (l, ops) => {
      let state = initialLimiter(l, T0);
      let now = T0;
      let journaled = 0;
      const suppressedAt: number[] = [];
      // Every effect, with the time it was decided and whether it came from the final flush.
      const log: { effect: LimiterEffect; at: number; final: boolean }[] = [];
      const take = (effects: readonly LimiterEffect[], final = false) => {
        for (const effect of effects) log.push({ effect, at: now, final });
      };
      for (const o of ops) {
        now += o.dt;
        if (o.op === 'tick') {
          const step = tick(state, l, now);
          state = step.state;
          take(step.effects);
        } else if (o.op === 'close') {
          state = forget(state, `c${o.conn}`);
        } else {
          const step = refuse(state, l, now, `c${o.conn}`, o.reason);
          state = step.state;
          take(step.effects);
          if (step.verdict === 'journal') journaled++;
          else suppressedAt.push(now);
          // The bucket holds at most `burst` and never goes below nothing.
          expect(state.tokens).toBeGreaterThanOrEqual(0);
          expect(state.tokens).toBeLessThanOrEqual(l.burst);
          // At most burst + rate * t journaled one by one.
          expect(journaled).toBeLessThanOrEqual(l.burst + (l.refillPerSecond * (now - T0)) / 1000 + 1e-9);
          // While refusals are suppressed, a period is open: its summary is due.
          if (step.verdict === 'suppress') expect(nextDeadline(state)).not.toBeNull();
        }
      }
      const end = flush(state, l, now);
      take(end.effects, true);
      expect(nextDeadline(end.state)).toBeNull();

      const summaries = log.filter((x): x is { effect: SummaryEffect; at: number; final: boolean } => x.effect.type === 'summary');
      // journaled + suppressed = total, and every suppressed refusal is in exactly one summary, of its period.
      expect(journaled + suppressedAt.length).toBe(ops.filter((o) => o.op === 'refuse').length);
      expect(summaries.reduce((n, s) => n + s.effect.total, 0)).toBe(suppressedAt.length);
      for (const { effect: s, at, final } of summaries) {
        expect(Object.values(s.counts).reduce((a, b) => a + (b ?? 0), 0)).toBe(s.total);
        const inside = suppressedAt.filter((t) => t >= s.from && (t < s.to || (final && t === s.to))).length;
        expect(inside).toBe(s.total);
        // A summary is never early, spans at most one period, and only the flush cuts one short.
        expect(at).toBeGreaterThanOrEqual(s.to);
        expect(s.to - s.from).toBeLessThanOrEqual(l.summaryIntervalMs);
        if (!final) expect(s.to - s.from).toBe(l.summaryIntervalMs);
      }
      // Periods do not overlap; a flood that goes on continues in the very next period.
      for (let i = 1; i < summaries.length; i++) {
        const prev = summaries[i - 1]!.effect;
        const cur = summaries[i]!.effect;
        expect(cur.from).toBeGreaterThanOrEqual(prev.to);
        if (!prev.ended) expect(cur.from).toBe(prev.to);
      }
      if (summaries.length > 0) expect(summaries.at(-1)!.effect.ended).toBe(true);
      // At most one disconnection journaled on its own per period; each is counted in its period's summary.
      let journaledInPeriod = 0;
      let inPeriod = 0;
      for (const { effect } of log) {
        if (effect.type === 'disconnect') {
          inPeriod++;
          if (effect.journal) journaledInPeriod++;
          expect(journaledInPeriod).toBeLessThanOrEqual(1);
          expect(effect.suppressed > l.disconnectAfter || effect.rule === 'periods').toBe(true);
        } else {
          expect(effect.disconnections).toBe(inPeriod);
          journaledInPeriod = 0;
          inPeriod = 0;
        }
      }
    },
  );

  test.prop([limitsArb, fc.array(fc.tuple(fc.integer({ min: -5_000, max: 50_000 }), fc.constantFrom(...reasons)), { maxLength: 200 })])(
    'a clock that jumps back and forth never breaks the accounts',
    (l, refusals) => {
      let state = initialLimiter(l, T0);
      let journaled = 0;
      let suppressed = 0;
      let summarized = 0;
      for (const [dt, reason] of refusals) {
        const step = refuse(state, l, T0 + dt, 'c', reason);
        state = step.state;
        if (step.verdict === 'journal') journaled++;
        else suppressed++;
        for (const e of step.effects) if (e.type === 'summary') summarized += e.total;
        expect(state.tokens).toBeGreaterThanOrEqual(0);
        expect(state.tokens).toBeLessThanOrEqual(l.burst);
      }
      for (const e of flush(state, l, T0 + 1e9).effects) if (e.type === 'summary') summarized += e.total;
      expect(journaled + suppressed).toBe(refusals.length);
      expect(summarized).toBe(suppressed);
    },
  );
});
