import { describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { createActor, initialTransition, transition } from 'xstate';
import {
  lifecycleAccepts,
  lifecycleMachine,
  lifecycleNext,
  negotiatedLifecycle,
  phaseOf,
  stepOf,
  LIFECYCLE_PHASES,
  type LifecycleEvent,
  type LifecycleState,
} from '../../src/machines/lifecycle.js';

const input = { tenant: 't', app: 'a', fn: 'f', kind: 'hw' as const };

describe('lifecycle machine', () => {
  it('walks the four phases', () => {
    const a = createActor(lifecycleMachine, { input }).start();
    expect(a.getSnapshot().value).toBe('negotiation');
    a.send({ type: 'NEGOTIATION_ACK', instance: 'i1', kind: 'sw' });
    expect(a.getSnapshot().value).toEqual({ activation: 'pending' });
    expect(a.getSnapshot().context).toMatchObject({ instance: 'i1', kind: 'sw' });
    a.send({ type: 'ACTIVATE', capacity: 4096 });
    expect(stepOf(a.getSnapshot().value)).toBe('activation.running');
    a.send({ type: 'ACTIVATION_ACK' });
    expect(a.getSnapshot().value).toBe('computation');
    expect(a.getSnapshot().context.capacity).toBe(4096);
    a.send({ type: 'SERVICE_RESTARTED', attempt: 1 });
    expect(a.getSnapshot().context.restarts).toBe(1);
    a.send({ type: 'RELEASE', reason: 'client' });
    a.send({ type: 'RELEASED', stats: { calls: 7, errors: { BAD_LENGTH: 1 } } });
    expect(a.getSnapshot().status).toBe('done');
    expect(a.getSnapshot().value).toBe('released');
    expect(a.getSnapshot().context).toMatchObject({ releaseReason: 'client', stats: { calls: 7 } });
  });

  it('ends in nacked with the reason on a negotiation nack', () => {
    const a = createActor(lifecycleMachine, { input }).start();
    a.send({ type: 'NEGOTIATION_NACK', reason: 'no-capacity', detail: 'full' });
    expect(a.getSnapshot().value).toBe('nacked');
    expect(a.getSnapshot().context.reason).toBe('no-capacity');
  });

  it('takes activate once: a second one is what decide nacks as wrong-phase', () => {
    const negotiated = negotiatedLifecycle(input, 'i1');
    expect(stepOf(negotiated.value)).toBe('activation.pending');
    const running = lifecycleNext(negotiated, { type: 'ACTIVATE', capacity: 64 })!;
    expect(lifecycleAccepts(running, { type: 'ACTIVATE' })).toBe(false);
    expect(lifecycleNext(running, { type: 'ACTIVATE' })).toBeNull();
    const computing = lifecycleNext(running, { type: 'ACTIVATION_ACK' })!;
    expect(lifecycleAccepts(computing, { type: 'ACTIVATE' })).toBe(false);
    // A restart is only news during computation.
    expect(lifecycleAccepts(negotiated, { type: 'SERVICE_RESTARTED', attempt: 1 })).toBe(false);
    expect(lifecycleAccepts(computing, { type: 'SERVICE_RESTARTED', attempt: 1 })).toBe(true);
  });

  const event: fc.Arbitrary<LifecycleEvent> = fc.oneof(
    fc.constant<LifecycleEvent>({ type: 'NEGOTIATION_ACK', instance: 'i1', kind: 'sw' }),
    fc.constant<LifecycleEvent>({ type: 'NEGOTIATION_NACK', reason: 'quota', detail: 'd' }),
    fc.record({ type: fc.constant('ACTIVATE' as const), capacity: fc.nat() }),
    fc.constant<LifecycleEvent>({ type: 'ACTIVATION_ACK' }),
    fc.constant<LifecycleEvent>({ type: 'ACTIVATION_NACK', reason: 'driver-failed', detail: 'd' }),
    fc.constant<LifecycleEvent>({ type: 'SERVICE_RESTARTED', attempt: 1 }),
    fc.constant<LifecycleEvent>({ type: 'FAULT', detail: 'd' }),
    fc.constant<LifecycleEvent>({ type: 'CLIENT_LOST', detail: 'd' }),
    fc.constant<LifecycleEvent>({ type: 'RELEASE', reason: 'client' }),
    fc.constant<LifecycleEvent>({ type: 'RELEASED', stats: null }),
  );

  test.prop([fc.array(event, { maxLength: 40 })])('no event sequence skips a phase or leaves a final state', (events) => {
    let [snap] = initialTransition(lifecycleMachine, input);
    const order = ['negotiation', 'activation', 'computation', 'failed', 'release', 'released'];
    let prev = phaseOf(snap.value);
    for (const e of events) {
      [snap] = transition(lifecycleMachine, snap, e);
      const phase = phaseOf(snap.value);
      expect(LIFECYCLE_PHASES).toContain(phase);
      if (prev === 'released' || prev === 'nacked') expect(phase).toBe(prev);
      else if (phase !== 'nacked') expect(order.indexOf(phase)).toBeGreaterThanOrEqual(order.indexOf(prev));
      // Computation is only reachable through an activation ack, which needs a negotiation ack and an activate.
      if (phase === 'computation') expect(snap.context).toMatchObject({ instance: 'i1', capacity: expect.any(Number) });
      if (phase !== 'computation' && phase !== 'failed' && phase !== 'release' && phase !== 'released') expect(snap.context.restarts).toBe(0);
      prev = phase;
    }
  });

  test.prop([fc.array(event, { maxLength: 40 })])('the plain state (vFunD\'s) steps exactly like an actor', (events) => {
    const actor = createActor(lifecycleMachine, { input }).start();
    actor.send({ type: 'NEGOTIATION_ACK', instance: 'i1', kind: 'hw' });
    let plain: LifecycleState = negotiatedLifecycle(input, 'i1');
    for (const e of events) {
      const accepted = lifecycleAccepts(plain, e);
      if (actor.getSnapshot().status === 'done') {
        // A final state takes nothing (an actor there would only warn).
        expect(accepted).toBe(false);
        continue;
      }
      const before = actor.getSnapshot();
      actor.send(e);
      const next = lifecycleNext(plain, e);
      expect(next === null).toBe(!accepted);
      // What the machine does not take leaves the actor where it was too.
      if (next === null) expect(actor.getSnapshot().value).toEqual(before.value);
      plain = next ?? plain;
      expect(plain.value).toEqual(actor.getSnapshot().value);
      expect(plain.context).toEqual(actor.getSnapshot().context);
    }
  });
});
