import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { ConcurrencyError, JournalCorruptError, ValidationError } from '../../src/errors.js';
import { canonicalJson, hashEnvelope } from '../../src/events/canonical.js';
import { SCHEMA_VERSION } from '../../src/events/catalogue.js';
import { checkAppend, sealEnvelope, verifyChain } from '../../src/events/chain.js';
import { GENESIS_HASH, type Envelope, type PendingEvent } from '../../src/events/envelope.js';
import { pending, pendingArb } from './arbitraries.js';
import { sealChain } from './journal-contract.js';

const ctx = { seq: 1, prevHash: GENESIS_HASH, id: 'evt-1', at: '2026-01-01T00:00:00.000Z', host: 'h1' };

/** A copy of `env` with some fields changed and the hash recomputed (a well-formed forgery). */
function reseal(env: Envelope, changes: Record<string, unknown>): Envelope {
  const { hash: _old, ...rest } = env;
  const changed = { ...rest, ...changes };
  return { ...changed, hash: hashEnvelope(changed) } as Envelope;
}

describe('sealEnvelope', () => {
  test('stamps every field and computes the hash', () => {
    const p = pending(1);
    const env = sealEnvelope(p, ctx);
    expect(env).toEqual({
      id: 'evt-1',
      type: 'activation.started',
      v: SCHEMA_VERSION,
      at: ctx.at,
      host: 'h1',
      tenant: 't1',
      app: 'app',
      fn: 'crc32',
      instance: 'i-1',
      seq: 1,
      causationId: 'cmd-1',
      correlationId: 'i-1',
      prevHash: GENESIS_HASH,
      hash: hashEnvelope(env),
      data: { instance: 'i-1', capacity: 4096 },
    });
    expect(env.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  test('copies and freezes data: later changes to the caller objects do not touch the envelope', () => {
    const data = { instance: 'i-1', reason: 'client' as const, stats: { calls: 3, errors: { BAD_LEN: 1 } as Record<string, number> } };
    const p: PendingEvent = { ...pending(1), event: { type: 'instance.released', data } };
    const env = sealEnvelope(p, ctx);
    data.stats.errors['BAD_CMD'] = 7;
    expect(env.data).toEqual({ instance: 'i-1', reason: 'client', stats: { calls: 3, errors: { BAD_LEN: 1 } } });
    expect(Object.isFrozen(env)).toBe(true);
    expect(Object.isFrozen((env.data as { stats: object }).stats)).toBe(true);
    expect(hashEnvelope(env)).toBe(env.hash);
  });

  test('drops undefined members, as every journal would', () => {
    const p = { ...pending(1), event: { type: 'vfund.stopped', data: { reason: 'bye', extra: undefined } } } as PendingEvent;
    expect(Object.keys(sealEnvelope(p, ctx).data)).toEqual(['reason']);
  });

  test('rejects data that cannot be encoded, naming the field', () => {
    const p = { ...pending(1), event: { type: 'vfund.stopped', data: { reason: 'x', when: new Date(0) } } } as unknown as PendingEvent;
    expect(() => sealEnvelope(p, ctx)).toThrow(ValidationError);
    expect(() => sealEnvelope(p, ctx)).toThrow('$.data.when');
    expect(() => sealEnvelope(pending(1), { ...ctx, seq: 0 })).toThrow(ValidationError);
    expect(() => sealEnvelope(pending(1), { ...ctx, prevHash: 'nope' })).toThrow(ValidationError);
  });
});

describe('verifyChain', () => {
  test('an empty chain is ok with a null head', async () => {
    expect(await verifyChain([])).toEqual({ ok: true, count: 0, head: null });
  });

  test('the first event chains on GENESIS_HASH', async () => {
    const [first] = sealChain(1);
    expect(first!.prevHash).toBe(GENESIS_HASH);
    expect(await verifyChain([first!])).toEqual({ ok: true, count: 1, head: { seq: 1, hash: first!.hash } });
    const notGenesis = reseal(first!, { prevHash: 'a'.repeat(64) });
    const report = await verifyChain([notGenesis]);
    expect(report.ok).toBe(false);
    if (!report.ok) expect(report.firstBad).toMatchObject({ seq: 1, id: first!.id });
  });

  test('accepts sync and async iterables', async () => {
    const envs = sealChain(4);
    async function* gen() {
      yield* envs;
    }
    const expected = { ok: true, count: 4, head: { seq: 4, hash: envs[3]!.hash } };
    expect(await verifyChain(envs)).toEqual(expected);
    expect(await verifyChain(gen())).toEqual(expected);
  });

  const envs = sealChain(5);
  test.each([
    ['a dropped event', [envs[0], envs[1], envs[3], envs[4]], 2, 4, /seq 4 where 3/],
    ['two events swapped', [envs[0], envs[2], envs[1]], 1, 3, /seq 3 where 2/],
    ['a repeated event', [envs[0], envs[1], envs[1]], 2, 2, /seq 2 where 3/],
    ['a first event that is not seq 1', [envs[1]], 0, 2, /seq 2 where 1/],
    ['an edited event', [envs[0], { ...envs[1], data: { instance: 'evil', capacity: 1 } }, envs[2]], 1, 2, /hash .* does not match/],
    ['a resealed event (its successor breaks)', [envs[0], reseal(envs[1]!, { at: '2030-01-01T00:00:00.000Z' }), envs[2]], 2, 3, /prevHash/],
    ['an unknown type', [envs[0], reseal(envs[1]!, { type: 'vfund.exploded' })], 1, 2, /unknown event type/],
    ['a future schema version', [reseal(envs[0]!, { v: SCHEMA_VERSION + 1 })], 0, 1, /schema version/],
    ['a missing field', [envs[0], { ...envs[1], hash: undefined }], 1, 2, /field hash/],
    ['not an object', [envs[0], 42], 1, 2, /not a JSON object/],
  ] as const)('finds %s', async (_name, list, count, seq, reason) => {
    const report = await verifyChain(list as unknown as Envelope[]);
    expect(report.ok).toBe(false);
    if (report.ok) return;
    expect(report.count).toBe(count);
    expect(report.firstBad.seq).toBe(seq);
    expect(report.firstBad.reason).toMatch(reason);
  });

  test('a JournalCorruptError from the source becomes the first bad event', async () => {
    const envs2 = sealChain(2);
    async function* damaged() {
      yield* envs2;
      throw new JournalCorruptError('j.vfj:3', 'line 3 is damaged after seq 2: is not valid JSON');
    }
    const report = await verifyChain(damaged());
    expect(report).toEqual({
      ok: false,
      count: 2,
      firstBad: { seq: 3, id: null, reason: 'j.vfj:3: line 3 is damaged after seq 2: is not valid JSON' },
    });
  });

  test('other errors from the source propagate', async () => {
    async function* broken(): AsyncGenerator<Envelope> {
      throw new Error('disk on fire');
    }
    await expect(verifyChain(broken())).rejects.toThrow('disk on fire');
  });

  const fieldChanges: fc.Arbitrary<[string, unknown]> = fc.oneof(
    fc.tuple(fc.constantFrom('id', 'at', 'host'), fc.string()),
    fc.tuple(fc.constantFrom('tenant', 'app', 'fn', 'instance', 'causationId', 'correlationId'), fc.option(fc.string(), { nil: null })),
    fc.tuple(fc.constantFrom('seq', 'v'), fc.integer({ min: 1, max: 1000 })),
    fc.tuple(fc.constant('prevHash'), fc.constantFrom(GENESIS_HASH, 'a'.repeat(64))),
    fc.tuple(fc.constant('type'), fc.constantFrom('vfund.stopped', 'service.failed')),
    fc.tuple(fc.constant('data'), fc.jsonValue()),
  );

  test.prop([pendingArb, fieldChanges])('the hash changes when any field changes', (p, [field, value]) => {
    const env = sealEnvelope(p, ctx);
    fc.pre(canonicalJson((env as unknown as Record<string, unknown>)[field]) !== canonicalJson(value));
    const changed = { ...env, [field]: value };
    expect(hashEnvelope(changed)).not.toBe(env.hash);
  });

  test.prop([fc.array(pendingArb, { minLength: 1, maxLength: 8 }), fc.nat(), fieldChanges])(
    'changing any field of any event is caught at that event',
    async (pendings, at, [field, value]) => {
      let prev: Envelope | null = null;
      const chain: Envelope[] = [];
      for (const [i, p] of pendings.entries()) {
        const env = sealEnvelope(p, { ...ctx, seq: i + 1, id: `evt-${i + 1}`, prevHash: prev === null ? GENESIS_HASH : prev.hash });
        chain.push(env);
        prev = env;
      }
      expect(await verifyChain(chain)).toEqual({ ok: true, count: chain.length, head: { seq: chain.length, hash: prev!.hash } });
      const k = at % chain.length;
      const target = chain[k]!;
      fc.pre(canonicalJson((target as unknown as Record<string, unknown>)[field]) !== canonicalJson(value));
      const tampered = chain.map((e, i) => (i === k ? ({ ...e, [field]: value } as Envelope) : e));
      const report = await verifyChain(tampered);
      expect(report.ok).toBe(false);
      if (!report.ok) expect(report.count).toBe(k);
    },
  );
});

describe('checkAppend', () => {
  const envs = sealChain(4);
  test('returns the new head', () => {
    expect(checkAppend(null, envs)).toEqual({ seq: 4, hash: envs[3]!.hash });
    expect(checkAppend({ seq: 2, hash: envs[1]!.hash }, envs.slice(2))).toEqual({ seq: 4, hash: envs[3]!.hash });
    expect(checkAppend({ seq: 2, hash: envs[1]!.hash }, [])).toEqual({ seq: 2, hash: envs[1]!.hash });
  });
  test('a first envelope that does not follow the head is a ConcurrencyError', () => {
    expect(() => checkAppend(null, envs.slice(1))).toThrow(ConcurrencyError);
    expect(() => checkAppend({ seq: 1, hash: 'b'.repeat(64) }, envs.slice(1))).toThrow(ConcurrencyError);
  });
  test('a batch broken inside is a ValidationError', () => {
    expect(() => checkAppend(null, [envs[0]!, envs[2]!])).toThrow(ValidationError);
    expect(() => checkAppend(null, [{ ...envs[0]!, seq: 'one' } as unknown as Envelope])).toThrow(ValidationError);
  });
});
