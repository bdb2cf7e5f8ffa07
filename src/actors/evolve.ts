/**
 * evolve(state, event) -> state, with immer. Pure. Folding a journal through
 * evolve from `initialState` gives vFunD's state at that point.
 *
 * Each instance's lifecycle is the lifecycle machine's state: an event about
 * an instance becomes the machine's event ({@link lifecycleEventsOf}) and
 * advances it with XState's pure transition. An instance whose machine
 * reaches a final state (released, nacked) leaves the state.
 */
import { produce } from 'immer';
import { ACTIVATION_FAILURES, type VFunEvent } from '../events/catalogue.js';
import { lifecycleEnded, lifecycleNext, negotiatedLifecycle, type LifecycleEvent, type LifecycleState } from '../machines/lifecycle.js';
import { initialState, type VFunDState } from './state.js';
import { evolveAdmin } from './admin.js';

/**
 * The lifecycle machine's events for a journaled event about an existing
 * instance, in order ([] for events that do not move a lifecycle).
 */
export function lifecycleEventsOf(event: VFunEvent): LifecycleEvent[] {
  switch (event.type) {
    case 'activation.started':
      return [{ type: 'ACTIVATE', capacity: event.data.capacity }];
    case 'activation.acked':
      return [{ type: 'ACTIVATION_ACK', capacity: event.data.capacity }];
    case 'activation.nacked':
      // A failed activation ends the instance; a refused one (wrong tenant, phase) is not about it.
      return ACTIVATION_FAILURES.has(event.data.reason) ? [{ type: 'ACTIVATION_NACK', reason: event.data.reason, detail: event.data.detail }] : [];
    case 'service.restarted':
      return [{ type: 'SERVICE_RESTARTED', attempt: event.data.attempt }];
    case 'service.failed':
      return [{ type: 'FAULT', detail: event.data.detail }];
    case 'client.lost':
      return [{ type: 'CLIENT_LOST', detail: event.data.detail }];
    case 'instance.released':
      return [
        { type: 'RELEASE', reason: event.data.reason },
        { type: 'RELEASED', stats: event.data.stats },
      ];
    default:
      return [];
  }
}

/**
 * The state after `event` (a new object: `state` is not changed). Pure.
 * Folding a journal's events from `initialState` rebuilds vFunD's state.
 */
export function evolve(state: VFunDState, event: VFunEvent): VFunDState {
  return produce(state, (draft) => {
    switch (event.type) {
      case 'vfund.started':
        draft.host = event.data.host;
        draft.config = event.data.config as typeof draft.config;
        draft.running = true;
        // Drains are of one run; disabled tenants stay disabled until an operator enables them.
        draft.admin.draining = false;
        draft.admin.drainingTenants = [];
        // Devices are probed anew by each run (device.probed follows vfund.started).
        draft.devices = {};
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
          lifecycle: negotiatedLifecycle(d, d.instance) as typeof draft.instances[string]['lifecycle'],
        };
        draft.nextInstance = Math.max(draft.nextInstance, Number(d.instance.slice(1)) + 1);
        return;
      }
      case 'activation.started':
      case 'activation.acked':
      case 'activation.nacked':
      case 'service.restarted':
      case 'service.failed':
      case 'client.lost':
      case 'instance.released': {
        const id = event.data.instance;
        const inst = Object.hasOwn(state.instances, id) ? state.instances[id] : undefined;
        if (!inst) return;
        let lifecycle: LifecycleState = inst.lifecycle;
        for (const e of lifecycleEventsOf(event)) lifecycle = lifecycleNext(lifecycle, e) ?? lifecycle;
        if (lifecycleEnded(lifecycle)) delete draft.instances[id];
        else if (lifecycle !== inst.lifecycle) draft.instances[id]!.lifecycle = lifecycle as typeof draft.instances[string]['lifecycle'];
        return;
      }
      case 'admin.evicted':
      case 'drain.changed':
      case 'tenant.disabled':
      case 'tenant.enabled':
      case 'config.reloaded':
        evolveAdmin(draft, event);
        return;
      case 'device.probed':
        draft.devices[event.data.device] = {
          available: event.data.available,
          detail: event.data.detail,
          ...(event.data.adapter !== undefined && { adapter: { ...event.data.adapter } }),
        };
        return;
      case 'device.failover': {
        const before = Object.hasOwn(state.devices, event.data.device) ? state.devices[event.data.device] : undefined;
        draft.devices[event.data.device] = {
          available: false,
          detail: `lost: ${event.data.detail}`,
          ...(before?.adapter !== undefined && { adapter: { ...before.adapter } }),
        };
        return;
      }
      case 'crosscheck.mismatch':
      case 'negotiation.nacked':
      case 'release.nacked':
      case 'request.refused':
      case 'refusals.suppressed':
      case 'control.disconnected':
      case 'journal.checkpoint':
      case 'state.snapshot':
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
