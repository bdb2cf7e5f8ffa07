/**
 * Wait strategies for one side of the channel waiting on a 32-bit word the
 * other side writes (the service on dataout.req, the client on datain.state).
 *
 * - `spin`: Atomics.load in a loop. Lowest latency, burns a core, and
 *   collapses when runnable threads outnumber cores.
 * - `block`: announce "I am sleeping" in our own sleeping flag, re-check the
 *   word, then sleep in the kernel (Atomics.wait / futex) in slices until the
 *   deadline. The waker stores its word first and only makes the wake
 *   syscall when it sees the flag (Dekker with sequentially consistent
 *   atomics: either the sleeper sees the new word or the waker sees the flag).
 * - `hybrid` (default): spin for a bounded budget (`spinMicros`), reading the
 *   clock only every SPIN_CHECK iterations, then block as above. After its
 *   budget it gives up the CPU, so it does not collapse under oversubscription.
 *   (An adaptive budget, halved after wasted spins, was tried and dropped: under
 *   load it got stuck at its floor and lost to the fixed budget.)
 *
 * The memory backend is abstracted by `WaitOps`: Atomics.wait/notify for
 * SharedArrayBuffer areas, futex wait/wake for mapped files; `waitAsync` is
 * the same wait for callers that must not block (wait-async.ts).
 */
import { ValidationError } from '../errors.js';

/** What a wait on a word ended with: woken (re-check the word), the word differed, or the time ran out. */
export type WaitResult = 'ok' | 'not-equal' | 'timed-out';

/** Kernel-assisted wait/wake on a 32-bit word of an area. */
export interface WaitOps {
  /** Sleep while `i32[index] === expected`, at most `timeoutMs`. */
  wait(i32: Int32Array, index: number, expected: number, timeoutMs: number): WaitResult;
  /**
   * The same wait without blocking the calling thread: the promise settles
   * when the word changed, a `notify` woke it, or `timeoutMs` ran out.
   * Absent where nothing can wake a waiter (a VM's window: wait-async.ts polls).
   */
  waitAsync?(i32: Int32Array, index: number, expected: number, timeoutMs: number): Promise<WaitResult>;
  /** Wake every thread sleeping on `i32[index]`. */
  notify(i32: Int32Array, index: number): void;
  /**
   * Give the core away for a moment (sched_yield), if the backend can. A
   * spinner calls it once its first microseconds are spent: on an idle core
   * it returns at once; when threads outnumber cores it lets the peer run
   * instead of burning the spin budget while the peer waits for a core.
   */
  yield?(): void;
}

/** WaitOps for areas over a SharedArrayBuffer (threads of one process). */
export const sabWaitOps: WaitOps = {
  wait: (i32, index, expected, timeoutMs) => Atomics.wait(i32, index, expected, timeoutMs),
  notify: (i32, index) => {
    Atomics.notify(i32, index);
  },
  waitAsync: (i32, index, expected, timeoutMs) => {
    const r = (Atomics as unknown as AtomicsWaitAsync).waitAsync(i32, index, expected, timeoutMs);
    return r.async ? r.value : Promise.resolve(r.value);
  },
};

/** Atomics.waitAsync (ES2024; in Node since 16), which the project's ES2023 lib does not declare. */
interface AtomicsWaitAsync {
  waitAsync(
    i32: Int32Array,
    index: number,
    expected: number,
    timeoutMs: number,
  ): { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
}

/** The wait strategies a channel side may use (see the module's comment): `spin`, `block`, `hybrid`. */
export const WAIT_STRATEGIES = ['spin', 'block', 'hybrid'] as const;
/** How one side of a channel waits for the other: spin, block in the kernel, or spin a budget then block. */
export type WaitStrategy = (typeof WAIT_STRATEGIES)[number];

/** The strategy used when none is given: `hybrid`. */
export const DEFAULT_STRATEGY: WaitStrategy = 'hybrid';
/** Spin budget of the `hybrid` strategy before it blocks, µs, when none is given. */
export const DEFAULT_SPIN_MICROS = 50;
/** Spin iterations between two clock reads. */
export const SPIN_CHECK = 64;
/** Pure spinning before a spinner starts yielding its core between looks (ms). */
export const YIELD_AFTER_MS = 0.005;
/**
 * The hybrid budget of a waiter whose peer shows no sign of running (ms): a client that found the
 * service awake when it sent, and sees no BUSY this long after, sleeps instead of spinning its
 * whole budget, so the core it frees can run the service (the peer is then descheduled, waiting
 * for a core a busy neighbour holds).
 */
export const HANDOFF_AFTER_MS = 0.005;

export interface WaiterOptions {
  readonly strategy?: WaitStrategy;
  /** Hybrid spin budget in microseconds (default 50). */
  readonly spinMicros?: number;
  /** Longest single kernel sleep in ms; the sleeper re-checks the word after each slice. */
  readonly sliceMs?: number;
  /**
   * Called about every `sliceMs` while a wait goes on (after each sleep slice,
   * or every slice's worth of spinning). It may throw to abandon the wait:
   * that is how a waiter notices a dead peer instead of hanging.
   */
  readonly liveness?: () => void;
}

/** Whether `s` names a wait strategy (for parsing options and flags). */
export function isWaitStrategy(s: unknown): s is WaitStrategy {
  return typeof s === 'string' && (WAIT_STRATEGIES as readonly string[]).includes(s);
}

/**
 * Waits for a word to change. One instance per waiting side; not reentrant.
 * The new value is left in `word` so the hot path allocates nothing.
 */
export class Waiter {
  readonly strategy: WaitStrategy;
  readonly spinMs: number;
  readonly sliceMs: number;
  /** The value seen by the last successful `waitChange`. */
  word = 0;

