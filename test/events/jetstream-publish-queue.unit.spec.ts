/**
 * The JetStream journal's publish queue (src/events/adapters/jetstream/publish-queue.ts), without
 * a server: the pure state machine is driven by a small model of a JetStream stream (msg-id dedupe,
 * the expectation headers), an outbox, a retry timer and a connection, through generated sequences
 * of appends, acks, refusals, lost acks, timeouts, failed look-ups, outbox writes, disconnects,
 * another writer and close. After every step: our envelope N is only ever stored at stream seq N,
 * never after another writer's message, nothing twice; an append resolves once, and only when all
 * its envelopes are durable; the durable head never goes back; a fenced queue sends nothing again.
 * Once the world settles, everything is stored in order and every append resolved, or the queue is
 * fenced (another writer, a failed outbox write, JetStream refusing for good) and every append not
 * durable rejected. The server-backed behaviour is in jetstream-journal.int.spec.ts and
 * outbox.int.spec.ts.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { ConcurrencyError, JournalCorruptError, VirtFunError } from '../../src/errors.js';
import {
  ackedSeq,
  durableHead,
  failureOf,
  initialPublishState,
  isReachable,
  itemAt,
  pendingCount,
  step,
  tailHead,
  tailSeq,
  type PublishConfig,
  type PublishEffect,
  type PublishInput,
  type PublishState,
  type QueuedItem,
} from '../../src/events/adapters/jetstream/publish-queue.js';

const STREAM = 'VFUN_EVT_h';
type Item = QueuedItem<null>;
type Effect = PublishEffect<null>;
type Publish = Extract<Effect, { type: 'publish' }>;
type Query = Extract<Effect, { type: 'lookup' | 'inspectStream' | 'fetchStored' }>;
interface Msg {
  readonly id: string;
  readonly subject: string;
  readonly text: string;
  readonly ours: boolean;
}

const textOf = (seq: number): string => `{"id":"e-${seq}"}`;
const refusal = (code: number): Error => Object.assign(new Error(`wrong last sequence (${code})`), { code });

interface WorldOptions {
  readonly prefix?: number;
  readonly adopted?: readonly string[];
  readonly maxInFlight?: number;
  readonly outbox?: boolean;
  readonly clustered?: boolean;
  /** JetStream still remembers every msg-id (else a copy of a stored envelope is refused, as after the dedupe window). */
  readonly dedupe?: boolean;
}

/** The publish queue in a model of its surroundings; every step checks the invariants. */
class World {
  readonly config: PublishConfig;
  state: PublishState<null>;
  readonly stream: Msg[] = [];
  readonly ours: Item[] = [];
  readonly publishes: Publish[] = [];
  readonly queries: Query[] = [];
  readonly outboxWrites: number[] = [];
  readonly appends = new Map<number, 'pending' | 'resolved' | Error>();
  readonly effects: Effect[] = [];
  timer: number | null = null;
  outboxWritten = 0;
  outboxThrough = 0;
  clears = 0;
  private readonly dedupe: boolean;
  private readonly ids = new Map<string, number>();
  private readonly lastBySubject = new Map<string, number>();
  /** Our envelopes stored from seq 1 on, without a gap. */
  private prefix = 0;
  private foreignSeen = false;
  private foreign = 0;
  private readonly subjectLast = new Map<string, number>();
  private readonly genLast = new Map<number, number>();
  private durableSeen = 0;
  private fencedBy: Error | null = null;

  constructor(o: WorldOptions = {}) {
    this.config = { url: 'nats://test', stream: STREAM, maxInFlight: o.maxInFlight ?? 8, retryMs: 100, outbox: o.outbox ?? true };
    this.dedupe = o.dedupe ?? true;
    const prefix = o.prefix ?? 0;
    for (let seq = 1; seq <= prefix; seq++) {
      this.store({ id: `e-${seq}`, subject: 'a', text: textOf(seq), ours: true });
      this.ours.push(this.item(seq, 'a', undefined, false));
    }
    this.state = initialPublishState(this.config, prefix === 0 ? null : { seq: prefix, hash: `h${prefix}` }, o.clustered ?? false);
    this.durableSeen = prefix;
    if ((o.adopted ?? []).length > 0) {
      const overlay = new Map<string, number>();
      const items = (o.adopted ?? []).map((subject, i) => {
        const item = this.item(prefix + 1 + i, subject, overlay.get(subject), false);
        overlay.set(subject, item.seq);
        return item;
      });
      for (const [s, seq] of overlay) this.subjectLast.set(s, seq);
      this.ours.push(...items);
      this.outboxWritten = this.outboxThrough = prefix + items.length;
      this.apply({ type: 'adopt', items });
    }
  }

