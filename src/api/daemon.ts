/**
 * `virtfun/daemon`: vFunD, the supervisor, for hosts that embed it.
 *
 * Start it as `vfun up` does with {@link startDaemon}, or assemble it:
 * a journal (`virtfun/journal`), a runtime (where services run), a loaded
 * configuration, and {@link VFunD.start}. The pure core (decide, evolve,
 * replay) is here too, for tools that read a journal.
 */

// Start-up, as `vfun up` and `vfun vm run` do it
export { startDaemon, controlSocketPath } from '../daemon/start.js';
export type { Daemon, DaemonOptions } from '../daemon/start.js';
export { loadConfig, loadConfigFile, resolveConfig } from '../daemon/config.js';
export { parseConfig, toSnapshot, configSchema, ConfigError } from '../actors/config.js';
export type { VFunDConfig, ValidConfig, LoadedConfig } from '../actors/config.js';

// The supervisor and where services run
export { VFunD } from '../actors/vfund.js';
export type { VFunDOptions } from '../actors/vfund.js';
export type { RuntimeFactory, InstanceRuntime, ActivationSpec } from '../actors/runtime.js';
export { SabRuntime } from '../actors/runtime-sab.js';
export { FileRuntime } from '../actors/runtime-files.js';
export type { FileRuntimeOptions } from '../actors/runtime-files.js';
export { DEFAULT_SUPERVISION } from '../actors/supervisor.js';
export type { SupervisionPolicy } from '../actors/supervisor.js';
export { DEFAULT_REFUSAL_LIMITS } from '../actors/refusal-limiter.js';
export type { RefusalLimits } from '../actors/refusal-limiter.js';
export { ControlServer } from '../control/server.js';
export type { ControlServerOptions } from '../control/server.js';
export { sign, PROTOCOL_VERSION } from '../control/protocol.js';
export type { ControlRequest, ControlResponse } from '../control/protocol.js';

// The pure core: decide, evolve, replay
export { decide, credentialDigest, NAME_MAX, NAME_PATTERN } from '../actors/decide.js';
export { evolve, fold } from '../actors/evolve.js';
export { initialState, capacityReport, liveInstances, phaseOfInstance, stepOfInstance } from '../actors/state.js';
export type { VFunDState, InstanceState } from '../actors/state.js';
export type { VFunDCommand } from '../actors/commands.js';
export { replayJournal } from '../actors/replay.js';
export type { ReplayReport, Divergence } from '../actors/replay.js';
export { lifecycleMachine, lifecycleAccepts, lifecycleNext, phaseOf, stepOf, LIFECYCLE_PHASES } from '../machines/lifecycle.js';
export type { LifecycleContext, LifecycleEvent, LifecycleInput, LifecyclePhase, LifecycleState } from '../machines/lifecycle.js';

// Functions: drivers
// (A driver of one's own is defined with defineDriver in a driver module, named by the configuration's
// `driverModules` (docs/writing-a-driver.md). The registry is per thread and per process, so registering
// is not exported: a family registered here would not reach a service.)
export { createDriver, driverNames, hasDriver } from '../drivers/registry.js';
export { DriverInputError, checkInputSize } from '../drivers/driver.js';
export type { DriverMeta, DriverContext, FunctionDriver } from '../drivers/driver.js';
export { defineDriver, isDriverDefinition } from '../drivers/define.js';
export type { DriverSpec, DriverDefinition } from '../drivers/define.js';
export { DriverModuleError } from '../drivers/modules.js';
export type { DriverModuleSnapshot } from '../events/catalogue.js';
export { FactorialDriver, FibonacciDriver, Crc32Driver, Sha256Driver } from '../drivers/software.js';

// Guests in virtual machines (docs/running-in-a-vm.md)
export { runGuestVm, defaultVmConfig } from '../vm/run.js';
export type { VmRunOptions, VmRunResult } from '../vm/run.js';
export { killAllVms, runningVms, VmError } from '../vm/qemu.js';

// The edges: the real clock and ids (tests use virtfun/testing's)
export { systemClock, randomIds } from '../util/system.js';
