/**
 * VirtFun's public API. Everything an integrator needs is exported here;
 * anything else is internal and may change.
 */
export { VirtFunError, ValidationError, JournalCorruptError, ConcurrencyError } from './errors.js';
export type { ErrorCode } from './errors.js';

// Events and journals
export * from './events/index.js';
export { FileJournal, verifyFile } from './events/adapters/file-journal.js';
export type { FileJournalOptions, FileJournalOpenReport } from './events/adapters/file-journal.js';
export { openJournal, journalPath, JOURNAL_SCHEMES } from './events/adapters/open-journal.js';
export type { OpenedJournal } from './events/adapters/open-journal.js';

// Machines
export * from './machines/index.js';

// vFunD
export { VFunD, scopeOf } from './actors/vfund.js';
export type { VFunDOptions, Answer, NegotiateRequest } from './actors/vfund.js';
export { decide, checkName, credentialDigest, NAME_MAX, NAME_PATTERN } from './actors/decide.js';
export { evolve, fold } from './actors/evolve.js';
export { initialState, capacityReport, liveInstances } from './actors/state.js';
export type { VFunDState, InstanceState, InstancePhase } from './actors/state.js';
export type { VFunDCommand, Credentials } from './actors/commands.js';
export { parseConfig, toSnapshot, configSchema, ConfigError } from './actors/config.js';
export type { VFunDConfig, ValidConfig } from './actors/config.js';
export type { RuntimeFactory, InstanceRuntime, ActivationSpec } from './actors/runtime.js';
export { SabRuntime } from './actors/runtime-sab.js';

// Data plane
export * from './dataplane/index.js';

// Drivers
export * from './drivers/index.js';

// Guest library
export { VFunction, OffloadRefused } from './guest/vfunction.js';
export type { ControlPort, ComputeChannel, OpenOptions } from './guest/vfunction.js';

// Edges
export { systemClock, randomIds } from './util/system.js';
