export { lifecycleMachine, phaseOf } from './lifecycle.js';
export type { LifecycleContext, LifecycleEvent, LifecycleInput, LifecyclePhase } from './lifecycle.js';
export { serviceProtocolMachine } from './service-protocol.js';
export type { ServiceProtocolContext, ServiceProtocolEvent } from './service-protocol.js';
