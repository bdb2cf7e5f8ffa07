/**
 * vFunD as a daemon: the entry point `vfun up`, `vfun vm run` and integrators
 * share. Loading its configuration (the step that reads device profiles) and
 * starting it.
 */
export { startDaemon, controlSocketPath } from './start.js';
export type { Daemon, DaemonOptions } from './start.js';
export { loadConfig, loadConfigFile, resolveConfig } from './config.js';
