/**
 * Signal handling of the commands that run VMs: the library (src/vm/qemu.ts)
 * installs no process-wide handlers, the program does, here. While
 * `guardVms` is in force no QEMU outlives this process: SIGINT, SIGTERM and
 * SIGHUP kill every running QEMU, and so does the process's exit.
 */
import { killAllVms } from './qemu.js';

/** The signals that stop a program running VMs. */
export const VM_STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Until the returned undo is called: on SIGINT, SIGTERM or SIGHUP, kill every
 * QEMU of this process (killAllVms), then call `onSignal` (e.g. to abort the
 * run and unwind: stop vFunD, remove the files); without `onSignal`, stop
 * listening and re-raise the signal when nobody else listens to it, so the
 * process ends as the signal says. On exit, kill every QEMU still running.
 */
export function guardVms(onSignal?: (signal: NodeJS.Signals) => void): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    killAllVms();
    if (onSignal !== undefined) return onSignal(signal);
    undo();
    // We were the only listener: do what the signal would have done.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const onExit = (): void => {
    killAllVms();
  };
  const undo = (): void => {
    for (const s of VM_STOP_SIGNALS) process.off(s, handler);
    process.off('exit', onExit);
  };
  for (const s of VM_STOP_SIGNALS) process.on(s, handler);
  process.on('exit', onExit);
  return undo;
}
