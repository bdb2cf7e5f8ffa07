/**
 * Waiting on an ivshmem window's words (docs/region-format.md §13.2). A futex
 * does not cross a VM boundary, so waits on a window poll: the service's side
 * (`pollingWaitOps`) sleeps in short slices and looks at the word again; the
 * guest's side (`sleepingWaitOps`) has no futex at all. The constants are the
 * poll's slices and a window service's spin budget.
 */
import type { WaitOps } from './wait.js';

/** Sleep between two looks at a window word (µs) while the peer was active recently: the price of no cross-VM wake-up. */
export const DEFAULT_POLL_MICROS = 100;
/** How long the service keeps looking every DEFAULT_POLL_MICROS before it backs off (ms). */
export const POLL_HOLD_MS = 5;
/**
 * Hybrid spin budget of a window's service (µs), instead of DEFAULT_SPIN_MICROS: a guest under
 * emulation often takes 50–400 µs between an answer and its next request, and with no wake-up
 * across the VM every miss costs a poll sleep. Measured (TCG, 20000 calls, 3 runs each): p99
 * 3–8 µs with 400, about 300 µs with 50 (docs/benchmarks.md).
 */
export const WINDOW_SPIN_MICROS = 400;
/** Longest sleep between two looks (µs): an idle service backs off to this, about 1000 wake-ups a second. */
export const DEFAULT_MAX_POLL_MICROS = 1000;

/**
 * WaitOps whose waits poll: sleep (a futex wait nobody in the VM can wake,
 * but a host-side waker such as vFunD's stop nudge still can), look at the
 * word, and report 'ok' as soon as it changed. Sleeps are `pollMicros` for
 * the first POLL_HOLD_MS of a wait, then double up to `maxPollMicros`: a
 * guest that pauses a little between calls (a timer tick in the VM) costs
 * at most one short sleep, and an idle slot about a thousand wake-ups a
 * second instead of ten thousand. A wait that fails (a futex on a page its
 * window lost: EFAULT) looks at the word before it throws, so a truncated
 * window ends its service with SIGBUS whichever it was doing.
 */
export function pollingWaitOps(base: WaitOps, pollMicros: number = DEFAULT_POLL_MICROS, maxPollMicros: number = DEFAULT_MAX_POLL_MICROS): WaitOps {
  const firstMs = pollMicros / 1000;
  const maxMs = Math.max(firstMs, maxPollMicros / 1000);
  return {
    ...base,
    wait(i32, index, expected, timeoutMs) {
      const start = performance.now();
      const end = start + timeoutMs;
      let sleepMs = firstMs;
      for (;;) {
        const now = performance.now();
        const left = end - now;
        if (left <= 0) return 'timed-out';
        let r: ReturnType<WaitOps['wait']>;
        try {
          r = base.wait(i32, index, expected, left < sleepMs ? left : sleepMs);
        } catch (err) {
          // A futex on a page the window file no longer has (its tenant truncated it) fails with EFAULT:
          // touching the word raises the SIGBUS that says what happened, as any other look would.
          Atomics.load(i32, index);
          throw err;
        }
        if (r !== 'timed-out') return r;
        if (Atomics.load(i32, index) !== expected) return 'ok';
        if (performance.now() - start >= POLL_HOLD_MS) sleepMs = sleepMs * 2 < maxMs ? sleepMs * 2 : maxMs;
      }
    },
  };
}

const privateWord = new Int32Array(new SharedArrayBuffer(4));

/**
 * WaitOps for the guest's side of a window: no futex at all (a futex on a
 * PCI BAR mapping fails with EFAULT, and could not reach the host anyway).
 * A "wait" is a plain sleep; a wake is nothing (the service polls).
 */
export function sleepingWaitOps(yieldOp?: () => void): WaitOps {
  return {
    wait: (_i32, _index, _expected, timeoutMs) => {
      Atomics.wait(privateWord, 0, 0, timeoutMs);
      return 'timed-out';
    },
    notify: () => undefined,
    ...(yieldOp !== undefined && { yield: yieldOp }),
  };
}
