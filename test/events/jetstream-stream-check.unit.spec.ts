/**
 * The journal stream check (stream-check.ts), without a server: the stream
 * vFunD creates passes; every generated change of a checked field is refused
 * naming that field, the value expected and the value found.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import {
  describeFault,
  journalStateFaults,
  journalStreamFaults,
  recreatedFault,
  StreamConfigError,
  type CheckedStreamConfig,
} from '../../src/events/adapters/jetstream/stream-check.js';

const SUBJECT = 'vfun.evt.h1.>';
/** As JetStream reports the stream ensureEventStream creates. */
const GOOD: CheckedStreamConfig = {
  subjects: [SUBJECT],
  storage: 'file',
  retention: 'limits',
  discard: 'old',
  max_msgs: -1,
  max_bytes: -1,
  max_age: 0,
  max_msgs_per_subject: -1,
  deny_delete: true,
  deny_purge: true,
  allow_rollup_hdrs: false,
  sealed: false,
};

const positive = fc.integer({ min: 1, max: 2 ** 40 });
/** One change of one field, as someone with stream-update rights (or a hand-made stream) could make it. */
const change: fc.Arbitrary<{ field: string; patch: Partial<Record<keyof CheckedStreamConfig, unknown>> }> = fc.oneof(
  fc.record({ field: fc.constant('max_msgs'), patch: fc.record({ max_msgs: positive }) }),
  fc.record({ field: fc.constant('max_bytes'), patch: fc.record({ max_bytes: positive }) }),
  fc.record({ field: fc.constant('max_age'), patch: fc.record({ max_age: positive }) }),
  fc.record({ field: fc.constant('max_msgs_per_subject'), patch: fc.record({ max_msgs_per_subject: positive }) }),
  fc.record({ field: fc.constant('deny_delete'), patch: fc.record({ deny_delete: fc.constantFrom(false, undefined) }) }),
  fc.record({ field: fc.constant('deny_purge'), patch: fc.record({ deny_purge: fc.constantFrom(false, undefined) }) }),
  fc.record({ field: fc.constant('allow_rollup_hdrs'), patch: fc.constant({ allow_rollup_hdrs: true }) }),
  fc.record({ field: fc.constant('sealed'), patch: fc.constant({ sealed: true }) }),
  fc.record({ field: fc.constant('storage'), patch: fc.constant({ storage: 'memory' }) }),
  fc.record({ field: fc.constant('retention'), patch: fc.record({ retention: fc.constantFrom('interest', 'workqueue') }) }),
  fc.record({ field: fc.constant('discard'), patch: fc.constant({ discard: 'new' }) }),
  fc.record({ field: fc.constant('mirror'), patch: fc.constant({ mirror: { name: 'OTHER' } }) }),
  fc.record({ field: fc.constant('sources'), patch: fc.record({ sources: fc.array(fc.record({ name: fc.string({ minLength: 1 }) }), { minLength: 1, maxLength: 3 }) }) }),
  fc.record({ field: fc.constant('first_seq'), patch: fc.record({ first_seq: fc.integer({ min: 2, max: 2 ** 40 }) }) }),
  fc.record({
    field: fc.constant('subjects'),
    patch: fc.record({
      subjects: fc.oneof(
        fc.constant([]),
        fc.constant(['vfun.evt.>']),
        fc.constant([SUBJECT, 'other.>']),
        fc.string({ minLength: 1 }).filter((s) => s !== SUBJECT).map((s) => [s]),
      ),
    }),
  }),
);

describe('journalStreamFaults', () => {
  test('the stream vFunD creates passes, reported with or without the optional fields', () => {
    expect(journalStreamFaults(GOOD, SUBJECT)).toEqual([]);
    expect(journalStreamFaults({ ...GOOD, discard: undefined, allow_rollup_hdrs: undefined, sealed: undefined, max_msgs_per_subject: 0 }, SUBJECT)).toEqual([]);
  });

  test.prop([fc.uniqueArray(change, { minLength: 1, maxLength: 5, selector: (c) => c.field })])(
    'every changed field is refused, named with its expected and actual value',
    (changes) => {
      const config = Object.assign({}, GOOD, ...changes.map((c) => c.patch)) as CheckedStreamConfig;
      const faults = journalStreamFaults(config, SUBJECT);
      expect(faults.map((f) => f.field).sort()).toEqual(changes.map((c) => c.field).sort());
      for (const f of faults) {
        const actual = (config as Record<string, unknown>)[f.field];
        expect(f.actual).toBe(actual === undefined ? 'unset' : JSON.stringify(actual));
        expect(f.expected).not.toBe(f.actual);
      }
      const err = new StreamConfigError('VFUN_EVT_h1', faults);
      expect(err.code).toBe('CONFIG');
      for (const f of faults) expect(err.message).toContain(describeFault(f));
    },
  );

  test('a max_msgs update reads as an operator needs it', () => {
    const [f] = journalStreamFaults({ ...GOOD, max_msgs: 10 }, SUBJECT);
    expect(describeFault(f!)).toBe('max_msgs: expected -1 (unlimited), found 10');
  });
});

describe('journalStateFaults and recreatedFault', () => {
  test.prop([fc.integer({ min: 1, max: 1e9 }), fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 0, max: 1e9 })])(
    'a stream without gaps from seq 1 passes; anything else names first_seq or messages',
    (last, firstOff, missing) => {
      expect(journalStateFaults({ messages: last, first_seq: 1, last_seq: last })).toEqual([]);
      const first = Math.min(last, 1 + firstOff);
      const messages = Math.max(0, last - first + 1 - missing);
      const faults = journalStateFaults({ messages, first_seq: first, last_seq: last });
      expect(faults.some((f) => f.field === 'state.first_seq')).toBe(first !== 1);
      expect(faults.some((f) => f.field === 'state.messages')).toBe(messages !== last);
    },
  );

  test('recreatedFault: the recorded creation time must be the stream’s', () => {
    expect(recreatedFault('2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 1)).toBeNull();
    expect(recreatedFault('2026-01-01T00:00:00Z', null, 1)).toBeNull();
    expect(recreatedFault('2026-02-01T00:00:00Z', '2026-01-01T00:00:00Z', 7)).toMatchObject({
      field: 'created',
      expected: '2026-01-01T00:00:00Z (recorded by message 7 when it was published)',
    });
  });
});
