/**
 * Every journaled event type is logged, with its level, a message and the
 * fields an operator filters on: the examples come from docs/events.md, which
 * has one per event type of the catalogue (test/events/docs.unit.spec.ts), so
 * a new event type is checked here as soon as it is documented.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { EVENT_TYPES, type VFunEventType } from '../../src/events/catalogue.js';
import type { Envelope } from '../../src/events/envelope.js';
import { LOG_LEVELS } from '../../src/daemon/log.js';
import { availabilityRecord, jetStreamRecord, logRecordOf, type JetStreamStateView } from '../../src/daemon/log-records.js';

const doc = readFileSync(new URL('../../docs/events.md', import.meta.url), 'utf8');
const examples = new Map(
  [...doc.matchAll(/```jsonl\n(.*)\n```/g)].map((m) => {
    const e = JSON.parse(m[1]!) as Envelope;
    return [e.type, e] as const;
  }),
);
const example = (type: VFunEventType): Envelope => {
  const e = examples.get(type);
  if (e === undefined) throw new Error(`docs/events.md has no example of ${type}`);
  return e;
};

describe('logRecordOf', () => {
  test.each([...EVENT_TYPES])('%s: a record with a level, a message, the event, its seq and its scope', (type) => {
    const e = example(type);
    const r = logRecordOf(e);
    expect(r, type).not.toBeNull();
    expect(LOG_LEVELS).toContain(r!.level);
    expect(r!.msg.length).toBeGreaterThan(0);
    expect(r!.fields).toMatchObject({ event: type, seq: e.seq });
    for (const k of ['tenant', 'app', 'fn', 'instance'] as const) {
      if (e[k] === null) expect(r!.fields).not.toHaveProperty(k);
      else expect(r!.fields[k]).toBe(e[k]);
    }
    expect(JSON.parse(JSON.stringify(r!.fields))).toEqual(r!.fields); // plain JSON: pino writes it as it is
  });

  test('levels: refusals, floods, lost clients, restarts and recoveries warn; a failed service is an error; a negotiation acked is debug', () => {
    const levelOf = (type: VFunEventType, data?: object) => {
      const e = example(type);
      return logRecordOf({ ...e, data: { ...e.data, ...data } } as Envelope)!.level;
    };
    for (const t of ['request.refused', 'refusals.suppressed', 'control.disconnected', 'client.lost', 'service.restarted', 'activation.nacked'] as const) expect(levelOf(t), t).toBe('warn');
    expect(levelOf('service.failed')).toBe('error');
    expect(levelOf('negotiation.acked')).toBe('debug');
    expect(levelOf('instance.released', { reason: 'client' })).toBe('info');
    expect(levelOf('instance.released', { reason: 'recovery' })).toBe('warn');
    expect(levelOf('negotiation.nacked', { reason: 'quota' })).toBe('info');
    expect(levelOf('negotiation.nacked', { reason: 'credential' })).toBe('warn');
    expect(levelOf('journal.checkpoint')).toBe('info');
  });

  test('request.refused names the tenant and the reason; control.disconnected says the connection was closed for flooding', () => {
    const refused = example('request.refused');
    expect(logRecordOf(refused)!.fields).toMatchObject({ tenant: refused.tenant, reason: (refused.data as { reason: string }).reason });
    expect(logRecordOf(example('control.disconnected'))!.msg).toBe('connection closed for flooding');
  });

  test('an event type the table does not know (a newer journal) is not logged, and does not throw', () => {
    expect(logRecordOf({ ...example('client.lost'), type: 'from.the.future' } as unknown as Envelope)).toBeNull();
  });
});

describe('availabilityRecord', () => {
  test('an outage is an error with how many events wait; its end is info with how long it lasted (the messages vFunD always printed)', () => {
    const down = availabilityRecord('file:/j', { available: false, reason: 'ENOSPC: no space', waiting: 3 });
    expect(down).toMatchObject({ level: 'error', fields: { event: 'journal.unavailable', waiting: 3, reason: 'ENOSPC: no space' } });
    expect(down.msg).toContain('cannot write (ENOSPC: no space)');
    const up = availabilityRecord('file:/j', { available: true, reason: null, waiting: 0, outageMs: 2500 });
    expect(up).toMatchObject({ level: 'info', fields: { event: 'journal.available', outageMs: 2500 } });
    expect(up.msg).toContain('writes again after 2.5 s');
  });
});

describe('jetStreamRecord', () => {
  const ok: JetStreamStateView = { reachable: true, available: true, failClosed: true, outboxed: 0, pending: 0, failure: null, lastError: null };
  test('unreachable: the outbox (an error when fail-closed refuses negotiations, a warning otherwise); reachable again: info', () => {
    const down = { ...ok, reachable: false, available: false, outboxed: 4, lastError: 'connection refused' };
    expect(jetStreamRecord('nats://h', ok, down)).toMatchObject({ level: 'error', fields: { event: 'journal.unreachable', outboxed: 4 } });
    expect(jetStreamRecord('nats://h', { ...ok, failClosed: false }, { ...down, failClosed: false, available: true })).toMatchObject({ level: 'warn' });
    expect(jetStreamRecord('nats://h', down, ok)).toMatchObject({ level: 'info', fields: { event: 'journal.reachable' } });
    expect(jetStreamRecord('nats://h', ok, { ...ok, pending: 3 })).toBeNull();
  });
  test('fenced: an error naming why, once', () => {
    const fenced = { ...ok, available: false, failure: Object.assign(new Error('the stream ends at seq 9: another writer'), { code: 'CONCURRENCY' }) };
    expect(jetStreamRecord('nats://h', ok, fenced)).toMatchObject({ level: 'error', fields: { event: 'journal.fenced', err: { code: 'CONCURRENCY' } } });
    expect(jetStreamRecord('nats://h', fenced, { ...fenced, reachable: false })).toBeNull();
  });
});
