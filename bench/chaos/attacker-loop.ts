/**
 * Worker thread of a hostile guest (attacker.ts): calls its instance in a
 * tight loop, so that whatever the attacker does meanwhile (close its control
 * connection, get stopped, kill its service) happens with a call in flight.
 * Counts good calls in a SharedArrayBuffer (the attacker reads them at any
 * time) and ends on the first error that is not a service error (the instance
 * is gone: CHANNEL_CLOSED, a timeout...), posting the errors by kind.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { connect } from '../../src/guest/connect.js';
import { ServiceError } from '../../src/dataplane/client.js';
import { VirtFunError } from '../../src/errors.js';

export interface LoopJob {
  readonly capacity: number;
  readonly dataoutFd: number;
  readonly datainFd: number;
  readonly timeoutMs: number;
  /** Int32 words: LOOP_OK (good calls), LOOP_STOP (set to 1 to stop), LOOP_RUNNING (1 while calling), LOOP_ANSWERED (calls answered, good or not). */
  readonly counters: SharedArrayBuffer;
}
export const LOOP_OK = 0;
export const LOOP_STOP = 1;
export const LOOP_RUNNING = 2;
export const LOOP_ANSWERED = 3;
/** What the loop calls with: a u32 n = 20, an input every driver takes (factorial, fibonacci, CRC-32...). */
export const LOOP_INPUT = new Uint8Array(new Uint32Array([20]).buffer);

export interface LoopEnd {
  readonly ok: number;
  readonly errors: Record<string, number>;
  /** What ended the loop: 'stopped' (asked to), or the error code that made the instance unusable. */
  readonly ended: string;
}

// The attacker imports the words above; only the worker runs the loop.
if (!isMainThread) run(workerData as LoopJob);

function run(job: LoopJob): void {
  const words = new Int32Array(job.counters);
  const errors: Record<string, number> = {};
  let ended = 'stopped';
  // The descriptors stay open (no `received`): they belong to the attacker's main thread.
  const client = connect({ capacity: job.capacity, dataoutFd: job.dataoutFd, datainFd: job.datainFd }, { timeoutMs: job.timeoutMs });
  Atomics.store(words, LOOP_RUNNING, 1);
  while (Atomics.load(words, LOOP_STOP) === 0) {
    try {
      client.call(LOOP_INPUT);
      Atomics.add(words, LOOP_OK, 1);
      Atomics.add(words, LOOP_ANSWERED, 1);
    } catch (e) {
      Atomics.add(words, LOOP_ANSWERED, 1);
      const kind = e instanceof ServiceError ? e.errorName : e instanceof VirtFunError ? e.code : 'other';
      errors[kind] = (errors[kind] ?? 0) + 1;
      if (!(e instanceof ServiceError)) {
        ended = kind;
        break;
      }
    }
  }
  client.close();
  Atomics.store(words, LOOP_RUNNING, 0);
  parentPort!.postMessage({ ok: Atomics.load(words, LOOP_OK), errors, ended } satisfies LoopEnd);
}
