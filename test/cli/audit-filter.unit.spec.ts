/**
 * The filters of `vfun audit` and `audit summary` (auditPredicate): a repeated
 * --type is any of them, --since/--until bound a half-open interval read as
 * UTC when no zone is given, whatever the process's TZ, and bad input is a
 * ValidationError naming the option.
 */
import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { auditPredicate, parseIsoTime } from '../../src/cli/audit.js';
import { EVENT_TYPES } from '../../src/events/catalogue.js';
import type { Envelope } from '../../src/events/envelope.js';
import { ValidationError } from '../../src/errors.js';

const T0 = Date.UTC(2026, 10, 25, 10, 0, 0);
const env = (over: Partial<Record<keyof Envelope, unknown>>): Envelope =>
  ({ seq: 1, at: new Date(T0).toISOString(), type: 'negotiation.acked', tenant: 't1', app: 'a1', fn: 'f1', instance: 'i1', ...over }) as unknown as Envelope;

describe('auditPredicate', () => {
  // A zone far from UTC, so that a time read as local would differ (the report: 1 event under one TZ, 5,024 under another).
  const tz = process.env['TZ'];
  beforeAll(() => {
    process.env['TZ'] = 'Asia/Tokyo';
    expect(new Date(T0).getTimezoneOffset()).toBe(-540);
  });
  afterAll(() => {
    if (tz === undefined) delete process.env['TZ'];
    else process.env['TZ'] = tz;
  });

  test.prop([fc.uniqueArray(fc.constantFrom(...EVENT_TYPES), { minLength: 1, maxLength: 4 }), fc.constantFrom(...EVENT_TYPES)])(
    'a repeated --type matches an event of any of the types given, and no other',
    (types, type) => {
      expect(auditPredicate({ type: types })(env({ type }))).toBe(types.includes(type));
    },
  );

  test.prop([fc.integer({ min: -86_400_000, max: 86_400_000 }), fc.integer({ min: 1, max: 86_400_000 }), fc.integer({ min: -2 * 86_400_000, max: 2 * 86_400_000 })])(
    '--since (included) and --until (excluded) written without a zone are UTC: the same answer as with Z',
    (from, width, offset) => {
      const since = new Date(T0 + from).toISOString().slice(0, 19);
      const until = new Date(T0 + from + width * 1000).toISOString().slice(0, 19);
      const at = T0 + offset;
      const e = env({ at: new Date(at).toISOString() });
      const bare = auditPredicate({ since, until })(e);
      expect(bare).toBe(auditPredicate({ since: `${since}Z`, until: `${until}Z` })(e));
      expect(bare).toBe(at >= Date.parse(`${since}Z`) && at < Date.parse(`${until}Z`));
    },
  );

  test('a zone given is honoured; a date alone is midnight UTC', () => {
    expect(parseIsoTime('--since', '2026-11-25T11:00:00+01:00')).toBe(T0);
    expect(parseIsoTime('--since', '2026-11-25T10:00')).toBe(T0);
    expect(parseIsoTime('--since', '2026-11-25')).toBe(Date.UTC(2026, 10, 25));
  });

  test('a time without a zone is said to be read as UTC; one with a zone is not commented', () => {
    const notes: string[] = [];
    auditPredicate({ since: '2026-11-25', until: '2026-11-26T00:00:00+01:00' }, (l) => notes.push(l));
    expect(notes).toEqual(['--since 2026-11-25 has no zone: read as 2026-11-25T00:00:00.000Z (UTC, like every time vfun prints)']);
    notes.length = 0;
    auditPredicate({ since: '2026-11-25T10:00Z', until: '2026-11-25T11:00' }, (l) => notes.push(l));
    expect(notes).toEqual(['--until 2026-11-25T11:00 has no zone: read as 2026-11-25T11:00:00.000Z (UTC, like every time vfun prints)']);
  });

  test('tenant, app, fn and instance each narrow the match', () => {
    const e = env({});
    for (const key of ['tenant', 'app', 'fn', 'instance'] as const) {
      expect(auditPredicate({ [key]: e[key] })(e)).toBe(true);
      expect(auditPredicate({ [key]: 'other' })(e)).toBe(false);
    }
  });

  test.each([
    [{ since: 'yesterday' }, '--since', /'yesterday' is not an ISO-8601 time/],
    [{ until: '2026-13-01' }, '--until', /is not an ISO-8601 time/],
    [{ since: '2026-11-25T10:00:00Z', until: '2026-11-25T09:00:00Z' }, '--until', /is not after --since/],
    [{ type: ['negotiation.acked', 'nope'] }, '--type', /unknown event type 'nope'/],
    [{ type: 'zzz.*' }, '--type', /no event type matches 'zzz\.\*'/],
  ])('bad input %j: ValidationError naming %s', (filter, field, message) => {
    const err = (() => {
      try {
        auditPredicate(filter);
        return null;
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toMatch(new RegExp(`^${field}: `));
    expect((err as Error).message).toMatch(message);
  });
});