  item(seq: number, subject: string, prevOnSubject: number | undefined, endsAppend: boolean): Item {
    return { seq, id: `e-${seq}`, hash: `h${seq}`, subject, canonical: textOf(seq), prevOnSubject, endsAppend, payload: null };
  }

  /** One input through step(), its effects carried out by the model, then the invariants. */
  apply(input: PublishInput<null>): readonly Effect[] {
    const before = Object.freeze(this.state);
    Object.freeze(before.mode);
    const { state, effects } = step(before, this.config, input);
    this.state = state;
    for (const e of effects) this.perform(e, before);
    this.effects.push(...effects);
    this.check();
    return effects;
  }

  private perform(e: Effect, before: PublishState<null>): void {
    const sending = e.type === 'publish' || e.type === 'lookup' || e.type === 'inspectStream' || e.type === 'fetchStored' || e.type === 'toOutbox';
    if (sending) expect(failureOf(before), `${e.type} after a fence`).toBeNull();
    switch (e.type) {
      case 'publish': {
        expect(e.expect.lastSequence).toBe(e.item.seq - 1);
        expect(e.item.seq).toBeGreaterThan(ackedSeq(before));
        expect(e.item).toBe(this.ours[e.item.seq - 1]);
        // In one generation, envelopes go out one after the other.
        const last = this.genLast.get(e.gen);
        if (last !== undefined) expect(e.item.seq).toBe(last + 1);
        this.genLast.set(e.gen, e.item.seq);
        if (e.expect.lastMsgID !== undefined) expect(e.expect.lastMsgID).toBe(`e-${e.item.seq - 1}`);
        this.publishes.push(e);
        return;
      }
      case 'lookup':
      case 'inspectStream':
      case 'fetchStored':
        this.queries.push(e);
        return;
      case 'toOutbox': {
        expect(this.config.outbox).toBe(true);
        expect(e.items.map((i) => i.seq)).toEqual(e.items.map((_, k) => (e.items[0] as Item).seq + k));
        expect((e.items[0] as Item).seq).toBeGreaterThan(this.outboxThrough);
        this.outboxThrough = (e.items[e.items.length - 1] as Item).seq;
        this.outboxWrites.push(this.outboxThrough);
        return;
      }
      case 'clearOutbox':
        this.clears++;
        return;
      case 'armRetry':
        expect(e.delayMs).toBeGreaterThanOrEqual(this.config.retryMs);
        expect(e.delayMs).toBeLessThanOrEqual(2000);
        this.timer = e.token;
        return;
      case 'cancelRetry':
        this.timer = null;
        return;
      case 'resolve':
        for (const seq of e.appends) {
          expect(this.appends.get(seq), `append ending at ${seq} settled twice`).toBe('pending');
          expect(seq, `append ending at ${seq} resolved before it is durable`).toBeLessThanOrEqual(this.durableTo());
          this.appends.set(seq, 'resolved');
        }
        return;
      case 'reject':
        for (const seq of e.appends) {
          expect(this.appends.get(seq), `append ending at ${seq} settled twice`).toBe('pending');
          this.appends.set(seq, e.error);
        }
        return;
      case 'drained':
        expect(pendingCount(this.state) === 0 || failureOf(this.state) !== null).toBe(true);
        return;
      case 'notify':
        return;
    }
  }

  /** A message lands in the stream: our envelope N only ever as message N, never after another writer's, nothing twice. */
  private store(m: Msg): number {
    expect(this.ids.has(m.id), `${m.id} stored twice`).toBe(false);
    if (m.ours) {
      expect(this.foreignSeen, `our ${m.id} stored after another writer's message`).toBe(false);
      expect(m.id).toBe(`e-${this.stream.length + 1}`);
    } else this.foreignSeen = true;
    this.stream.push(m);
    this.ids.set(m.id, this.stream.length);
    this.lastBySubject.set(m.subject, this.stream.length);
    if (m.ours && this.prefix === this.stream.length - 1) this.prefix++;
    return this.stream.length;
  }

  /** Everything known durable: our envelopes stored without a gap, or written to the outbox. */
  durableTo(): number {
    return Math.max(this.prefix, this.outboxWritten);
  }

  private check(): void {
    const s = this.state;
    // The durable head never goes back, and is durable.
    const head = durableHead(s)?.seq ?? 0;
    expect(head).toBeGreaterThanOrEqual(this.durableSeen);
    expect(head).toBeLessThanOrEqual(this.durableTo());
    this.durableSeen = head;
    expect(s.inFlight).toBeGreaterThanOrEqual(0);
    expect(s.inFlight).toBeLessThanOrEqual(this.config.maxInFlight);
    expect(tailSeq(s)).toBe(this.ours.length);
    if (s.diverted) expect(isReachable(s)).toBe(false);
    // A fence is sticky.
    if (this.fencedBy !== null) expect(failureOf(s)).toBe(this.fencedBy);
    this.fencedBy = failureOf(s);
  }

