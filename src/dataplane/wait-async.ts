/**
 * Waiting for a word to change without blocking the event loop: the async
 * twin of `Waiter` (wait.ts), for ChannelClient's callAsync / getAsync.
 *
 * - A short spin first (`spinMicros`, default DEFAULT_ASYNC_SPIN_MICROS): an
 *   answer that comes within a few microseconds costs no wake-up at all. The
 *   loop runs on the event loop's thread, so its budget is kept well below
 *   what a timer or an I/O callback would notice.
 * - Then sleep in the kernel off the event loop, in slices of `sliceMs`, with
 *   the same "I am sleeping" flag as the blocking waiter (Dekker: the peer
 *   stores its word, then wakes us only if it sees the flag):
 *   `ops.waitAsync` is Atomics.waitAsync for SharedArrayBuffer areas and a
 *   futex wait on libuv's thread pool for mapped regions (native/futex_async.c;
 *   V8's waitAsync cannot take a mapping, which is no SharedArrayBuffer, and
 *   would not hear a futex wake from another process anyway).
 * - Where nothing can wake a waiter (a VM's window, whose ops have no
 *   waitAsync), a slice is a timer: the window's synchronous waits poll too.
 *
 * After every slice that timed out, `liveness` runs and may throw (a dead
 * service), exactly as for the blocking waiter. `stopped` is asked after
 * every slice: when it says true, the wait ends at once without touching the
 * area again (the client was closed, its mapping may be gone).
 */
import { ValidationError } from '../errors.js';
import { SPIN_CHECK, type WaitOps, type WaitResult } from './wait.js';

/** Spin budget of an async wait before it sleeps (µs): short, it runs on the event loop. */
export const DEFAULT_ASYNC_SPIN_MICROS = 20;
/** Longest single sleep of an async wait (ms); liveness and stop are checked between slices. */
export const DEFAULT_ASYNC_SLICE_MS = 50;
/** A timer slice where no wake-up can come (ms). */
export const POLL_SLICE_MS = 1;

export interface AsyncWaiterOptions {
  /** Spin on the event loop for this many µs before sleeping (default DEFAULT_ASYNC_SPIN_MICROS). */
  readonly spinMicros?: number;
  /** Longest single sleep in ms (default DEFAULT_ASYNC_SLICE_MS). */
  readonly sliceMs?: number;
  /** Called after each sleep slice that timed out; may throw to abandon the wait. */
  readonly liveness?: () => void;
}

const pollSleep = (ms: number): Promise<WaitResult> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms, 'timed-out');
  });

/** Waits for a word to change, asynchronously. One wait at a time per instance; the new value is left in `word`. */
export class AsyncWaiter {
  readonly spinMs: number;
  readonly sliceMs: number;
  /** The value seen by the last `waitChange` that resolved true. */
  word = 0;
  private readonly liveness: (() => void) | undefined;

  constructor(
    readonly ops: WaitOps,
    options: AsyncWaiterOptions = {},
  ) {
    const spinMicros = options.spinMicros ?? DEFAULT_ASYNC_SPIN_MICROS;
    if (!Number.isFinite(spinMicros) || spinMicros < 0) throw new ValidationError('asyncSpinMicros', `${spinMicros} must be a finite number >= 0`);
    const sliceMs = options.sliceMs ?? DEFAULT_ASYNC_SLICE_MS;
    if (!Number.isFinite(sliceMs) || sliceMs <= 0) throw new ValidationError('sliceMs', `${sliceMs} must be a finite number > 0`);
    this.spinMs = spinMicros / 1000;
    this.sliceMs = sliceMs;
    this.liveness = options.liveness;
  }

  /**
   * Resolve true when `i32[index] !== old` (new value in `word`), false at
   * `deadline` (a performance.now() value), when woken without a change, or
   * as soon as `stopped()` is true after a sleep. `flag[flagIndex]` is our
   * sleeping flag, 1 only while we may be asleep.
   */
  async waitChange(i32: Int32Array, index: number, old: number, flag: Int32Array, flagIndex: number, deadline: number, stopped: () => boolean): Promise<boolean> {
    if (this.spin(i32, index, old, Math.min(performance.now() + this.spinMs, deadline))) return true;
    const waitAsync = this.ops.waitAsync;
    Atomics.store(flag, flagIndex, 1);
    try {
      for (;;) {
        // Re-check after publishing the flag: a waker that stored before it saw no flag.
        const w = Atomics.load(i32, index);
        if (w !== old) {
          this.word = w;
          return true;
        }
        const remaining = deadline - performance.now();
        if (remaining <= 0) return false;
        const slice = remaining < this.sliceMs ? remaining : this.sliceMs;
        const r = waitAsync !== undefined ? await waitAsync(i32, index, old, slice) : await pollSleep(Math.min(slice, POLL_SLICE_MS));
        if (stopped()) return false;
        if (r === 'timed-out') {
          if (waitAsync !== undefined) this.liveness?.();
          else if (Atomics.load(i32, index) === old) this.pollLiveness();
          continue;
        }
        if (r === 'ok') {
          // Woken: either the word changed or someone wants our attention (close).
          const w2 = Atomics.load(i32, index);
          if (w2 === old) return false;
          this.word = w2;
          return true;
        }
      }
    } finally {
      // A stopped wait leaves the area alone: a closed client's mapping may be gone (a view of 0 elements).
      if (flag.length > flagIndex) Atomics.store(flag, flagIndex, 0);
    }
  }

  private lastLiveness = 0;

  /** While polling with timers: liveness about every slice, as the sleeping waits do. */
  private pollLiveness(): void {
    const now = performance.now();
    if (now - this.lastLiveness < this.sliceMs) return;
    this.lastLiveness = now;
    this.liveness?.();
  }

  private spin(i32: Int32Array, index: number, old: number, until: number): boolean {
    for (let n = 1; ; n++) {
      const w = Atomics.load(i32, index);
      if (w !== old) {
        this.word = w;
        return true;
      }
      if (n % SPIN_CHECK === 0 && performance.now() >= until) return false;
    }
  }
}
