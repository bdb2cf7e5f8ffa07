/**
 * Damage acknowledgements (damage.ts), without a server: the records that
 * count, the event that stands for a damaged message (fixed by the record),
 * and when an acknowledgement does not apply.
 */
import { describe, expect, test } from 'vitest';
import { chainFault } from '../../src/events/chain.js';
import { GENESIS_HASH } from '../../src/events/envelope.js';
import { acknowledgedEvent, acknowledgementsOf, damageMessage, judgeDamage, parseDamageAck, type DamageAck } from '../../src/events/adapters/jetstream/damage.js';

const ack: DamageAck = {
  v: 1,
  kind: 'damage-acknowledged',
  host: 'h1',
  stream: 'VFUN_EVT_h1',
  seq: 4,
  sha256: 'a'.repeat(64),
  fault: 'is not valid JSON',
  prevHash: 'b'.repeat(64),
  reason: 'test publish',
  by: 'admin',
  at: '2026-06-01T00:00:00.000Z',
};
const text = (a: object): string => JSON.stringify(a);

describe('acknowledgements', () => {
  test('parseDamageAck takes a whole record and names what is missing', () => {
    expect(parseDamageAck(text(ack))).toEqual({ ok: true, ack });
    expect(parseDamageAck('nope')).toMatchObject({ ok: false, reason: 'is not JSON' });
    expect(parseDamageAck(text({ ...ack, v: 2 }))).toMatchObject({ ok: false });
    expect(parseDamageAck(text({ ...ack, seq: 0 }))).toMatchObject({ ok: false, reason: 'field seq: expected a positive integer' });
    expect(parseDamageAck(text({ ...ack, sha256: 'x' }))).toMatchObject({ ok: false, reason: /field sha256/ });
    expect(parseDamageAck(text({ ...ack, reason: 7 }))).toMatchObject({ ok: false, reason: 'field reason: expected a string' });
  });

  test('the first record for a seq wins; other streams and hosts are not ours', () => {
    const m = acknowledgementsOf(
      [
        { text: text({ ...ack, stream: 'OTHER' }), ref: 'VFUN_ACK:1' },
        { text: text({ ...ack, host: 'h2' }), ref: 'VFUN_ACK:2' },
        { text: 'garbage', ref: 'VFUN_ACK:3' },
        { text: text(ack), ref: 'VFUN_ACK:4' },
        { text: text({ ...ack, reason: 'later' }), ref: 'VFUN_ACK:5' },
      ],
      'VFUN_EVT_h1',
      'h1',
    );
    expect([...m.keys()]).toEqual([4]);
    expect(m.get(4)).toMatchObject({ ref: 'VFUN_ACK:4', ack: { reason: 'test publish' } });
  });

  test('the standing event: a sound envelope at the seq, chained on prevHash, its hash fixed by the record', () => {
    const e = acknowledgedEvent(ack, 'VFUN_ACK:4');
    expect(e).toMatchObject({ seq: 4, prevHash: ack.prevHash, type: 'journal.damage-acknowledged', v: 1, host: 'h1', tenant: null, causationId: null });
    expect(chainFault(e, { seq: 3, hash: ack.prevHash })).toBeNull();
    expect(acknowledgedEvent(ack, 'VFUN_ACK:4').hash).toBe(e.hash);
    expect(acknowledgedEvent({ ...ack, reason: 'other' }, 'VFUN_ACK:4').hash).not.toBe(e.hash);
    expect(acknowledgedEvent({ ...ack, seq: 1, prevHash: GENESIS_HASH }, 'r').seq).toBe(1);
  });

  test('an acknowledgement holds for the same bytes after the same chain only', () => {
    const acked = { ack, ref: 'VFUN_ACK:4', event: acknowledgedEvent(ack, 'VFUN_ACK:4') };
    expect(judgeDamage(acked, ack.sha256, ack.prevHash)).toEqual({ ok: true, event: acked.event });
    expect(judgeDamage(acked, ack.sha256, null)).toMatchObject({ ok: true });
    expect(judgeDamage(acked, 'c'.repeat(64), ack.prevHash)).toMatchObject({ ok: false, note: /names other bytes/ });
    expect(judgeDamage(acked, ack.sha256, 'd'.repeat(64))).toMatchObject({ ok: false, note: /chains on/ });
    expect(judgeDamage(undefined, ack.sha256, ack.prevHash)).toEqual({ ok: false, note: '' });
    expect(damageMessage(4, 'is not valid JSON', ack.sha256, 'nats://a:1?host=h1')).toContain("vfun audit acknowledge --journal 'nats://a:1?host=h1' --seq 4 --reason '<why>'");
  });
});
