import { createHash } from 'node:crypto';
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import { canonicalJson, encodeEnvelope, encodingOfText, hashEnvelope, sha256Hex } from '../../src/events/canonical.js';
import { GENESIS_HASH } from '../../src/events/envelope.js';
import { sealEnvelope } from '../../src/events/chain.js';
import { pendingArb } from './arbitraries.js';
import { nativeSha256Hex } from '../../src/events/adapters/native-hash.js';

/** Reference encoder: the rules of docs/events.md written as plainly as possible. */
function reference(value: unknown): string {
  if (Array.isArray(value)) return '[' + value.map(reference).join(',') + ']';
  if (typeof value === 'object' && value !== null) {
    const rec = value as Record<string, unknown>;
    const keys = Object.keys(rec)
      .filter((k) => rec[k] !== undefined)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return '{' + keys.map((k) => JSON.stringify(k) + ':' + reference(rec[k])).join(',') + '}';
  }
  return JSON.stringify(value);
}

/** Same value, every object's keys inserted in a shuffled order. */
function reorder(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v, i) => reorder(v, seed + i));
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    const shuffled = entries
      .map((e, i) => ({ e, k: Math.sin(seed * 97 + i * 31) }))
      .sort((a, b) => a.k - b.k)
      .map(({ e: [k, v] }, i) => [k, reorder(v, seed + i + 1)] as const);
    return Object.fromEntries(shuffled);
  }
  return value;
}

const nodeSha = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

describe('canonicalJson', () => {
  test('sorts keys, no whitespace, arrays kept in order', () => {
    expect(canonicalJson({ b: 1, a: [3, 'x', null, true, { d: false, c: 1.5 }] })).toBe(
      '{"a":[3,"x",null,true,{"c":1.5,"d":false}],"b":1}',
    );
    expect(canonicalJson([])).toBe('[]');
    expect(canonicalJson({})).toBe('{}');
    expect(canonicalJson('s')).toBe('"s"');
    expect(canonicalJson(-0)).toBe('0');
    expect(canonicalJson(1e21)).toBe('1e+21');
  });

  test('orders keys by UTF-16 code units, not code points', () => {
    // U+1F600 is the surrogate pair D83D DE00, which sorts before U+FF5E.
    const value = { '\uFF5E': 1, '\u{1F600}': 2, é: 3, z: 4, Z: 5, '10': 6, '9': 7, '': 8 };
    expect(canonicalJson(value)).toBe('{"":8,"10":6,"9":7,"Z":5,"z":4,"é":3,"\u{1F600}":2,"\uFF5E":1}');
  });

  test('escapes strings as JSON.stringify does', () => {
    expect(canonicalJson('a"b\\c\n\u0001\u2028é')).toBe('"a\\"b\\\\c\\n\\u0001\u2028é"');
    expect(canonicalJson('\ud800x')).toBe('"\\ud800x"'); // lone surrogate
    expect(canonicalJson('\u{1F600}')).toBe('"\u{1F600}"'); // a pair stays as is
  });

  test('omits undefined object members', () => {
    expect(canonicalJson({ a: undefined, b: { c: undefined, d: 1 } })).toBe('{"b":{"d":1}}');
  });

  test.each([
    [{ a: { b: [1, Number.NaN] } }, '$.a.b[1]'],
    [{ x: Number.POSITIVE_INFINITY }, '$.x'],
    [{ big: 1n }, '$.big'],
    [{ f: () => 1 }, '$.f'],
    [{ when: new Date(0) }, '$.when'],
    [{ m: new Map() }, '$.m'],
    [[1, undefined], '$[1]'],
    [undefined, '$'],
    [Symbol('s'), '$'],
  ])('rejects what JSON cannot carry faithfully: %#', (value, field) => {
    let caught: unknown;
    try {
      canonicalJson(value);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).field).toBe(field);
  });

  test('rejects cycles', () => {
    const a: Record<string, unknown> = {};
    a['self'] = a;
    expect(() => canonicalJson(a)).toThrow(ValidationError);
  });

  test('accepts objects without a prototype', () => {
    const o = Object.create(null) as Record<string, unknown>;
    o['b'] = 1;
    o['a'] = 2;
    expect(canonicalJson(o)).toBe('{"a":2,"b":1}');
  });

  test.prop([fc.jsonValue()])('matches the reference encoder and parses back to the same value', (value) => {
    const text = canonicalJson(value);
    expect(text).toBe(reference(value));
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
  });

  test.prop([fc.jsonValue(), fc.integer()])('does not depend on key insertion order', (value, seed) => {
    expect(canonicalJson(reorder(value, seed))).toBe(canonicalJson(value));
  });

  test.prop([fc.jsonValue()])('is a fixed point: canonical text re-encodes to itself', (value) => {
    const text = canonicalJson(value);
    expect(canonicalJson(JSON.parse(text))).toBe(text);
  });
});