  constructor(
    readonly ops: WaitOps,
    options: WaiterOptions = {},
  ) {
    const strategy = options.strategy ?? DEFAULT_STRATEGY;
    if (!isWaitStrategy(strategy)) throw new ValidationError('strategy', `'${String(strategy)}' is not one of ${WAIT_STRATEGIES.join(', ')}`);
    const spinMicros = options.spinMicros ?? DEFAULT_SPIN_MICROS;
    if (!Number.isFinite(spinMicros) || spinMicros < 0) throw new ValidationError('spinMicros', `${spinMicros} must be a finite number >= 0`);
    const sliceMs = options.sliceMs ?? 50;
    if (!Number.isFinite(sliceMs) || sliceMs <= 0) throw new ValidationError('sliceMs', `${sliceMs} must be a finite number > 0`);
    this.strategy = strategy;
    this.spinMs = spinMicros / 1000;
    this.sliceMs = sliceMs;
    this.liveness = options.liveness;
  }

  private readonly liveness: (() => void) | undefined;

  /**
   * Wait until `i32[index] !== old` or until `deadline` (a `performance.now()`
   * value). `flag[flagIndex]` is our sleeping flag, set to 1 only while we
   * may be asleep in the kernel. Returns true when the word changed (new
   * value in `this.word`); false at the deadline or when woken explicitly
   * without a change (the caller re-checks whatever made it wake us).
   * `now`, if given, is a fresh `performance.now()` (saves a clock read);
   * `spinMs`, the hybrid spin budget of this wait (default the waiter's).
   */
  waitChange(
    i32: Int32Array,
    index: number,
    old: number,
    flag: Int32Array,
    flagIndex: number,
    deadline: number,
    now?: number,
    spinMs: number = this.spinMs,
  ): boolean {
    const w = Atomics.load(i32, index);
    if (w !== old) {
      this.word = w;
      return true;
    }
    switch (this.strategy) {
      case 'spin':
        return this.spin(i32, index, old, deadline);
      case 'block':
        return this.block(i32, index, old, flag, flagIndex, deadline);
      case 'hybrid': {
        const spinEnd = (now ?? performance.now()) + spinMs;
        if (this.spin(i32, index, old, spinEnd < deadline ? spinEnd : deadline)) return true;
        return this.block(i32, index, old, flag, flagIndex, deadline);
      }
    }
  }

  private spin(i32: Int32Array, index: number, old: number, until: number): boolean {
    let nextCheck = 0;
    const yieldOp = this.ops.yield;
    let yieldFrom = 0;
    for (let n = 1; ; n++) {
      const w = Atomics.load(i32, index);
      if (w !== old) {
        this.word = w;
        return true;
      }
      if (n % SPIN_CHECK === 0) {
        const now = performance.now();
        if (now >= until) return false;
        if (yieldOp !== undefined) {
          if (yieldFrom === 0) yieldFrom = now + YIELD_AFTER_MS;
          else if (now >= yieldFrom) yieldOp();
        }
        if (this.liveness !== undefined) {
          if (nextCheck === 0) nextCheck = now + this.sliceMs;
          else if (now >= nextCheck) {
            nextCheck = now + this.sliceMs;
            this.liveness();
          }
        }
      }
    }
  }

  private block(i32: Int32Array, index: number, old: number, flag: Int32Array, flagIndex: number, deadline: number): boolean {
    Atomics.store(flag, flagIndex, 1);
    for (;;) {
      // Re-check after publishing the flag: a waker that stored before it saw no flag.
      const w = Atomics.load(i32, index);
      if (w !== old) {
        Atomics.store(flag, flagIndex, 0);
        this.word = w;
        return true;
      }
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        Atomics.store(flag, flagIndex, 0);
        return false;
      }
      const r = this.ops.wait(i32, index, old, remaining < this.sliceMs ? remaining : this.sliceMs);
      if (r === 'timed-out' && this.liveness !== undefined) {
        try {
          this.liveness();
        } catch (err) {
          Atomics.store(flag, flagIndex, 0);
          throw err;
        }
      }
      if (r === 'ok') {
        // Woken: either the word changed or someone wants our attention (stop).
        Atomics.store(flag, flagIndex, 0);
        const w2 = Atomics.load(i32, index);
        if (w2 !== old) {
          this.word = w2;
          return true;
        }
        return false;
      }
    }
  }
}
