import { readFileSync } from 'node:fs';

/**
 * Whether a process id names a live process. Signal 0 tells whether the pid
 * exists; on Linux a zombie (dead, not yet reaped by its parent) also exists,
 * so its state in /proc is read too: a zombie is gone for our purposes.
 */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = processState(pid);
  if (state === null) return process.platform !== 'linux'; // no /proc entry on Linux: it is gone
  return state !== 'Z' && state !== 'X';
}

/** Whether a live process is stopped (SIGSTOP, SIGTSTP: state T) or traced (t), from /proc; false when unknown. */
export function processStopped(pid: number): boolean {
  const state = processState(pid);
  return state === 'T' || state === 't';
}

/** The state letter of a process in /proc/<pid>/stat (R, S, D, T, t, Z, X, ...), or null when it cannot be read. */
function processState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}
