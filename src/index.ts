/**
 * `virtfun`: the guest's API. What an application needs to offload a
 * function: negotiate, activate, call through the region, release.
 *
 * The other entry points (package.json "exports"):
 * - `virtfun/daemon`    vFunD, its configuration, runtimes and control server;
 * - `virtfun/journal`   the event catalogue, envelopes and journals (file, JetStream, memory);
 * - `virtfun/dataplane` regions and both ends of the channel, for hosts and guests of one's own;
 * - `virtfun/simulator` the simulated accelerator (docs/simulator.md);
 * - `virtfun/testing`   deterministic clocks and ids, the machines as oracles.
 *
 * Anything not exported from one of these is internal and may change.
 */

// The four phases, from the guest
export { VFunction, OffloadRefused } from './guest/vfunction.js';
export type { ControlPort, ComputeChannel, OpenOptions } from './guest/vfunction.js';
export { ControlClient } from './guest/control-client.js';
export type { ControlClientOptions } from './guest/control-client.js';
export { phaseOf, LIFECYCLE_PHASES } from './machines/lifecycle.js';
export type { LifecyclePhase } from './machines/lifecycle.js';

// Computation: a region's client end
export { connect, connectDir, connectFds } from './guest/connect.js';
export { ChannelClient, ServiceError, DEFAULT_TIMEOUT_MS } from './dataplane/client.js';
export type { ClientOptions } from './dataplane/client.js';
export { ErrorCode, ERROR_NAMES } from './dataplane/layout.js';
export { WAIT_STRATEGIES, DEFAULT_STRATEGY, isWaitStrategy } from './dataplane/wait.js';
export type { WaitStrategy } from './dataplane/wait.js';
export { shmAvailable, shmUnavailableReason } from './native/shm.js';

// Inside a virtual machine
export { findVirtioPort, findIvshmemWindow } from './guest/vm-devices.js';
export { openCharDevice } from './guest/char-device.js';

// The vocabulary and the errors
export type { Kind, NackReason, ReleaseReason, ComputationStats } from './domain/types.js';
export type { Credentials, NegotiateRequest, Answer } from './domain/requests.js';
export {
  VirtFunError,
  ValidationError,
  JournalCorruptError,
  ConcurrencyError,
  JournalLockedError,
  JournalUnavailableError,
} from './errors.js';
export type { VirtFunErrorCode } from './errors.js';
