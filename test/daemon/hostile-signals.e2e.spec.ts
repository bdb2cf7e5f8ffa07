/**
 * A hostile tenant signals every process of its own, against a real `vfun
 * up`, while an honest tenant keeps calling: its guest (SIGKILL; SIGSTOP, then
 * SIGCONT) and its own service process (SIGKILL, SIGSEGV, SIGBUS sent with
 * kill(2) by the guest: with a uid of its own its services run as that uid, so
 * it may). After each: vFunD is the same live process and answers, the honest
 * loop has no error and goes on, the attacker's instance is released with its
 * cause journaled (client.lost; service.failed with the signal), and the
 * journal verifies and replays.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeFdRegion, isFdRegion } from '../../src/dataplane/region-fds.js';
import { ControlClient } from '../../src/guest/control-client.js';
import { lifeOf, SECRETS, stage, type Stage } from '../support/hostile.js';

type Opened = { instance: string; servicePid: number };
type LoopEnd = { ok: number; errors: Record<string, number>; ended: string };

describe('a hostile tenant and its processes', () => {
  let s: Stage;
  beforeAll(async () => {
    s = await stage('hostile-signals');
  });
  afterAll(async () => {
    await s?.close();
  });

  it('its guest killed -9 mid-call: client.lost, released (lease), nothing else touched', async () => {
    const a = await s.attacker();
    const { instance } = await a.request<Opened>('open', { app: 'killed', fn: 'crc32' });
    expect(await a.request('loop')).toMatchObject({ loop: 'running' });
    a.signal('SIGKILL');
    expect(await a.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await s.eventWhere((e) => e.type === 'instance.released' && e.data.instance === instance);
    await s.checkContained();
    const life = lifeOf(await s.audit('mallory'), instance);
    expect(life.map((e) => e.type)).toEqual(['negotiation.acked', 'activation.started', 'activation.acked', 'client.lost', 'instance.released']);
    expect(life.at(-1)!.data).toMatchObject({ reason: 'lease', stats: { calls: expect.any(Number) } });
  });

  it('its guest stopped (SIGSTOP) holds its instance while everyone else goes on, and calls again after SIGCONT', async () => {
    const a = await s.attacker();
    const { instance } = await a.request<Opened>('open', { app: 'stopped', fn: 'crc32' });
    await a.request('loop');
    a.signal('SIGSTOP');
    // Stopped mid-loop: the honest tenant goes on, and vFunD answers it.
    await s.checkContained();
    expect(lifeOf(await s.events(), instance).map((e) => e.type)).toEqual(['negotiation.acked', 'activation.started', 'activation.acked']);
    a.signal('SIGCONT');
    const before = (await a.request<{ ok: number }>('loopStats')).ok;
    await expect.poll(async () => (await a.request<{ ok: number }>('loopStats')).ok, { timeout: 30_000 }).toBeGreaterThan(before + 1000);
    const { released, loop } = await a.request<{ released: Record<string, { calls: number }>; loop: LoopEnd }>('release');
    expect(loop).toMatchObject({ ended: 'stopped', errors: {} });
    expect(released[instance]!.calls).toBeGreaterThanOrEqual(loop.ok);
    await s.checkContained();
    expect(lifeOf(await s.audit('mallory'), instance).at(-1)).toMatchObject({ type: 'instance.released', data: { reason: 'client' } });
    await a.close();
  });

  for (const signal of ['SIGKILL', 'SIGSEGV', 'SIGBUS'] as const) {
    it(`its own service process sent ${signal} mid-call: service.failed with the signal, released (failure)`, async () => {
      const a = await s.attacker();
      const { instance, servicePid } = await a.request<Opened>('open', { app: `sig${signal.toLowerCase()}`, fn: 'crc32' });
      // The pid the guest reads in datain is the service process vFunD records.
      expect((await s.adminEntry(instance)).pid).toBe(servicePid);
      const service = JSON.parse(await readFile(join(s.root, 'service', 'mallory', `sig${signal.toLowerCase()}`, 'crc32', 'service.json'), 'utf8')) as { pid: number };
      expect(service.pid).toBe(servicePid);
      await a.request('loop');
      expect(await a.request('kill', { signal })).toMatchObject({ pid: servicePid, result: 'ok' });
      // The guest in its call learns at once that no answer will come.
      expect(await a.request<LoopEnd>('loopWait')).toMatchObject({ ended: 'CHANNEL_CLOSED' });
      const failed = await s.eventWhere((e) => e.type === 'service.failed' && e.data.instance === instance);
      expect(failed.data.cause).toEqual({ code: null, signal });
      await s.eventWhere((e) => e.type === 'instance.released' && e.data.instance === instance);
      await s.checkContained();
      const life = lifeOf(await s.audit('mallory'), instance);
      expect(life.map((e) => e.type)).toEqual(['negotiation.acked', 'activation.started', 'activation.acked', 'service.failed', 'instance.released']);
      expect(life.at(-1)!.data.reason).toBe('failure');
      if (s.identity) {
        // With a uid of its own, its own processes are all it can signal: not vFunD, not another tenant's service.
        const witness = await honestInstance(s);
        try {
          const probe = await a.request<Record<string, string>>('probe', { pids: [s.vfundPid, witness.pid] });
          expect({ vfund: probe[String(s.vfundPid)], honestService: probe[String(witness.pid)] }).toEqual({ vfund: 'EPERM', honestService: 'EPERM' });
        } finally {
          await witness.release();
        }
      }
      await a.close();
    });
  }
});

/** An active instance of the honest tenant held by the test, with the pid of its service process. */
async function honestInstance(s: Stage): Promise<{ pid: number; release: () => Promise<void> }> {
  const c = await ControlClient.connect(s.sock('honest'));
  const creds = { tenant: 'honest', credential: SECRETS.honest };
  const n = await c.negotiate({ ...creds, app: 'witness', fn: 'crc32', kind: 'sw' });
  if (!n.ok) throw new Error(n.detail);
  const act = await c.activate({ ...creds, instance: n.instance });
  if (!act.ok) throw new Error(act.detail);
  if (isFdRegion(act.region)) closeFdRegion(act.region);
  const { pid } = await s.adminEntry(n.instance);
  return {
    pid,
    release: async () => {
      await c.release({ ...creds, instance: n.instance });
      c.close();
    },
  };
}
