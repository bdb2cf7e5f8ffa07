import { describe, expect, it } from 'vitest';
import { VFunD } from '../../src/actors/vfund.js';
import { replayJournal } from '../../src/actors/replay.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { sealEnvelope } from '../../src/events/chain.js';
import { GENESIS_HASH, eventOf, type Envelope } from '../../src/events/envelope.js';
import type { VFunEvent } from '../../src/events/catalogue.js';
import { counterIds, RecordingRuntime, SECRETS, steppingClock, testSnapshot } from './helpers.js';

async function recordScenario(): Promise<Envelope[]> {
  const journal = new MemoryJournal();
  const d = await VFunD.start({ journal, runtime: new RecordingRuntime(), config: testSnapshot, host: 'h', clock: steppingClock(), ids: counterIds() });
  const t1 = { tenant: 't1', credential: SECRETS.t1 };
  const a = await d.negotiate({ ...t1, app: 'a', fn: 'fhw', kind: 'hw' });
  await d.negotiate({ ...t1, app: 'b', fn: 'fhw', kind: 'hw' });
  await d.negotiate({ ...t1, app: 'c', fn: 'fhw', kind: 'hw' }); // quota (t1 holds 2)
  await d.negotiate({ tenant: 't2', credential: 'wrong', app: 'a', fn: 'fsw', kind: 'sw' });
  if (a.ok) {
    await d.activate({ ...t1, instance: a.instance });
    await d.release({ tenant: 't2', credential: SECRETS.t2, instance: a.instance }); // not-owner
    await d.release({ ...t1, instance: a.instance });
  }
  await d.stop();
  const out: Envelope[] = [];
  for await (const e of journal.read()) out.push(e);
  return out;
}

/** Rewrite a journal from `at` on with edited events, re-chaining it as a tamperer with the code would. */
function rewrite(envs: readonly Envelope[], at: number, edit: (e: VFunEvent) => VFunEvent): Envelope[] {
  const out: Envelope[] = [];
  let prev = GENESIS_HASH;
  envs.forEach((env, i) => {
    const event = i === at ? edit(eventOf(env)) : eventOf(env);
    const sealed = sealEnvelope(
      { event, scope: env, causationId: env.causationId, correlationId: env.correlationId },
      { seq: env.seq, prevHash: prev, id: env.id, at: env.at, host: env.host },
    );
    out.push(sealed);
    prev = sealed.hash;
  });
  return out;
}

describe('replay', () => {
  it('reproduces every recorded decision of an honest journal', async () => {
    const envs = await recordScenario();
    const r = await replayJournal(envs);
    expect(r.divergence).toBeNull();
    expect(r.events).toBe(envs.length);
    expect(r.state.running).toBe(false);
  });

  it('names the first decision a re-chained, edited journal got wrong', async () => {
    const envs = await recordScenario();
    const at = envs.findIndex((e) => e.type === 'negotiation.nacked' && (e.data as { reason: string }).reason === 'quota');
    const forged = rewrite(envs, at, (e) => ({ ...e, data: { ...e.data, reason: 'no-capacity' } }) as VFunEvent);
    const r = await replayJournal(forged);
    expect(r.divergence).toMatchObject({ seq: envs[at]!.seq, command: 'negotiate' });
    expect(r.divergence!.recomputed[0]).toMatchObject({ data: { reason: 'quota' } });
  });

  it('notices an ack that the rules would have refused', async () => {
    const envs = await recordScenario();
    const at = envs.findIndex((e) => e.type === 'release.nacked');
    const forged = rewrite(envs, at, (e) =>
      e.type === 'release.nacked' ? { type: 'instance.released', data: { instance: e.data.instance, reason: 'client', stats: { calls: 0, errors: {} } } } : e,
    );
    const r = await replayJournal(forged);
    expect(r.divergence).toMatchObject({ seq: envs[at]!.seq });
  });
});
