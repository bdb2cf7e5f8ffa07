export { lifecycleMachine, phaseOf } from './lifecycle.js';
export type { LifecycleContext, LifecycleEvent, LifecycleInput, LifecyclePhase } from './lifecycle.js';
export { requestEvent, serviceProtocolMachine, statusOf, verdict, wordOf } from './service-protocol.js';
export type {
  PublishedStatus,
  RequestVerdict,
  ServiceProtocolContext,
  ServiceProtocolEvent,
  ServiceProtocolInput,
  ServiceRequestEvent,
} from './service-protocol.js';
