/**
 * The service protocol machine on its own: what it predicts for each kind of
 * input (docs/region-format.md §9), and invariants over random event
 * sequences. That the real service does the same is
 * test/dataplane/protocol-oracle.int.spec.ts.
 */
import { describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import { Command, ErrorCode, packWord, SEQ_MASK, Status, wordLow4, wordSeq } from '../../src/dataplane/layout.js';
import { requestEvent, serviceProtocolMachine, statusOf, verdict, wordOf, type ServiceProtocolEvent } from '../../src/machines/service-protocol.js';

const CAPACITY = 64;
type Snapshot = SnapshotFrom<typeof serviceProtocolMachine>;

function run(events: readonly ServiceProtocolEvent[], from?: Snapshot): Snapshot {
  let [snap] = from === undefined ? initialTransition(serviceProtocolMachine, { capacity: CAPACITY }) : [from];
  for (const e of events) [snap] = transition(serviceProtocolMachine, snap, e);
  return snap;
}
const set = (seq: number, len = 4): ServiceProtocolEvent => ({ type: 'SET', seq, len });
const get = (seq: number, len = 0): ServiceProtocolEvent => ({ type: 'GET', seq, len });
const rst = (seq: number, len = 0): ServiceProtocolEvent => ({ type: 'RST', seq, len });
const done = (len: number): ServiceProtocolEvent => ({ type: 'DRIVER_DONE', len });
const failed = (refused: boolean): ServiceProtocolEvent => ({ type: 'DRIVER_FAILED', refused });
const published = (s: Snapshot) => {
  const p = statusOf(s);
  return { value: s.value, seq: p.seq, status: p.status, error: p.error, len: p.len };
};

describe('service protocol machine', () => {
  it('starts in wait, seq 0, nothing answered', () => {
    expect(published(run([]))).toEqual({ value: 'wait', seq: 0, status: Status.WAIT, error: 0, len: 0 });
  });

  it('SET is BUSY with the driver, then DONE with its result; GET re-delivers it as often as asked', () => {
    const busy = run([set(1)]);
    expect(published(busy)).toMatchObject({ value: 'busy', seq: 1, status: Status.BUSY });
    const answered = run([done(8)], busy);
    expect(published(answered)).toEqual({ value: 'done', seq: 1, status: Status.DONE, error: 0, len: 8 });
    const again = run([get(2), get(3)], answered);
    expect(published(again)).toEqual({ value: 'done', seq: 3, status: Status.DONE, error: 0, len: 8 });
    expect(again.context.calls).toBe(3);
  });

  it('GET without a result is NO_RESULT: before any SET, after RST, after any ERROR, after a restart', () => {
    expect(published(run([get(1)]))).toMatchObject({ status: Status.ERROR, error: ErrorCode.NO_RESULT });
    const held = run([set(1), done(4)]);
    expect(published(run([rst(2), done(0), get(3)], held))).toMatchObject({ seq: 3, error: ErrorCode.NO_RESULT });
    expect(published(run([{ type: 'WORD', word: packWord(2, 9), len: 0 }, get(3)], held))).toMatchObject({ seq: 3, error: ErrorCode.NO_RESULT });
    expect(published(run([set(2), failed(true), get(3)], held))).toMatchObject({ seq: 3, error: ErrorCode.NO_RESULT });
    const restarted = run([{ type: 'RESTART', req: packWord(1, Command.SET) }], held);
    expect(published(restarted)).toEqual({ value: 'done', seq: 1, status: Status.DONE, error: 0, len: 4 });
    expect(published(run([get(2)], restarted))).toMatchObject({ seq: 2, error: ErrorCode.NO_RESULT });
  });

  it('checks seq, then command, then length; answers with the seq it saw and continues from it (resync)', () => {
    const word = (seq: number, cmd: number, len: number) => requestEvent(packWord(seq, cmd), len);
    expect(published(run([word(5, 9, 999)]))).toMatchObject({ seq: 5, error: ErrorCode.BAD_SEQ });
    expect(published(run([word(1, 9, 999)]))).toMatchObject({ seq: 1, error: ErrorCode.BAD_COMMAND });
    expect(published(run([word(1, 0, 0)]))).toMatchObject({ seq: 1, error: ErrorCode.BAD_COMMAND });
    expect(published(run([word(1, Command.GET, CAPACITY + 1)]))).toMatchObject({ seq: 1, error: ErrorCode.BAD_LENGTH });
    expect(published(run([word(1, Command.SET, CAPACITY)]))).toMatchObject({ value: 'busy', seq: 1 });
    // After BAD_SEQ at 100, 101 is the next well-formed request; 2 is not any more.
    expect(published(run([set(100), set(101)]))).toMatchObject({ value: 'busy', seq: 101 });
    expect(published(run([set(100), set(2)]))).toMatchObject({ seq: 2, error: ErrorCode.BAD_SEQ });
    // Seqs wrap at 28 bits.
    expect(published(run([set(SEQ_MASK), rst(0)]))).toMatchObject({ value: 'resetting', seq: 0 });
  });

  it('does not hear a word equal to the last one, nor any word while the driver computes', () => {
    const answered = run([set(1), done(4)]);
    expect(run([set(1, 999)], answered)).toBe(answered);
    expect(verdict(answered.context, set(1))).toBe('unheard');
    const busy = run([set(2)], answered);
    expect(run([get(3), rst(3), { type: 'WORD', word: 7, len: 0 }], busy)).toBe(busy);
    // Driver events outside a computation change nothing either.
    expect(run([done(4), failed(false)], answered)).toBe(answered);
  });

  it('a driver result of a bad length is DRIVER_FAULT; a refusal BAD_INPUT; a throw DRIVER_FAULT', () => {
    for (const n of [CAPACITY + 1, -1, 1.5, Number.NaN]) {
      expect(published(run([set(1), done(n)]))).toMatchObject({ value: 'error', error: ErrorCode.DRIVER_FAULT });
    }
    expect(published(run([set(1), done(CAPACITY)]))).toMatchObject({ value: 'done', len: CAPACITY });
    expect(published(run([set(1), done(0)]))).toMatchObject({ value: 'done', len: 0 });
    expect(published(run([set(1), failed(true)]))).toMatchObject({ error: ErrorCode.BAD_INPUT });
    expect(published(run([set(1), failed(false)]))).toMatchObject({ error: ErrorCode.DRIVER_FAULT });
  });

  it('RST is BUSY with the driver too, forgets the result, and is DONE with length 0 or an error', () => {
    const held = run([set(1), done(4)]);
    const resetting = run([rst(2)], held);
    expect(published(resetting)).toMatchObject({ value: 'resetting', seq: 2, status: Status.BUSY });
    expect(resetting.context.hasResult).toBe(false);
    expect(published(run([done(0)], resetting))).toEqual({ value: 'done', seq: 2, status: Status.DONE, error: 0, len: 0 });
    expect(published(run([failed(false)], resetting))).toMatchObject({ value: 'error', error: ErrorCode.DRIVER_FAULT });
    expect(published(run([failed(true)], resetting))).toMatchObject({ value: 'error', error: ErrorCode.BAD_INPUT });
  });

  it('a restart answers the request it finds unanswered with DRIVER_FAULT, and only that one', () => {
    // The driver crashed in the middle of a SET, or of an RST.
    expect(published(run([set(1), { type: 'RESTART', req: packWord(1, Command.SET) }]))).toMatchObject({ value: 'error', seq: 1, error: ErrorCode.DRIVER_FAULT });
    expect(published(run([rst(1), { type: 'RESTART', req: packWord(1, Command.RST) }]))).toMatchObject({ value: 'error', seq: 1, error: ErrorCode.DRIVER_FAULT });
    // A word written while no service ran is not computed: answered DRIVER_FAULT, with its seq.
    const answered = run([set(1), done(4)]);
    const late = run([{ type: 'RESTART', req: packWord(2, Command.GET) }], answered);
    expect(published(late)).toMatchObject({ seq: 2, error: ErrorCode.DRIVER_FAULT });
    expect(late.context.lastSeq).toBe(2);
    // Even a 0 (a client's garbage): the channel stays in sync (state seq = request seq).
    expect(published(run([{ type: 'RESTART', req: 0 }], answered))).toMatchObject({ seq: 0, error: ErrorCode.DRIVER_FAULT });
    // A fresh region (no request yet) and an answered one: nothing to answer, counters unchanged.
    const fresh = run([{ type: 'RESTART', req: 0 }]);
    expect(published(fresh)).toMatchObject({ value: 'wait', seq: 0, status: Status.WAIT });
    expect(fresh.context.calls).toBe(0);
    expect(run([{ type: 'RESTART', req: packWord(1, Command.SET) }], answered).context.calls).toBe(1);
  });

  it('requestEvent and wordOf are inverse on every word', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.nat(), (word, len) => {
        const e = requestEvent(word, len);
        expect(wordOf(e)).toBe(word);
        expect(e.type === 'WORD').toBe(![Command.SET, Command.GET, Command.RST].includes(wordLow4(word) as 1 | 2 | 3));
      }),
    );
  });

  const seq = fc.oneof(fc.nat({ max: 6 }), fc.constant(SEQ_MASK));
  const len = fc.oneof(fc.nat({ max: CAPACITY }), fc.constant(CAPACITY + 1));
  const event: fc.Arbitrary<ServiceProtocolEvent> = fc.oneof(
    fc.record({ type: fc.constantFrom('SET' as const, 'GET' as const, 'RST' as const), seq, len }),
    fc.record({ type: fc.constant('WORD' as const), word: fc.tuple(seq, fc.constantFrom(0, 4, 15)).map(([s, c]) => packWord(s, c)), len }),
    fc.record({ type: fc.constant('DRIVER_DONE' as const), len: fc.oneof(fc.nat({ max: CAPACITY }), fc.constant(CAPACITY + 1)) }),
    fc.record({ type: fc.constant('DRIVER_FAILED' as const), refused: fc.boolean() }),
    fc.record({ type: fc.constant('RESTART' as const), req: fc.tuple(seq, fc.nat({ max: 15 })).map(([s, c]) => packWord(s, c)) }),
  );

  test.prop([fc.array(event, { maxLength: 60 })])('invariants: answers carry the seq heard, BUSY only while computing, results only in done, counters add up', (events) => {
    let [snap] = initialTransition(serviceProtocolMachine, { capacity: CAPACITY });
    let dones = 0;
    for (const e of events) {
      const before = snap;
      [snap] = transition(serviceProtocolMachine, snap, e);
      const c = snap.context;
      const computing = snap.matches('busy') || snap.matches('resetting');
      expect(wordLow4(c.stateWord) === Status.BUSY).toBe(computing);
      if (computing) expect(c.stateWord).toBe(packWord(c.lastSeq, Status.BUSY));
      else expect(wordSeq(c.stateWord)).toBe(c.lastSeq); // in sync: every word heard is answered with its own seq
      if (c.hasResult) expect(snap.value).toBe('done');
      if (c.calls !== before.context.calls) {
        expect(c.calls).toBe(before.context.calls + 1);
        if (wordLow4(c.stateWord) === Status.DONE) dones++;
      }
      expect(c.calls).toBe(dones + c.errorCounts.reduce((a, b) => a + b, 0));
      expect(wordLow4(c.stateWord) === Status.ERROR).toBe(snap.matches('error'));
    }
  });
});