  // -- what the world does ------------------------------------------------------

  enqueue(subjects: readonly string[]): readonly Effect[] {
    const refused = this.state.closing || failureOf(this.state) !== null;
    const overlay = new Map<string, number>();
    const items = subjects.map((subject, i) => {
      const seq = tailSeq(this.state) + 1 + i;
      const item = this.item(seq, subject, overlay.get(subject) ?? this.subjectLast.get(subject), i === subjects.length - 1);
      overlay.set(subject, seq);
      return item;
    });
    const last = (items[items.length - 1] as Item).seq;
    this.appends.set(last, 'pending');
    if (!refused) {
      for (const [s, seq] of overlay) this.subjectLast.set(s, seq);
      this.ours.push(...items);
    }
    const effects = this.apply({ type: 'enqueue', items });
    if (refused) expect(this.appends.get(last)).toBeInstanceOf(Error);
    return effects;
  }

  /** JetStream takes a publish: dedupe by msg-id, then the expectations. */
  private server(p: Publish): { ok: true; seq: number } | { ok: false; code: number } {
    const dup = this.ids.get(p.item.id);
    if (dup !== undefined && this.dedupe) return { ok: true, seq: dup };
    if (p.expect.lastMsgID !== undefined && this.stream.at(-1)?.id !== p.expect.lastMsgID) return { ok: false, code: 10070 };
    if (this.stream.length !== p.expect.lastSequence) return { ok: false, code: 10071 };
    if (p.expect.lastSubjectSequence !== undefined && this.lastOn(p.item.subject) !== p.expect.lastSubjectSequence) return { ok: false, code: 10071 };
    return { ok: true, seq: this.store({ id: p.item.id, subject: p.item.subject, text: p.item.canonical, ours: true }) };
  }

  private lastOn(subject: string): number {
    return this.lastBySubject.get(subject) ?? 0;
  }

  private take<T>(list: T[], k: number): T | undefined {
    return list.length === 0 ? undefined : list.splice(k % list.length, 1)[0];
  }

  /** Publish k reaches JetStream; returns its answer, for the caller to apply when it arrives. */
  land(k: number): Extract<PublishInput<null>, { type: 'acked' | 'publishFailed' }> | undefined {
    const p = this.take(this.publishes, k);
    if (p === undefined) return undefined;
    const r = this.server(p);
    if (r.ok) return { type: 'acked', gen: p.gen, seq: p.item.seq, stream: STREAM, streamSeq: r.seq };
    return { type: 'publishFailed', gen: p.gen, seq: p.item.seq, error: refusal(r.code), code: r.code };
  }

  /** Publish k reaches JetStream; `ack`: its answer comes back (else it is lost: a timeout). */
  deliver(k: number, ack = true): void {
    const answer = this.land(k);
    if (answer === undefined) return;
    if (ack) this.apply(answer);
    else this.apply({ type: 'publishFailed', gen: answer.gen, seq: answer.seq, error: new Error('TimeoutError'), code: null });
  }

  /** Publish k never reaches JetStream: a timeout. */
  drop(k: number): void {
    const p = this.take(this.publishes, k);
    if (p !== undefined) this.apply({ type: 'publishFailed', gen: p.gen, seq: p.item.seq, error: new Error('no responders'), code: null });
  }

  answer(k: number, fail = false): void {
    const q = this.take(this.queries, k);
    if (q === undefined) return;
    const error = new Error('request timed out');
    if (q.type === 'lookup') {
      this.apply(fail ? { type: 'lookupFailed', token: q.token, error } : { type: 'lookedUp', token: q.token, seq: q.seq, last: this.lastOn(q.subject) });
    } else if (fail) {
      this.apply({ type: 'inspectFailed', token: q.token, error });
    } else if (q.type === 'inspectStream') {
      this.apply({ type: 'streamInspected', token: q.token, lastSeq: this.stream.length, replicas: 1 });
    } else {
      this.apply({ type: 'storedFetched', token: q.token, seq: q.seq, text: this.stream[q.seq - 1]?.text ?? null });
    }
  }

  writeOutbox(fail = false): void {
    const through = this.outboxWrites.shift();
    if (through === undefined) return;
    if (fail) {
      const fenced = failureOf(this.state) !== null;
      const error = new Error('ENOSPC');
      this.apply({ type: 'outboxFailed', error, write: true });
      // An outbox that cannot be written fences the queue (unless it already was).
      if (!fenced) expect(failureOf(this.state)).toBe(error);
      return;
    }
    this.outboxWritten = Math.max(this.outboxWritten, through);
    this.apply({ type: 'outboxWritten', through });
  }

