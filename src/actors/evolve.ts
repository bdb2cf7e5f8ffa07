/**
 * evolve(state, event) -> state, with immer. Pure. Folding a journal through
 * evolve from `initialState` gives vFunD's state at that point.
 */
import { produce } from 'immer';
import { ACTIVATION_FAILURES, type VFunEvent } from '../events/catalogue.js';
import { initialState, type VFunDState } from './state.js';

export function evolve(state: VFunDState, event: VFunEvent): VFunDState {
  return produce(state, (draft) => {
    switch (event.type) {
      case 'vfund.started':
        draft.host = event.data.host;
        draft.config = event.data.config as typeof draft.config;
        draft.running = true;
        return;
      case 'vfund.stopped':
        draft.running = false;
        return;
      case 'negotiation.acked': {
        const d = event.data;
        draft.instances[d.instance] = {
          id: d.instance,
          tenant: d.tenant,
          app: d.app,
          fn: d.fn,
          kind: d.kind,
          phase: 'negotiated',
          capacity: null,
        };
        draft.nextInstance = Math.max(draft.nextInstance, Number(d.instance.slice(1)) + 1);
        return;
      }
      case 'activation.started': {
        const i = draft.instances[event.data.instance];
        if (i) {
          i.phase = 'activating';
          i.capacity = event.data.capacity;
        }
        return;
      }
      case 'activation.acked': {
        const i = draft.instances[event.data.instance];
        if (i) i.phase = 'active';
        return;
      }
      case 'activation.nacked':
        // A failed activation frees the reservation; a refused one (wrong tenant, phase) changes nothing.
        if (ACTIVATION_FAILURES.has(event.data.reason)) delete draft.instances[event.data.instance];
        return;
      case 'instance.released':
        delete draft.instances[event.data.instance];
        return;
      case 'negotiation.nacked':
      case 'service.failed':
      case 'client.lost':
      case 'service.restarted':
      case 'release.nacked':
      case 'request.refused':
      case 'refusals.suppressed':
      case 'control.disconnected':
        return;
    }
  });
}

/** Fold events into a state. */
export function fold(events: Iterable<VFunEvent>, from: VFunDState = initialState): VFunDState {
  let s = from;
  for (const e of events) s = evolve(s, e);
  return s;
}
