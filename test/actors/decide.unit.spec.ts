import { describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { decide, checkName, credentialDigest } from '../../src/actors/decide.js';
import { fold } from '../../src/actors/evolve.js';
import { initialState, type VFunDState } from '../../src/actors/state.js';
import type { VFunDCommand } from '../../src/actors/commands.js';
import { SECRETS, testSnapshot } from './helpers.js';

function run(commands: VFunDCommand[], from: VFunDState = initialState) {
  let s = from;
  const all = [];
  for (const c of commands) {
    const events = decide(c, s);
    all.push(...events);
    s = fold(events, s);
  }
  return { state: s, events: all };
}

const started = run([{ type: 'start', id: 'c0', host: 'h', config: testSnapshot }]).state;
const neg = (id: string, tenant: keyof typeof SECRETS, fn: string, kind: 'hw' | 'sw', fallback = false, app = id): VFunDCommand => ({
  type: 'negotiate',
  id,
  tenant,
  credential: SECRETS[tenant],
  app,
  fn,
  kind,
  fallback,
});

describe('decide', () => {
  it('refuses everything before vfund.started', () => {
    const [e] = decide(neg('c1', 't1', 'fsw', 'sw'), initialState);
    expect(e).toMatchObject({ type: 'negotiation.nacked', data: { reason: 'not-started' } });
  });

  it('nacks hardware for capacity, then acks the software fallback', () => {
    const { state } = run([neg('c1', 't2', 'fhw', 'hw'), neg('c2', 't2', 'fhw', 'hw')], started);
    const [nack] = decide(neg('c3', 't1', 'fhw', 'hw'), state);
    expect(nack).toMatchObject({ type: 'negotiation.nacked', data: { reason: 'no-capacity', kind: 'hw' } });
    expect((nack!.data as { detail: string }).detail).toContain('2 of 2 slots');
    const [ack] = decide(neg('c4', 't1', 'fhw', 'sw', true), state);
    expect(ack).toMatchObject({ type: 'negotiation.acked', data: { kind: 'sw', fallback: true, instance: 'i3' } });
  });

  it('distinguishes an unknown function from a missing kind', () => {
    expect(decide(neg('c1', 't1', 'nope', 'sw'), started)[0]).toMatchObject({ data: { reason: 'unknown-function' } });
    expect(decide(neg('c1', 't1', 'fsw', 'hw'), started)[0]).toMatchObject({ data: { reason: 'unrecognized-resource' } });
  });

  it('gives an app at most one live instance of a function (one region directory)', () => {
    const { state } = run([neg('c1', 't2', 'fsw', 'sw', false, 'app')], started);
    const [e] = decide(neg('c2', 't2', 'fsw', 'sw', false, 'app'), state);
    expect(e).toMatchObject({ data: { reason: 'already-held', detail: 't2/app already holds fsw as instance i1' } });
    expect(decide(neg('c3', 't2', 'fsw', 'sw', false, 'other'), state)[0]).toMatchObject({ type: 'negotiation.acked' });
  });

  it('enforces the per-tenant quota', () => {
    const { state } = run([neg('c1', 't3', 'fsw', 'sw')], started);
    const [e] = decide(neg('c2', 't3', 'fhw', 'sw'), state);
    expect(e).toMatchObject({ data: { reason: 'quota', detail: "tenant 't3' holds 1 of 1 instances" } });
  });

  it('refuses a wrong secret and never journals the secret', () => {
    const [e] = decide({ ...neg('c1', 't1', 'fsw', 'sw'), credential: 'guess' } as VFunDCommand, started);
    expect(e).toMatchObject({ data: { reason: 'credential' } });
    expect(JSON.stringify(started)).not.toContain(SECRETS.t1);
    expect(JSON.stringify(started)).toContain(credentialDigest(SECRETS.t1));
  });

  it('activates only the owner, only once', () => {
    const { state } = run([neg('c1', 't1', 'fsw', 'sw')], started);
    const other = decide({ type: 'activate', id: 'c2', tenant: 't2', credential: SECRETS.t2, instance: 'i1' }, state);
    expect(other[0]).toMatchObject({ type: 'activation.nacked', data: { reason: 'not-owner' } });
    const { state: s2, events } = run([{ type: 'activate', id: 'c3', tenant: 't1', credential: SECRETS.t1, instance: 'i1' }], state);
    expect(events[0]).toMatchObject({ type: 'activation.started', data: { instance: 'i1', capacity: 4096 } });
    const again = decide({ type: 'activate', id: 'c4', tenant: 't1', credential: SECRETS.t1, instance: 'i1' }, s2);
    expect(again[0]).toMatchObject({ data: { reason: 'wrong-phase', detail: expect.stringContaining("is in activation.running") } });
    // The machine's state is the instance's: activation.pending -> activation.running -> computation.
    expect(s2.instances['i1']!.lifecycle.value).toEqual({ activation: 'running' });
    const { state: s3 } = run([{ type: 'activation-result', id: 'c5', instance: 'i1', ok: true, detail: '' }], s2);
    expect(s3.instances['i1']!.lifecycle).toMatchObject({ value: 'computation', context: { capacity: 4096, instance: 'i1' } });
    expect(decide({ type: 'activate', id: 'c6', tenant: 't1', credential: SECRETS.t1, instance: 'i1' }, s3)[0]).toMatchObject({
      data: { reason: 'wrong-phase', detail: expect.stringContaining('is in computation') },
    });
    // An activation result for an instance the machine does not expect one for decides nothing.
    expect(decide({ type: 'activation-result', id: 'c7', instance: 'i1', ok: true, detail: '' }, s3)).toEqual([]);
  });

  it('journals a service restart only during computation', () => {
    const { state } = run([neg('c1', 't1', 'fsw', 'sw')], started);
    const restart = { type: 'service-restarted', id: 'c2', instance: 'i1', attempt: 1, backoffMs: 10, detail: 'd' } as const;
    expect(decide(restart, state)).toEqual([]);
    const { state: active } = run(
      [
        { type: 'activate', id: 'c3', tenant: 't1', credential: SECRETS.t1, instance: 'i1' },
        { type: 'activation-result', id: 'c4', instance: 'i1', ok: true, detail: '' },
      ],
      state,
    );
    const { state: after, events } = run([restart], active);
    expect(events.map((e) => e.type)).toEqual(['service.restarted']);
    expect(after.instances['i1']!.lifecycle.context.restarts).toBe(1);
  });

  it('releases what a previous run left live when it starts again (recovery)', () => {
    const { state } = run([neg('c1', 't1', 'fsw', 'sw')], started);
    const events = decide({ type: 'start', id: 'c9', host: 'h', config: testSnapshot }, state);
    expect(events.map((e) => e.type)).toEqual(['instance.released', 'vfund.started']);
    expect(events[0]).toMatchObject({ data: { instance: 'i1', reason: 'recovery' } });
  });

  it('reclaim is idempotent', () => {
    const c: VFunDCommand = { type: 'reclaim', id: 'c1', instance: 'i42', reason: 'failure', detail: 'x', stats: { calls: 0, errors: {} } };
    expect(decide(c, started)).toEqual([]);
  });
});

describe('names', () => {
  test.prop([fc.string()])('a name is accepted only if it is a safe path segment and subject token', (s) => {
    const ok = checkName('app', s) === null;
    expect(ok).toBe(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/.test(s));
    if (ok) {
      expect(s).not.toContain('/');
      expect(s).not.toContain('.');
    }
  });
  it('names the field and the limit', () => {
    expect(checkName('fn', 'x'.repeat(64))).toBe('fn is longer than 63 characters');
  });
});