  fireTimer(): void {
    if (this.timer === null) return;
    const token = this.timer;
    this.timer = null;
    this.apply({ type: 'retryDue', token });
  }

  anotherWriter(): void {
    this.foreign++;
    this.store({ id: `x-${this.foreign}`, subject: 'a', text: `{"id":"x-${this.foreign}"}`, ours: false });
  }

  /** Everything answers, in order, until nothing is left to do. */
  settle(): void {
    if (this.state.mode.mode === 'closed') return;
    if (!this.state.connected) this.apply({ type: 'reconnected' });
    for (let i = 0; i < 100_000; i++) {
      if (this.queries.length > 0) this.answer(0);
      else if (this.publishes.length > 0) this.deliver(0);
      else if (this.outboxWrites.length > 0) this.writeOutbox();
      else if (this.timer !== null) this.fireTimer();
      else return;
    }
    throw new Error('the world never settles');
  }
}

// -- generated runs -----------------------------------------------------------------

type Op =
  | { readonly op: 'enqueue'; readonly subjects: readonly string[] }
  | { readonly op: 'deliver' | 'loseAck' | 'drop' | 'answer' | 'failQuery'; readonly k: number }
  | { readonly op: 'writeOutbox' | 'failOutbox' | 'fireTimer' | 'disconnect' | 'reconnect' | 'anotherWriter' | 'close' };

/** Mostly the oldest request (answers mostly come in order), sometimes another one. */
const pick = fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(6) });
const subjectsArb = fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 4 });
const baseOps: fc.WeightedArbitrary<Op>[] = [
  { weight: 4, arbitrary: subjectsArb.map((subjects) => ({ op: 'enqueue', subjects }) as const) },
  { weight: 8, arbitrary: pick.map((k) => ({ op: 'deliver', k }) as const) },
  { weight: 1, arbitrary: pick.map((k) => ({ op: 'loseAck', k }) as const) },
  { weight: 1, arbitrary: pick.map((k) => ({ op: 'drop', k }) as const) },
  { weight: 4, arbitrary: pick.map((k) => ({ op: 'answer', k }) as const) },
  { weight: 1, arbitrary: pick.map((k) => ({ op: 'failQuery', k }) as const) },
  { weight: 2, arbitrary: fc.constant({ op: 'writeOutbox' } as const) },
  { weight: 1, arbitrary: fc.constant({ op: 'fireTimer' } as const) },
  { weight: 1, arbitrary: fc.constant({ op: 'disconnect' } as const) },
  { weight: 1, arbitrary: fc.constant({ op: 'reconnect' } as const) },
];
const opsArb = (...extra: fc.WeightedArbitrary<Op>[]): fc.Arbitrary<Op[]> => fc.array(fc.oneof(...baseOps, ...extra), { maxLength: 150 });

const worldArb = fc
  .record({
    prefix: fc.nat(3),
    adopted: fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 3 }),
    maxInFlight: fc.integer({ min: 1, max: 6 }),
    outbox: fc.boolean(),
    clustered: fc.boolean(),
    dedupe: fc.boolean(),
  })
  .map((o) => ({ ...o, adopted: o.outbox ? o.adopted : [] }));

function run(w: World, ops: readonly Op[]): void {
  for (const o of ops) {
    if (w.state.mode.mode === 'closed') return;
    switch (o.op) {
      case 'enqueue':
        w.enqueue(o.subjects);
        break;
      case 'deliver':
        w.deliver(o.k);
        break;
      case 'loseAck':
        w.deliver(o.k, false);
        break;
      case 'drop':
        w.drop(o.k);
        break;
      case 'answer':
        w.answer(o.k);
        break;
      case 'failQuery':
        w.answer(o.k, true);
        break;
      case 'writeOutbox':
        w.writeOutbox();
        break;
      case 'failOutbox':
        w.writeOutbox(true);
        break;
      case 'fireTimer':
        w.fireTimer();
        break;
      case 'disconnect':
        w.apply({ type: 'disconnected', error: new Error('disconnected from nats://test') });
        break;
      case 'reconnect':
        w.apply({ type: 'reconnected' });
        break;
      case 'anotherWriter':
        w.anotherWriter();
        break;
      case 'close':
        if (!w.state.closing) w.apply({ type: 'close' });
        break;
    }
  }
}

const settledAll = (w: World): boolean => [...w.appends.values()].every((o) => o !== 'pending');

