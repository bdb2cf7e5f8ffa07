/**
 * The addon's storedSealed (native/stored.c), the JetStream reader's fast
 * check: it may say true only where the portable check (decodeStored with
 * the hash) accepts the same bytes, and says true for the records vFunD
 * writes. Needs the addon built; without it `requireShm()` fails the suite.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { encodeEnvelope, sha256Hex } from '../../src/events/canonical.js';
import { decodeStored, envelopeShapeFault, sealEnvelope } from '../../src/events/chain.js';
import { GENESIS_HASH } from '../../src/events/envelope.js';
import { requireShm } from '../../src/native/shm.js';
import { pending, pendingArb } from '../events/arbitraries.js';

const storedSealed = requireShm().storedSealed as (bytes: Uint8Array) => boolean;
const utf8 = new TextEncoder();
const decoder = new TextDecoder();

const envelopeArb = fc
  .tuple(pendingArb, fc.integer({ min: 1, max: 1_000_000 }))
  .map(([p, seq]) => sealEnvelope(p, { seq, prevHash: GENESIS_HASH, id: `evt-${seq}`, at: '2026-01-01T00:00:00.000Z', host: 'h' }));

/** The portable verdict on bytes, as the reader's slow path sees them. */
function portableAccepts(bytes: Uint8Array): boolean {
  return decodeStored(decoder.decode(bytes), true).ok;
}

/** What the reader's fast path checks after a true: the text parses to something shaped like an envelope (hashes judged by the scan). */
function parsesAsEnvelope(bytes: Uint8Array): boolean {
  try {
    return envelopeShapeFault(JSON.parse(decoder.decode(bytes)), true) === null;
  } catch {
    return false;
  }
}

/** A line with `member` (canonical JSON text of key and value) in place of `key`'s, hash recomputed. */
function resealedWith(body: Record<string, unknown>): string {
  const { hashInput } = encodeEnvelope(body);
  return encodeEnvelope({ ...body, hash: sha256Hex(hashInput) }).canonical;
}

describe('storedSealed', () => {
  test.prop([envelopeArb])('true only where the portable check accepts the same bytes', (env) => {
    const bytes = utf8.encode(encodeEnvelope(env).canonical);
    if (storedSealed(bytes)) expect(portableAccepts(bytes)).toBe(true);
  });

  it('true for the usual records (ASCII, short integers)', () => {
    let prevHash = GENESIS_HASH;
    for (let seq = 1; seq <= 200; seq++) {
      const env = sealEnvelope(pending(seq), { seq, prevHash, id: `evt-${seq}`, at: '2026-01-01T00:00:00.000Z', host: 'h' });
      prevHash = env.hash;
      expect(storedSealed(utf8.encode(encodeEnvelope(env).canonical))).toBe(true);
    }
  });

  test.prop([envelopeArb, fc.nat(), fc.integer({ min: 0x20, max: 0x7e }), fc.nat({ max: 40 }), fc.constantFrom('flip', 'delete', 'insert')])(
    'a changed byte, a deleted or inserted range: never true where the portable check refuses a parsable envelope',
    (env, at, ch, len, how) => {
      const bytes = utf8.encode(encodeEnvelope(env).canonical);
      const i = at % bytes.length;
      let changed: Uint8Array;
      if (how === 'flip') {
        changed = bytes.slice();
        changed[i] = ch;
      } else if (how === 'delete') {
        changed = new Uint8Array([...bytes.subarray(0, i), ...bytes.subarray(Math.min(bytes.length, i + len + 1))]);
      } else {
        changed = new Uint8Array([...bytes.subarray(0, i), ...bytes.subarray(i, i + len), ...bytes.subarray(i)]);
      }
      if (storedSealed(changed) && parsesAsEnvelope(changed)) expect(portableAccepts(changed)).toBe(true);
    },
  );

  it('judges the hash member first, in the middle and last, and only at the top level', () => {
    expect(storedSealed(utf8.encode(resealedWith({ a: 1, z: 2 })))).toBe(true); // hash in the middle
    expect(storedSealed(utf8.encode(resealedWith({ a: 1 })))).toBe(true); // hash last
    expect(storedSealed(utf8.encode(resealedWith({ z: { hash: 'x' } })))).toBe(true); // hash first, a nested "hash" is data
    const noHash = '{"a":1,"z":{"hash":"' + sha256Hex('{"a":1,"z":{}}') + '"}}';
    expect(storedSealed(utf8.encode(noHash))).toBe(false);
  });

  it('says false for what the scan does not judge or what is not canonical', () => {
    const good = resealedWith({ a: 1, s: 'x"y\\z', z: [true, false, null, -12] });
    expect(storedSealed(utf8.encode(good))).toBe(true);
    expect(storedSealed(utf8.encode(resealedWith({ a: 1, prevHash: '0'.repeat(64) })))).toBe(true);
    const cases = [
      good.replace('"a":1', '"a": 1'), // whitespace
      resealedWith({ a: 1.5 }), // a fraction
      resealedWith({ a: 1e21 }), // an exponent
      resealedWith({ a: 1234567890123456 }), // 16 digits
      resealedWith({ a: 'line\nbreak' }), // an escape other than \" and \\
      resealedWith({ a: 'é' }), // not ASCII
      good.replace('"hash":"', '"hash":"0').replace(/"\}$/, '"}'), // 65 digits
      good.replace(/"hash":"([0-9a-f])/, (_m, d: string) => `"hash":"${d === '0' ? '1' : '0'}`), // a wrong hash
      good.replace('{"a":1,', '{"b":1,"a":1,'), // keys out of order
      resealedWith({ a: 1, prevHash: 'A'.repeat(64) }), // prevHash not lowercase hex
      resealedWith({ a: 1, prevHash: '0'.repeat(63) }), // prevHash too short
      resealedWith({ a: 1, prevHash: 7 }), // prevHash not a string
      good + ' ',
      '',
      '[]',
    ];
    for (const text of cases) {
      expect(storedSealed(utf8.encode(text)), text).toBe(false);
    }
  });
});
