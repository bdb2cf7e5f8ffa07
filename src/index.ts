/**
 * VirtFun's public API. Everything an integrator needs is exported here;
 * anything else is internal and may change.
 */
export { VirtFunError, ValidationError, JournalCorruptError, ConcurrencyError, JournalLockedError, JournalUnavailableError } from './errors.js';
export type { VirtFunErrorCode } from './errors.js';

// Events and journals
export * from './events/index.js';
export { FileJournal, verifyFile } from './events/adapters/file-journal.js';
export type { FileJournalOptions, FileJournalOpenReport } from './events/adapters/file-journal.js';
export { openJournal, journalPath, JOURNAL_SCHEMES } from './events/adapters/open-journal.js';
export type { OpenedJournal, OpenJournalOptions } from './events/adapters/open-journal.js';
export { JetStreamJournal, TraceSink, parseJetStreamUrl } from './events/adapters/jetstream-journal.js';

// Machines
export * from './machines/index.js';

// vFunD
export { VFunD, scopeOf } from './actors/vfund.js';
export type { VFunDOptions, Answer, NegotiateRequest } from './actors/vfund.js';
export { decide, checkName, credentialDigest, NAME_MAX, NAME_PATTERN } from './actors/decide.js';
export { evolve, fold } from './actors/evolve.js';
export { initialState, capacityReport, liveInstances, phaseOfInstance, stepOfInstance } from './actors/state.js';
export type { VFunDState, InstanceState } from './actors/state.js';
export type { VFunDCommand, Credentials } from './actors/commands.js';
export { parseConfig, toSnapshot, configSchema, ConfigError } from './actors/config.js';
export type { VFunDConfig, ValidConfig, LoadedConfig } from './actors/config.js';
export type { RuntimeFactory, InstanceRuntime, ActivationSpec } from './actors/runtime.js';
export { SabRuntime } from './actors/runtime-sab.js';
export { FileRuntime } from './actors/runtime-files.js';
export type { FileRuntimeOptions } from './actors/runtime-files.js';
export { supervise, DEFAULT_SUPERVISION } from './actors/supervisor.js';
export type { SupervisionPolicy, SupervisedRuntimeOptions } from './actors/supervisor.js';
export { replayJournal, rebuildCommand } from './actors/replay.js';
export type { ReplayReport, Divergence } from './actors/replay.js';
export { DEFAULT_REFUSAL_LIMITS } from './actors/refusal-limiter.js';
export type { RefusalLimits } from './actors/refusal-limiter.js';

// vFunD as a daemon (what `vfun up` runs), and the configuration's load step (reads device profiles)
export { startDaemon, controlSocketPath, loadConfig, loadConfigFile, resolveConfig } from './daemon/index.js';
export type { Daemon, DaemonOptions } from './daemon/index.js';

// Control channel
export { ControlServer } from './control/server.js';
export type { ControlServerOptions } from './control/server.js';
export { sign, macOf, PROTOCOL_VERSION } from './control/protocol.js';
export type { ControlRequest, ControlResponse } from './control/protocol.js';

// Data plane
export * from './dataplane/index.js';

// Drivers
export * from './drivers/index.js';

// Guest library
export { VFunction, OffloadRefused } from './guest/vfunction.js';
export { connect, connectDir, connectFds } from './guest/connect.js';
export { ControlClient } from './guest/control-client.js';
export type { ControlPort, ComputeChannel, OpenOptions } from './guest/vfunction.js';

// Regions across processes
export { createFileRegion, mapFileRegion, isFileRegion } from './dataplane/region-files.js';
export type { FileRegion, MappedRegion, RegionRole } from './dataplane/region-files.js';
// Sealed-memory regions (vFunD's, for process tenants: docs/region-format.md §14)
export { createMemfdRegion, mapFdRegion, isFdRegion, closeFdRegion } from './dataplane/region-fds.js';
export type { FdRegion, RegionEntry } from './dataplane/region-fds.js';
export { RegionTree } from './dataplane/region-tree.js';
export type { RegionPaths, TenantIdentity } from './dataplane/region-tree.js';
export { shmAvailable, shmUnavailableReason } from './native/shm.js';

// Guests in virtual machines: ivshmem windows (docs/region-format.md §13, docs/running-in-a-vm.md)
export { WindowHost, mapWindowRegion, lookupWindowRegion, isWindowRegion, pollingWaitOps } from './dataplane/region-window.js';
export type { WindowRegion } from './dataplane/region-window.js';
export { mapRegion, isMappableRegion } from './dataplane/region-map.js';
export type { MappableRegion } from './dataplane/region-map.js';
export { planWindow, checkWindowHeader, readEntries, findEntry } from './dataplane/window.js';
export type { WindowPlan, WindowHeader, WindowEntry } from './dataplane/window.js';
export { runGuestVm, defaultVmConfig } from './vm/run.js';
export type { VmRunOptions, VmRunResult } from './vm/run.js';
export type { ControlClientOptions } from './guest/control-client.js';
export { findVirtioPort, findIvshmemWindow } from './guest/vm-devices.js';
export { openCharDevice } from './guest/char-device.js';

// Edges
export { systemClock, randomIds } from './util/system.js';
