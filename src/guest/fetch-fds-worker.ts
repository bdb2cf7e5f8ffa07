/**
 * Worker-thread entry of ControlClient.fetchRegion: the addon's fetchFds
 * blocks its thread for the whole exchange, so it runs here, never on the
 * guest's event loop (which may be serving vFunD itself, in one process).
 * Descriptors are process-wide: the numbers posted back are usable by the
 * thread that started this worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { requireShm } from '../native/shm.js';

export interface FetchFdsJob {
  readonly socketPath: string;
  readonly line: string;
  readonly timeoutMs: number;
}

export type FetchFdsResult =
  | { readonly ok: true; readonly line: string; readonly fds: number[] }
  | { readonly ok: false; readonly code: string; readonly message: string };

const job = workerData as FetchFdsJob;
let result: FetchFdsResult;
try {
  const r = requireShm().fetchFds(job.socketPath, job.line, job.timeoutMs);
  result = { ok: true, line: r.line, fds: r.fds };
} catch (e) {
  const err = e as NodeJS.ErrnoException;
  result = { ok: false, code: typeof err.code === 'string' ? err.code : 'ERR_FETCH', message: err.message };
}
parentPort?.postMessage(result);