describe('publish queue: generated runs', () => {
  test.prop([worldArb, opsArb()], { numRuns: 300 })(
    'one writer: nothing lost, reordered or stored twice; every append resolves once it is durable',
    (o, ops) => {
      const w = new World(o);
      run(w, ops);
      w.settle();
      const failure = failureOf(w.state);
      if (failure !== null) {
        // Only JetStream refusing over and over (answers far out of order) gives up, and then every append is settled.
        expect(failure).toBeInstanceOf(ConcurrencyError);
        expect(failure.message).toMatch(/keeps refusing/);
        expect(settledAll(w)).toBe(true);
        return;
      }
      expect(w.stream.map((m) => m.id)).toEqual(w.ours.map((i) => i.id));
      expect([...w.appends.values()].every((v) => v === 'resolved')).toBe(true);
      expect(pendingCount(w.state)).toBe(0);
      expect(isReachable(w.state)).toBe(true);
      expect(durableHead(w.state)).toEqual(tailHead(w.state));
      expect(w.state.outboxUsed).toBe(false);
      if (w.outboxWrites.length === 0 && w.outboxThrough > 0) expect(w.clears).toBeGreaterThan(0);
    },
  );

  test.prop([worldArb, opsArb({ weight: 1, arbitrary: fc.constant({ op: 'anotherWriter' } as const) })], { numRuns: 300 })(
    'another writer: never merged; when it took a seq of ours the queue is fenced and what is not durable rejects',
    (o, ops) => {
      const w = new World(o);
      run(w, ops);
      w.settle();
      const foreignAt = w.stream.findIndex((m) => !m.ours) + 1;
      const failure = failureOf(w.state);
      if (foreignAt > 0 && foreignAt <= tailSeq(w.state)) {
        expect(failure).toBeInstanceOf(ConcurrencyError);
        expect(failure?.message).toMatch(/another writer|keeps refusing/);
      }
      if (failure === null) {
        expect([...w.appends.values()].every((v) => v === 'resolved')).toBe(true);
        expect(w.stream.filter((m) => m.ours).map((m) => m.id)).toEqual(w.ours.map((i) => i.id));
        return;
      }
      for (const outcome of w.appends.values()) if (outcome !== 'resolved') expect(outcome).toBe(failure);
      // Fenced: later appends reject at once with the same failure, and nothing is sent.
      const effects = w.enqueue(['a']);
      expect(effects).toEqual([{ type: 'reject', appends: [expect.any(Number)], error: failure }]);
    },
  );

  test.prop(
    [
      worldArb.map((o) => ({ ...o, outbox: true })),
      opsArb({ weight: 1, arbitrary: fc.constant({ op: 'failOutbox' } as const) }, { weight: 1, arbitrary: fc.constant({ op: 'close' } as const) }),
      fc.boolean(),
    ],
    { numRuns: 300 },
  )('an outbox that cannot be written fences; close refuses appends and rejects what is not durable', (o, ops, settleFirst) => {
    const w = new World(o);
    run(w, ops);
    if (settleFirst) w.settle();
    if (w.state.closing) expect(w.enqueue(['b'])).toEqual([{ type: 'reject', appends: [expect.any(Number)], error: expect.objectContaining({ code: 'JOURNAL_CLOSED' }) }]);
    const fence = failureOf(w.state);
    // What the queue knows durable (an envelope whose ack was lost is stored, but not known to be).
    const durableBefore = durableHead(w.state)?.seq ?? 0;
    const pendingBefore = [...w.appends].filter(([, outcome]) => outcome === 'pending').map(([last]) => last);
    w.apply({ type: 'closed' });
    expect(w.state.mode).toEqual({ mode: 'closed', failure: fence });
    expect(isReachable(w.state)).toBe(false);
    expect(settledAll(w)).toBe(true);
    // What was still pending is what was not known durable: it rejects with JOURNAL_CLOSED.
    for (const last of pendingBefore) {
      expect(last).toBeGreaterThan(durableBefore);
      expect((w.appends.get(last) as VirtFunError).code).toBe('JOURNAL_CLOSED');
    }
    // Closed: nothing more happens.
    expect(w.apply({ type: 'reconnected' })).toEqual([]);
  });
});

// -- decisions, one by one ------------------------------------------------------------

const publishes = (w: World): [number, object][] => w.publishes.map((p) => [p.item.seq, p.expect]);
const ofType = <T extends Effect['type']>(effects: readonly Effect[], type: T): Extract<Effect, { type: T }>[] =>
  effects.filter((e): e is Extract<Effect, { type: T }> => e.type === type);

