/**
 * `refusals.suppressed` and `control.disconnected` through vFunD: decided, journaled, folded
 * (they change no state), reproduced by replay, and counted by `vfun audit summary` as security events.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { VFunD } from '../../src/actors/vfund.js';
import { decide } from '../../src/actors/decide.js';
import { evolve } from '../../src/actors/evolve.js';
import { replayJournal } from '../../src/actors/replay.js';
import { summarize } from '../../src/cli/audit.js';
import { isSecurityEvent, type NackReason } from '../../src/events/catalogue.js';
import { verifyChain } from '../../src/events/chain.js';
import type { Envelope } from '../../src/events/envelope.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { initialState } from '../../src/actors/state.js';
import { counterIds, RecordingRuntime, SECRETS, steppingClock, testSnapshot } from './helpers.js';

async function readAll(journal: MemoryJournal): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for await (const e of journal.read()) out.push(e);
  return out;
}

const reasonArb = fc.constantFrom<NackReason>('malformed', 'replayed', 'credential', 'not-owner');
const summaryArb = fc.record({
  tenant: fc.string({ maxLength: 80 }),
  from: fc.date({ noInvalidDate: true, min: new Date(0) }).map((d) => d.toISOString()),
  to: fc.date({ noInvalidDate: true, min: new Date(0) }).map((d) => d.toISOString()),
  counts: fc.dictionary(reasonArb, fc.integer({ min: 1, max: 1e6 }), { maxKeys: 4, noNullPrototype: true }),
  disconnections: fc.nat(1000),
  ended: fc.boolean(),
}).map((s) => ({ ...s, total: Object.values(s.counts).reduce((a, b) => a + b, 0) }));
const disconnectArb = fc.record({ tenant: fc.string({ maxLength: 80 }), refusals: fc.nat(), suppressed: fc.nat(), detail: fc.string({ maxLength: 200 }) });

describe('refusal events', () => {
  test.prop([fc.array(fc.oneof(summaryArb.map((d) => ({ kind: 'summary' as const, d })), disconnectArb.map((d) => ({ kind: 'disconnect' as const, d }))), { maxLength: 8 })])(
    'are journaled as given (tenant clipped), change no state, and replay reproduces them',
    async (items) => {
      const journal = new MemoryJournal();
      const d = await VFunD.start({ journal, runtime: new RecordingRuntime(), config: testSnapshot, host: 'h', clock: steppingClock(), ids: counterIds() });
      const before = d.snapshot;
      for (const item of items) {
        if (item.kind === 'summary') await d.summarizeRefusals(item.d);
        else await d.disconnected(item.d);
      }
      expect(d.snapshot).toEqual(before);
      const envs = await readAll(journal);
      expect(envs.slice(1).map((e) => e.type)).toEqual(items.map((i) => (i.kind === 'summary' ? 'refusals.suppressed' : 'control.disconnected')));
      for (const e of envs.slice(1)) {
        expect(e.tenant!.length).toBeLessThanOrEqual(64);
        expect(e.instance).toBeNull();
        expect(isSecurityEvent({ type: e.type, data: e.data } as never)).toBe(true);
      }
      expect(await verifyChain(envs)).toMatchObject({ ok: true });
      const replay = await replayJournal(envs);
      expect(replay.divergence).toBeNull();
      expect(replay.state).toEqual(d.snapshot);
    },
  );

  it('decide echoes the summary; evolve keeps the state', () => {
    const data = { tenant: 't1', from: '2026-01-01T00:00:00.000Z', to: '2026-01-01T00:00:10.000Z', counts: { malformed: 3 }, total: 3, disconnections: 0, ended: true };
    const events = decide({ type: 'summarize-refusals', id: 'c', ...data }, initialState);
    expect(events).toEqual([{ type: 'refusals.suppressed', data }]);
    expect(evolve(initialState, events[0]!)).toBe(initialState);
  });

  it('audit summary counts each suppressed refusal as a security event and by reason', async () => {
    const journal = new MemoryJournal();
    const d = await VFunD.start({ journal, runtime: new RecordingRuntime(), config: testSnapshot, host: 'h', clock: steppingClock(), ids: counterIds() });
    await d.refuse({ tenant: 't1', op: '?', reason: 'malformed', detail: 'request is not valid JSON' });
    await d.disconnected({ tenant: 't1', refusals: 300, suppressed: 201, detail: 'flood' });
    await d.summarizeRefusals({ tenant: 't1', from: '2026-01-01T00:00:00.000Z', to: '2026-01-01T00:00:10.000Z', counts: { malformed: 290, replayed: 9 }, total: 299, disconnections: 1, ended: true });
    await d.negotiate({ tenant: 't1', credential: SECRETS.t1, app: 'a', fn: 'fsw', kind: 'sw' });
    const t1 = summarize(await readAll(journal)).find((r) => r.tenant === 't1')!;
    expect(t1).toMatchObject({ events: 4, instances: 1, security: 1 + 1 + 299, nacks: { malformed: 291, replayed: 9 } });
  });
});
