import { describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { createActor, initialTransition, transition } from 'xstate';
import { lifecycleMachine, phaseOf, type LifecycleEvent } from '../../src/machines/lifecycle.js';
import { serviceProtocolMachine, type ServiceProtocolEvent } from '../../src/machines/service-protocol.js';

const input = { tenant: 't', app: 'a', fn: 'f', kind: 'hw' as const };

describe('lifecycle machine', () => {
  it('walks the four phases', () => {
    const a = createActor(lifecycleMachine, { input }).start();
    expect(a.getSnapshot().value).toBe('negotiation');
    a.send({ type: 'NEGOTIATION_ACK', instance: 'i1', kind: 'sw' });
    expect(a.getSnapshot().value).toBe('activation');
    expect(a.getSnapshot().context).toMatchObject({ instance: 'i1', kind: 'sw' });
    a.send({ type: 'ACTIVATION_ACK' });
    expect(a.getSnapshot().value).toEqual({ computation: 'wait' });
    a.send({ type: 'SET' });
    expect(a.getSnapshot().value).toEqual({ computation: 'busy' });
    a.send({ type: 'DONE' });
    expect(a.getSnapshot().value).toEqual({ computation: 'done' });
    a.send({ type: 'RELEASE', reason: 'client' });
    a.send({ type: 'RELEASED' });
    expect(a.getSnapshot().status).toBe('done');
    expect(a.getSnapshot().value).toBe('released');
  });

  it('ends in nacked with the reason on a negotiation nack', () => {
    const a = createActor(lifecycleMachine, { input }).start();
    a.send({ type: 'NEGOTIATION_NACK', reason: 'no-capacity', detail: 'full' });
    expect(a.getSnapshot().value).toBe('nacked');
    expect(a.getSnapshot().context.reason).toBe('no-capacity');
  });

  const event: fc.Arbitrary<LifecycleEvent> = fc.oneof(
    fc.constant({ type: 'NEGOTIATION_ACK', instance: 'i1', kind: 'sw' } as const),
    fc.constant({ type: 'NEGOTIATION_NACK', reason: 'quota', detail: 'd' } as const),
    fc.constant({ type: 'ACTIVATION_ACK' } as const),
    fc.constant({ type: 'ACTIVATION_NACK', reason: 'driver-failed', detail: 'd' } as const),
    fc.constantFrom({ type: 'SET' } as const, { type: 'GET' } as const, { type: 'RST' } as const, { type: 'DONE' } as const),
    fc.constant({ type: 'ERROR', code: 'BAD_INPUT' } as const),
    fc.constant({ type: 'FAULT', detail: 'd' } as const),
    fc.constant({ type: 'RELEASE', reason: 'client' } as const),
    fc.constant({ type: 'RELEASED' } as const),
  );

  test.prop([fc.array(event, { maxLength: 40 })])('no event sequence skips a phase or leaves a final state', (events) => {
    let [snap] = initialTransition(lifecycleMachine, input);
    const order = ['negotiation', 'activation', 'computation', 'failed', 'release', 'released'];
    let prev = phaseOf(snap.value);
    for (const e of events) {
      [snap] = transition(lifecycleMachine, snap, e);
      const phase = phaseOf(snap.value);
      if (prev === 'released' || prev === 'nacked') expect(phase).toBe(prev);
      else if (phase !== 'nacked') expect(order.indexOf(phase)).toBeGreaterThanOrEqual(order.indexOf(prev));
      // Computation is only reachable through an activation ack, which needs a negotiation ack.
      if (phase === 'computation') expect(snap.context.instance).toBe('i1');
      prev = phase;
    }
    expect(snap.context.errors).toBeLessThanOrEqual(snap.context.answered);
  });
});

describe('service protocol machine', () => {
  test.prop([
    fc.array(
      fc.oneof(
        fc.record({ type: fc.constant('REQUEST' as const), seq: fc.nat(), command: fc.constantFrom('set', 'get', 'rst') as fc.Arbitrary<'set' | 'get' | 'rst'> }),
        fc.record({ type: fc.constant('REJECT' as const), seq: fc.nat(), code: fc.integer({ min: 1, max: 3 }) }),
        fc.record({ type: fc.constant('COMPLETE' as const), hasResult: fc.boolean() }),
        fc.record({ type: fc.constant('FAIL' as const), code: fc.integer({ min: 4, max: 6 }) }),
      ),
      { maxLength: 50 },
    ),
  ])('only busy can complete or fail, and a new request is only taken when not busy', (events: ServiceProtocolEvent[]) => {
    let [snap] = initialTransition(serviceProtocolMachine, undefined);
    for (const e of events) {
      const before = snap.value;
      const seqBefore = snap.context.lastSeq;
      [snap] = transition(serviceProtocolMachine, snap, e);
      if (e.type === 'COMPLETE' || e.type === 'FAIL') {
        if (before !== 'busy') expect(snap.value).toBe(before);
        else expect(snap.value).toBe(e.type === 'COMPLETE' ? 'done' : 'error');
      }
      if (e.type === 'REQUEST') {
        expect(snap.value).toBe('busy');
        // A request seen while busy is not taken: the seq stays that of the request in flight.
        expect(snap.context.lastSeq).toBe(before === 'busy' ? seqBefore : e.seq);
      }
    }
  });
});