describe('publish queue: decisions', () => {
  it('pipelines with msg-id and expectations; the first envelope on a subject waits for a look-up', () => {
    const w = new World({ prefix: 2, outbox: false });
    expect(w.enqueue(['a', 'a', 'b'])).toEqual([{ type: 'lookup', token: expect.any(Number), seq: 3, subject: 'a' }]);
    expect(w.state.mode.mode).toBe('lookingUp');
    w.answer(0); // the stream's last message on 'a' is seq 2
    expect(w.state.mode.mode).toBe('lookingUp'); // 'b' is new too
    w.answer(0);
    expect(publishes(w)).toEqual([
      [3, { lastSequence: 2, lastSubjectSequence: 2 }],
      [4, { lastSequence: 3, lastSubjectSequence: 3, lastMsgID: 'e-3' }],
      [5, { lastSequence: 4, lastSubjectSequence: 0, lastMsgID: 'e-4' }],
    ]);
    expect(w.state.inFlight).toBe(3);
  });

  it('a clustered stream gets the subject expectation only once the previous envelope on the subject is acknowledged', () => {
    const w = new World({ outbox: false, clustered: true });
    w.enqueue(['a', 'a']);
    w.answer(0);
    expect(publishes(w)).toEqual([
      [1, { lastSequence: 0, lastSubjectSequence: 0 }],
      [2, { lastSequence: 1, lastMsgID: 'e-1' }],
    ]);
  });

  it('at most maxInFlight unacknowledged; an ack of N acknowledges all before it; an append resolves with its last envelope', () => {
    const w = new World({ prefix: 1, maxInFlight: 2, outbox: false });
    w.apply({ type: 'lookedUp', token: 0, seq: 0, last: 0 }); // a stale answer changes nothing
    w.enqueue(['a']);
    w.answer(0);
    w.enqueue(['a', 'a', 'a']);
    expect(w.publishes.map((p) => p.item.seq)).toEqual([2, 3]);
    // Both land; the ack of 3 comes first, and acknowledges 2 with it.
    const [ack2, ack3] = [w.land(0), w.land(0)] as PublishInput<null>[] as [PublishInput<null>, PublishInput<null>];
    expect(ofType(w.apply(ack3), 'resolve')).toEqual([{ type: 'resolve', appends: [2] }]);
    expect(durableHead(w.state)).toEqual({ seq: 3, hash: 'h3' });
    expect(w.appends.get(5)).toBe('pending');
    expect(w.publishes.map((p) => p.item.seq)).toEqual([4]); // 2's ack is still out: one place in the window
    // 2's own ack then frees its place in the window.
    w.apply(ack2);
    expect(w.publishes.map((p) => p.item.seq)).toEqual([4, 5]);
    w.settle();
    expect(w.appends.get(5)).toBe('resolved');
    expect(w.effects.at(-1)).toEqual({ type: 'drained' });
  });

  it('a failure diverts (fail-closed): what waits goes to the outbox and resolves from there; retries double up to 2 s; reconnect resumes at once', () => {
    const w = new World({ outbox: true, maxInFlight: 4 });
    w.enqueue(['a', 'a']);
    w.answer(0);
    expect(isReachable(w.state)).toBe(true);
    const effects = w.apply({ type: 'publishFailed', gen: w.state.gen, seq: 1, error: new Error('TimeoutError'), code: null });
    w.publishes.splice(0, 1);
    expect(effects.map((e) => e.type)).toEqual(['toOutbox', 'armRetry', 'notify']);
    expect(w.state).toMatchObject({ diverted: true, mode: { mode: 'retrying' }, lastError: 'Error: TimeoutError', inFlight: 0 });
    expect(isReachable(w.state)).toBe(false);
    w.enqueue(['b']); // diverted: straight to the outbox too
    expect(w.outboxWrites).toEqual([2, 3]);
    w.writeOutbox();
    expect(w.appends.get(2)).toBe('resolved'); // durable in the outbox, JetStream still away
    expect(w.appends.get(3)).toBe('pending');
    expect(durableHead(w.state)?.seq).toBe(2);
    // Every failure doubles the next delay, up to 2 s.
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      w.fireTimer();
      const current = w.publishes.filter((p) => p.gen === w.state.gen);
      w.publishes.length = 0;
      const step = w.apply({ type: 'publishFailed', gen: (current[0] as Publish).gen, seq: 1, error: new Error('no responders'), code: null });
      delays.push(...ofType(step, 'armRetry').map((e) => e.delayMs));
    }
    expect(delays).toEqual([200, 400, 800, 1600, 2000, 2000, 2000]);
    expect(w.publishes).toEqual([]);
    // Reconnect: no waiting for the timer.
    expect(w.apply({ type: 'reconnected' }).map((e) => e.type)).toEqual(['cancelRetry', 'publish', 'publish', 'lookup']);
    w.settle();
    expect(w.stream.map((m) => m.id)).toEqual(['e-1', 'e-2', 'e-3']);
    expect(w.state).toMatchObject({ diverted: false, lastError: null, outboxUsed: false });
    expect(w.clears).toBe(1);
    expect(isReachable(w.state)).toBe(true);
  });

  it('without an outbox an append waits for JetStream', () => {
    const w = new World({ outbox: false });
    w.enqueue(['a']);
    w.answer(0);
    const effects = w.apply({ type: 'disconnected', error: new Error('disconnected from nats://test') });
    expect(effects.map((e) => e.type)).toEqual(['armRetry', 'notify']);
    w.fireTimer(); // still disconnected: nothing is sent
    expect(w.state.mode.mode).toBe('publishing');
    expect(w.publishes).toHaveLength(1); // the abandoned attempt only
    w.drop(0);
    expect(w.appends.get(1)).toBe('pending');
    w.settle();
    expect(w.appends.get(1)).toBe('resolved');
  });

  it('a refusal resyncs: our envelope already stored counts as acknowledged', () => {
    // Seq 1 landed but its ack was lost, and JetStream no longer remembers its msg-id: the copy is refused.
    const w = new World({ outbox: false, dedupe: false });
    w.enqueue(['a', 'a']);
    w.answer(0);
    w.deliver(0, false);
    w.drop(0);
    expect(w.state.mode.mode).toBe('retrying');
    w.fireTimer();
    w.deliver(0);
    expect(w.state.mode.mode).toBe('resyncing');
    w.answer(0); // the stream ends at 1
    expect(w.queries).toEqual([{ type: 'fetchStored', token: expect.any(Number), seq: 1 }]);
    w.answer(0); // byte for byte ours
    expect(w.state).toMatchObject({ mode: { mode: 'publishing' }, storedTo: 1, acked: { seq: 1 } });
    const current = w.publishes.filter((p) => p.gen === w.state.gen);
    expect(current.map((p) => [p.item.seq, p.expect])).toEqual([[2, { lastSequence: 1, lastSubjectSequence: 1 }]]);
    w.settle();
    expect(w.stream.map((m) => m.id)).toEqual(['e-1', 'e-2']);
    expect(w.appends.get(2)).toBe('resolved');

    const r = new World({ outbox: false });
    r.enqueue(['a', 'a', 'a']);
    r.answer(0);
    r.deliver(1); // seq 2 first: refused (last msg id)
    expect(r.state.mode.mode).toBe('resyncing');
    expect(r.queries.map((q) => q.type)).toEqual(['inspectStream']);
    r.deliver(0); // the abandoned seq 1 lands meanwhile
    r.answer(0);
    r.settle();
    expect(r.stream.map((m) => m.id)).toEqual(['e-1', 'e-2', 'e-3']);
    expect(failureOf(r.state)).toBeNull();
  });

  it("another writer's event where ours goes fences with ConcurrencyError: never merged, every later append rejected", () => {
    const w = new World({ outbox: false });
    w.enqueue(['a']);
    w.answer(0);
    w.anotherWriter();
    w.deliver(0);
    w.answer(0); // inspect: the stream ends at 1
    const effects = w.apply({ type: 'storedFetched', token: (w.queries.shift() as Query).token, seq: 1, text: '{"id":"x-1"}' });
    expect(effects.map((e) => e.type)).toEqual(['reject', 'drained', 'notify']);
    const failure = failureOf(w.state);
    expect(failure).toBeInstanceOf(ConcurrencyError);
    expect(failure?.message).toMatch(/^nats:\/\/test: another writer stored seq 1 \(a message that is not an envelope .*\) where this journal's event e-1 goes; refused, not merged$/);
    expect(w.appends.get(1)).toBe(failure);
    expect(isReachable(w.state)).toBe(false);
    expect(w.enqueue(['a'])).toEqual([{ type: 'reject', appends: [2], error: failure }]);
    w.settle();
    expect(w.stream.map((m) => m.id)).toEqual(['x-1']);
  });

  it('a stream that ends past our head, or refusals that never make progress, fence', () => {
    // Our seq 1 landed (its ack lost), another writer's seq 2 after it; the copy of 1 is refused.
    const w = new World({ outbox: false, dedupe: false });
    w.enqueue(['a']);
    w.answer(0);
    w.deliver(0, false);
    w.anotherWriter();
    w.fireTimer();
    w.settle();
    expect(failureOf(w.state)?.message).toBe('nats://test: the stream ends at seq 2, past this journal\'s head 1: another writer');

    const r = new World({ outbox: false, prefix: 1 });
    r.enqueue(['a']);
    r.answer(0);
    for (let i = 0; i < 6; i++) {
      const p = r.publishes.shift() as Publish;
      r.apply({ type: 'publishFailed', gen: p.gen, seq: p.item.seq, error: refusal(10071), code: 10071 });
      r.answer(0); // nothing of ours is stored
      expect(failureOf(r.state) === null).toBe(i < 5);
    }
    expect(failureOf(r.state)?.message).toBe('nats://test: JetStream keeps refusing seq 2: Error: wrong last sequence (10071)');
    expect(r.appends.get(2)).toBe(failureOf(r.state));
  });

  it('an ack at another seq fences with JournalCorruptError; a failed outbox write fences with its error', () => {
    const w = new World({ outbox: false });
    w.enqueue(['a']);
    w.answer(0);
    w.apply({ type: 'acked', gen: w.state.gen, seq: 1, stream: STREAM, streamSeq: 7 });
    expect(failureOf(w.state)).toBeInstanceOf(JournalCorruptError);
    expect(w.appends.get(1)).toBe(failureOf(w.state));

    const o = new World({ outbox: true });
    o.enqueue(['a']);
    o.apply({ type: 'disconnected', error: new Error('down') });
    o.writeOutbox(true);
    expect(o.appends.get(1)).toBe(failureOf(o.state));
    expect(o.state.outboxWrites).toBe(0);
  });

  it('outcomes of abandoned attempts only count as facts: a late failure, a late timer', () => {
    const w = new World({ outbox: false });
    w.enqueue(['a', 'a']);
    w.answer(0);
    const old = w.publishes.splice(0, 2);
    w.apply({ type: 'disconnected', error: new Error('down') });
    const stale = w.timer as number;
    w.apply({ type: 'reconnected' });
    expect(w.apply({ type: 'retryDue', token: stale })).toEqual([]);
    const state = w.state;
    expect(w.apply({ type: 'publishFailed', gen: (old[0] as Publish).gen, seq: 1, error: refusal(10071), code: 10071 })).toEqual([]);
    expect(w.state).toEqual(state);
    w.settle();
    expect(w.appends.get(2)).toBe('resolved');
  });

  it('adopts what a previous run left in the outbox: durable at once, published, then the outbox is cleared', () => {
    const w = new World({ prefix: 1, adopted: ['a', 'b'], outbox: true });
    expect(durableHead(w.state)).toEqual({ seq: 3, hash: 'h3' });
    expect(w.state).toMatchObject({ diverted: true, outboxUsed: true });
    expect(isReachable(w.state)).toBe(false);
    w.settle();
    expect(w.stream.map((m) => m.id)).toEqual(['e-1', 'e-2', 'e-3']);
    expect(w.clears).toBe(1);
    expect(isReachable(w.state)).toBe(true);
  });

  it('close: appends are refused at once; closed rejects what is not durable with JOURNAL_CLOSED and keeps a fence', () => {
    const w = new World({ outbox: false });
    w.enqueue(['a']);
    w.apply({ type: 'close' });
    expect(w.enqueue(['b'])).toEqual([{ type: 'reject', appends: [2], error: expect.objectContaining({ code: 'JOURNAL_CLOSED', message: 'nats://test is closed' }) }]);
    w.apply({ type: 'closed' });
    expect(w.appends.get(1)).toMatchObject({ code: 'JOURNAL_CLOSED', message: 'nats://test was closed before JetStream acknowledged the event' });
    expect(w.state.mode).toEqual({ mode: 'closed', failure: null });

    const f = new World({ outbox: false });
    f.enqueue(['a']);
    f.answer(0);
    f.apply({ type: 'acked', gen: f.state.gen, seq: 1, stream: 'OTHER', streamSeq: 1 });
    const failure = failureOf(f.state);
    f.apply({ type: 'close' });
    f.apply({ type: 'closed' });
    expect(f.state.mode).toEqual({ mode: 'closed', failure });
  });

  it('a long run: the log is compacted, the state handed to step() is never changed', () => {
    const w = new World({ outbox: false, maxInFlight: 64 });
    w.enqueue(['a']);
    w.answer(0);
    for (let i = 0; i < 100; i++) w.enqueue(Array.from({ length: 50 }, () => 'a'));
    w.settle();
    expect(w.stream).toHaveLength(5001);
    expect(w.state.log.base).toBeGreaterThan(1024);
    expect(itemAt(w.state, 5001)?.id).toBe('e-5001');
    expect(itemAt(w.state, 1)).toBeUndefined();
    expect(durableHead(w.state)).toEqual({ seq: 5001, hash: 'h5001' });
    expect([...w.appends.values()].every((v) => v === 'resolved')).toBe(true);
  });
});
