/**
 * `virtfun/testing`: what VirtFun's own tests use, for integrators' tests:
 * deterministic clocks and ids, an in-memory journal, an in-process runtime,
 * the simulator's virtual clock and seeded random numbers, and the machines
 * that are the oracles of the lifecycle and of the call protocol
 * (docs/lifecycle.md; model-based tests drive them beside the real thing).
 */
export { steppingClock, counterIds } from '../testing/deterministic.js';
export { MemoryJournal } from '../events/memory-journal.js';
export { SabRuntime } from '../actors/runtime-sab.js';
export { VirtualClock } from '../../simulator/clock.js';
export { createRng } from '../../simulator/rng.js';
export type { Rng } from '../../simulator/rng.js';
export {
  lifecycleMachine,
  lifecycleAccepts,
  lifecycleNext,
  negotiatedLifecycle,
  phaseOf,
  stepOf,
  LIFECYCLE_PHASES,
} from '../machines/lifecycle.js';
export type { LifecycleContext, LifecycleEvent, LifecycleInput, LifecyclePhase, LifecycleState } from '../machines/lifecycle.js';
export { requestEvent, serviceProtocolMachine, statusOf } from '../machines/service-protocol.js';
export type { PublishedStatus, ServiceProtocolContext, ServiceProtocolEvent, ServiceProtocolInput } from '../machines/service-protocol.js';
