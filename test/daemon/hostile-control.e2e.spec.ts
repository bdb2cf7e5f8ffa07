/**
 * A hostile tenant abuses its control channel, against a real `vfun up`,
 * while an honest tenant keeps calling: it floods its socket with malformed
 * lines over the connection that holds its instance, takes every instance its
 * quota allows (and asks for more), and closes its control connection while a
 * call is in flight. After each: vFunD is the same live process and answers,
 * the honest loop has no error and goes on, the attacker's instances are
 * released with their cause journaled, and the journal verifies and replays.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lifeOf, stage, type Stage } from '../support/hostile.js';

type Opened = { instance: string; servicePid: number };
type LoopEnd = { ok: number; errors: Record<string, number>; ended: string };

describe('a hostile tenant and its control channel', () => {
  let s: Stage;
  beforeAll(async () => {
    s = await stage('hostile-control');
  });
  afterAll(async () => {
    await s?.close();
  });

  it('floods its socket with malformed lines: a bounded number journaled, the connection cut, what it held released (lease)', async () => {
    const a = await s.attacker();
    const { instance } = await a.request<Opened>('open', { app: 'flood', fn: 'crc32' });
    const f = await a.request<{ byReason: Record<string, number>; cut: boolean }>('flood', { lines: 4000 });
    expect(f.cut).toBe(true);
    expect(f.byReason.malformed).toBeGreaterThan(200); // every line is answered until the cut
    const disconnected = await s.eventWhere((e) => e.type === 'control.disconnected' && e.tenant === 'mallory');
    expect(disconnected.data).toMatchObject({ suppressed: expect.any(Number), refusals: expect.any(Number) });
    await s.eventWhere((e) => e.type === 'refusals.suppressed' && e.tenant === 'mallory' && e.data.ended === true);
    await s.eventWhere((e) => e.type === 'instance.released' && e.data.instance === instance);
    await s.checkContained();
    const events = await s.audit('mallory');
    // The tenant's refusal limit: its burst (20) journaled one by one, the rest in summaries.
    expect(events.filter((e) => e.type === 'request.refused').length).toBeLessThanOrEqual(25);
    const life = lifeOf(events, instance);
    expect(life.map((e) => e.type)).toEqual(['negotiation.acked', 'activation.started', 'activation.acked', 'client.lost', 'instance.released']);
    expect(life.at(-1)!.data.reason).toBe('lease');
    expect(String(life[3]!.data.detail)).toContain('flooding');
    // Nothing of the flood was filed under the honest tenant.
    expect((await s.audit('honest')).filter((e) => e.type === 'request.refused' || e.type === 'control.disconnected')).toEqual([]);
    await a.close();
  });

  it('takes its whole quota and asks for more: refused (quota) while the honest tenant negotiates as before', async () => {
    const a = await s.attacker();
    const q = await a.request<{ instances: string[]; refused: string | null; phase: string }>('quota', { app: 'hog', fn: 'crc32' });
    expect(q).toMatchObject({ instances: [expect.any(String), expect.any(String), expect.any(String)], refused: 'quota', phase: 'negotiation' });
    // At its quota, holding three live services: the honest tenant is not refused anything.
    await s.checkContained();
    const { released } = await a.request<{ released: Record<string, { calls: number }> }>('release');
    expect(Object.keys(released).sort()).toEqual([...q.instances].sort());
    await s.checkContained();
    const events = await s.audit('mallory');
    expect(events.filter((e) => e.type === 'negotiation.nacked').at(-1)!.data).toMatchObject({ reason: 'quota', app: 'hog3' });
    for (const i of q.instances) expect(lifeOf(events, i).at(-1)).toMatchObject({ type: 'instance.released', data: { reason: 'client' } });
    await a.close();
  });

  it('closes its control connection with a call in flight: client.lost, released (lease) with the calls it made', async () => {
    const a = await s.attacker();
    const { instance } = await a.request<Opened>('open', { app: 'dropper', fn: 'crc32' });
    await a.request('loop');
    const d = await a.request<{ instances: string[]; loop: LoopEnd }>('disconnect');
    expect(d.instances).toEqual([instance]);
    // The call in flight when the lease ended is never answered: the guest is told the channel closed.
    expect(d.loop).toMatchObject({ ended: 'CHANNEL_CLOSED' });
    const released = await s.eventWhere((e) => e.type === 'instance.released' && e.data.instance === instance);
    expect(released.data.reason).toBe('lease');
    // The service counted what it answered: every call the guest saw, and at most the one in flight.
    const calls = (released.data.stats as { calls: number }).calls;
    expect(calls).toBeGreaterThanOrEqual(d.loop.ok);
    expect(calls).toBeLessThanOrEqual(d.loop.ok + 1);
    await s.checkContained();
    expect(lifeOf(await s.audit('mallory'), instance).map((e) => e.type)).toEqual(['negotiation.acked', 'activation.started', 'activation.acked', 'client.lost', 'instance.released']);
    await a.close();
  });
});
