/**
 * `virtfun/testing`: what VirtFun's own tests use, for integrators' tests:
 * a host in one call (`startHarness`), a property test of a driver of one's
 * own served through vFunD (`checkDriver`), fast-check arbitraries for
 * payloads, channel operations, workloads, control requests and journal
 * events, deterministic clocks and ids, an in-memory journal, an in-process
 * runtime, the simulator's virtual clock and seeded random numbers, and the
 * machines that are the oracles of the lifecycle and of the call protocol
 * (docs/lifecycle.md; model-based tests drive them beside the real thing).
 *
 * This entry point needs fast-check, an optional peer dependency of the
 * package (`npm install --save-dev fast-check`): no other entry point loads it.
 */
export { steppingClock, counterIds } from '../testing/deterministic.js';
export { startHarness, HARNESS_TENANT, HARNESS_SECRET } from '../testing/harness.js';
export type { Harness, HarnessOptions, HarnessFunction, HarnessCheck } from '../testing/harness.js';
export { checkDriver } from '../testing/check-driver.js';
export type { CheckDriverOptions } from '../testing/check-driver.js';
export { payloadArb, badPayloadArb, channelOpsArb, workloadArb, DEFAULT_MAX_PAYLOAD } from '../testing/arbitraries/payloads.js';
export type { ChannelOp, WorkloadCall } from '../testing/arbitraries/payloads.js';
export { controlCommandArb, badNameArb, goodNameArb } from '../testing/arbitraries/control.js';
export type { ControlCommand, TenantSecret } from '../testing/arbitraries/control.js';
export { eventArb, pendingArb, scopeArb, batchesArb, adminEventArb, nackReasonArb, releaseReasonArb, kindArb } from '../testing/arbitraries/events.js';
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