describe('sha256Hex', () => {
  test('known vectors', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  test.prop([fc.string({ unit: 'binary' })])('agrees with node:crypto on UTF-8 bytes, lone surrogates included', (s) => {
    const text = canonicalJson(s); // canonical text never holds a lone surrogate: it is escaped
    expect(sha256Hex(text)).toBe(nodeSha(text));
  });

  test.prop([fc.string({ unit: 'grapheme' })])("is the adapters' native digest (nativeSha256Hex), byte for byte", (s) => {
    const text = canonicalJson(s);
    expect(nativeSha256Hex(text)).toBe(sha256Hex(text));
  });
});

describe('encodeEnvelope / hashEnvelope', () => {
  const golden = {
    id: 'evt-1',
    type: 'negotiation.acked',
    v: 1,
    at: '2026-01-01T00:00:00.000Z',
    host: 'host-a',
    tenant: 't1',
    app: 'render',
    fn: 'crc32',
    instance: 'i-1',
    seq: 1,
    causationId: 'cmd-1',
    correlationId: 'i-1',
    prevHash: '0'.repeat(64),
    data: { tenant: 't1', app: 'render', fn: 'crc32', kind: 'hw', instance: 'i-1', fallback: false },
  };
  // Computed independently (Python: json.dumps(sort_keys=True, separators=(',', ':'), ensure_ascii=False)).
  const goldenInput =
    '{"app":"render","at":"2026-01-01T00:00:00.000Z","causationId":"cmd-1","correlationId":"i-1","data":{"app":"render","fallback":false,"fn":"crc32","instance":"i-1","kind":"hw","tenant":"t1"},"fn":"crc32","host":"host-a","id":"evt-1","instance":"i-1","prevHash":"0000000000000000000000000000000000000000000000000000000000000000","seq":1,"tenant":"t1","type":"negotiation.acked","v":1}';
  const goldenHash = 'c6e51a099ded1500dfa8e5fe2b31eba9a9ecb78d6e2096987fb383f11d5310c3';

  test('golden vector (also in docs/events.md)', () => {
    expect(encodeEnvelope(golden).hashInput).toBe(goldenInput);
    expect(hashEnvelope(golden)).toBe(goldenHash);
    const sealed = { ...golden, hash: goldenHash };
    const { canonical, hashInput } = encodeEnvelope(sealed);
    expect(hashInput).toBe(goldenInput);
    expect(canonical).toBe(goldenInput.replace(',"host":', `,"hash":"${goldenHash}","host":`));
    expect(canonical).toBe(canonicalJson(sealed));
  });

  test('second golden vector, non-ASCII and escapes', () => {
    const env = {
      id: 'evt-2',
      type: 'negotiation.nacked',
      v: 1,
      at: '2026-01-01T00:00:00.001Z',
      host: 'host-a',
      tenant: 't2',
      app: 'café',
      fn: 'fft',
      instance: null,
      seq: 2,
      causationId: 'cmd-2',
      correlationId: null,
      prevHash: goldenHash,
      data: { tenant: 't2', app: 'café', fn: 'fft', kind: 'hw', reason: 'no-capacity', detail: 'all 2 hw slots of "fft" are taken' },
    };
    expect(hashEnvelope(env)).toBe('333e77566c82e1cf84b18adcd23ae0f3307fbbc3d6393bbe62c20985587e09cd');
  });

  test('hash ignores the hash member itself', () => {
    expect(hashEnvelope({ ...golden, hash: 'anything' })).toBe(goldenHash);
  });

  test.prop([fc.dictionary(fc.string(), fc.jsonValue()), fc.string()])(
    'hashInput is the canonical JSON without hash; canonical is the canonical JSON with it',
    (obj, hash) => {
      const withHash = { ...obj, hash };
      const { canonical, hashInput } = encodeEnvelope(withHash);
      const { hash: _dropped, ...without } = withHash;
      expect(hashInput).toBe(canonicalJson(without));
      expect(canonical).toBe(canonicalJson(withHash));
    },
  );
});

describe('encodingOfText', () => {
  const sealedArb = fc.tuple(pendingArb, fc.nat()).map(([p, seq]) =>
    sealEnvelope(p, { seq: seq + 1, prevHash: GENESIS_HASH, id: `evt-${seq}`, at: '2026-01-01T00:00:00.000Z', host: 'h' }),
  );

  test.prop([sealedArb])('accepts a canonical line and agrees with encodeEnvelope', (env) => {
    const expected = encodeEnvelope(env);
    expect(encodingOfText(expected.canonical, JSON.parse(expected.canonical) as object)).toEqual(expected);
  });

  test.prop([sealedArb, fc.nat(), fc.constantFrom(' ', '\n', '\t')])('rejects a line with whitespace added between tokens', (env, at, ws) => {
    const text = encodeEnvelope(env).canonical;
    // between two tokens: after a comma or colon that is structural
    const spots = [...text.matchAll(/[,:](?=["{[\dtfn-])/g)].map((m) => m.index! + 1);
    fc.pre(spots.length > 0);
    const pos = spots[at % spots.length]!;
    const changed = text.slice(0, pos) + ws + text.slice(pos);
    let parsed: object;
    try {
      parsed = JSON.parse(changed) as object;
    } catch {
      return; // a control character inside a string: not JSON any more
    }
    const slow = encodeEnvelope(parsed);
    // Outside strings this is never canonical; inside a string (a space) it is another canonical text.
    expect(encodingOfText(changed, parsed)).toEqual(slow.canonical === changed ? slow : null);
    if (ws !== ' ') expect(slow.canonical).not.toBe(changed);
  });

  const base = {
    app: 'a',
    at: 't',
    causationId: null,
    correlationId: null,
    data: { stats: { calls: 1, errors: { '10': 1, '9': 2 } }, x: { hash: 'h'.repeat(64) } },
    fn: null,
    hash: 'h'.repeat(64),
    host: 'h',
    id: 'i',
    instance: null,
    prevHash: GENESIS_HASH,
    seq: 1,
    tenant: null,
    type: 'vfund.stopped',
    v: 1,
  };

  test('handles integer-like keys and a nested "hash" member with the same value', () => {
    const expected = encodeEnvelope(base);
    expect(expected.canonical).toContain('"errors":{"10":1,"9":2}');
    expect(encodingOfText(expected.canonical, JSON.parse(expected.canonical) as object)).toEqual(expected);
  });

  test.each([
    ['keys out of order', (t: string) => t.replace('"app":"a","at":"t"', '"at":"t","app":"a"')],
    ['an uppercase escape', (t: string) => t.replace('"host":"h"', '"host":"\\u0068"')],
    ['an exponent', (t: string) => t.replace('"calls":1', '"calls":1e0')],
    ['a duplicate key', (t: string) => t.replace('"app":"a"', '"app":"b","app":"a"')],
  ])('rejects %s', (_name, change) => {
    const text = change(encodeEnvelope(base).canonical);
    expect(text).not.toBe(encodeEnvelope(base).canonical);
    expect(encodingOfText(text, JSON.parse(text) as object)).toBeNull();
  });

  test('accepts objects that are not standard envelopes, by the slow path', () => {
    const odd = { ...base, extra: { z: 1 } };
    const expected = encodeEnvelope(odd);
    expect(encodingOfText(expected.canonical, JSON.parse(expected.canonical) as object)).toEqual(expected);
  });
});

describe('encodingOfText agrees with the exact check', () => {
  const oracle = (text: string, parsed: object) => {
    let enc: ReturnType<typeof encodeEnvelope>;
    try {
      enc = encodeEnvelope(parsed);
    } catch {
      return null;
    }
    return enc.canonical === text ? enc : null;
  };
  const keyArb = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('hash', 'a', 'z', '10', '9', 'é', '\u{1F600}', 'a"b'));
  const memberArb = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.string({ unit: 'binary', maxLength: 6 }),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(0, -1, 1e15, 123456789012345, 1234567890123456, 0.5, 1e21),
  );
  const objectArb = fc.dictionary(keyArb, memberArb, { maxKeys: 6 });
  const edit = fc.record({
    at: fc.nat(),
    op: fc.constantFrom('insert', 'delete', 'replace'),
    ch: fc.constantFrom(...'{}[]":,\\ 019-.eEtnu/\u0001\ud800é'.split('')),
  });

  test.prop([objectArb, fc.array(edit, { maxLength: 2 })], { numRuns: 400 })(
    'on canonical texts and on texts a few edits away from them',
    (value, edits) => {
      let text = canonicalJson(value);
      for (const { at, op, ch } of edits) {
        const pos = at % (text.length + 1);
        if (op === 'insert') text = text.slice(0, pos) + ch + text.slice(pos);
        else if (op === 'delete') text = text.slice(0, pos) + text.slice(pos + 1);
        else text = text.slice(0, pos) + ch + text.slice(pos + 1);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return;
      }
      fc.pre(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed));
      expect(encodingOfText(text, parsed as object)).toEqual(oracle(text, parsed as object));
    },
  );
});
