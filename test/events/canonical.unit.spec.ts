import { createHash } from 'node:crypto';
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import { canonicalJson, encodeEnvelope, hashEnvelope, sha256Hex } from '../../src/events/canonical.js';

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
