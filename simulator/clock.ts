/**
 * Clocks of the simulator. Every simulated time is a number of NANOSECONDS
 * since the clock's origin (`now()` starts at 0): with 2^53 ns ≈ 104 days, a
 * property test can run thousands of simulated seconds exactly, in integers.
 *
 * - `VirtualClock`: discrete-event time. Timers sit in a priority queue; time
 *   moves only when the test runs them (`step`, `advance`, `runUntilIdle`,
 *   `run`), in time order, ties broken by insertion order. Deterministic.
 * - `RealClock`: `performance.now()`; a timer waits with `setTimeout` for the
 *   bulk and busy-waits the sub-millisecond remainder (launch costs are tens of
 *   µs, below what `setTimeout` can resolve).
 */
import type { Clock } from '../src/events/envelope.js';

export const NS_PER_US = 1_000;
export const NS_PER_MS = 1_000_000;
export const NS_PER_S = 1_000_000_000;

export interface TimerHandle {
  /** Drop the timer if it has not fired; idempotent. */
  cancel(): void;
}

/** The time source a `SimDevice` runs on. Times are nanoseconds since the clock's origin. */
export interface SimClock {
  readonly kind: 'virtual' | 'real';
  /** Nanoseconds since the clock's origin. */
  now(): number;
  /** Call `fn` once the clock reaches `at` (ns); an `at` in the past fires as soon as possible. */
  schedule(at: number, fn: () => void): TimerHandle;
  /** Resolve after `duration` nanoseconds of this clock's time. */
  sleep(duration: number): Promise<void>;
}

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/** Binary min-heap of timers keyed by (at, seq): time order, then insertion order. */
export class TimerQueue {
  private readonly heap: Timer[] = [];
  private seq = 0;
  private live = 0;

  /** Number of timers neither fired nor cancelled. */
  get size(): number {
    return this.live;
  }

  /** Add a timer firing `fn` at `at` (ns); timers due at the same time fire in the order pushed. */
  push(at: number, fn: () => void): TimerHandle {
    const timer: Timer = { at, seq: this.seq++, fn, cancelled: false };
    this.heap.push(timer);
    this.up(this.heap.length - 1);
    this.live++;
    return {
      cancel: () => {
        if (timer.cancelled) return;
        timer.cancelled = true;
        this.live--;
      },
    };
  }

  /** Time of the earliest live timer. */
  peekAt(): number | undefined {
    this.prune();
    return this.heap[0]?.at;
  }

  /** Remove and return the earliest live timer's callback, marking it fired. */
  pop():
    | {
        /** When it was due, ns. */
        at: number;
        /** Its callback, for the caller to run. */
        fn: () => void;
      }
    | undefined {
    this.prune();
    const top = this.removeTop();
    if (top === undefined) return undefined;
    top.cancelled = true; // a later cancel() of a fired timer is a no-op
    this.live--;
    return { at: top.at, fn: top.fn };
  }

  private prune(): void {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.removeTop();
  }

  private removeTop(): Timer | undefined {
    const top = this.heap[0];
    const last = this.heap.pop();
    if (top === undefined || last === undefined) return undefined;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
    return top;
  }

  private less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

/** Let every pending promise continuation run (one macrotask turn) before virtual time moves on. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Discrete-event time. Nothing happens until the test drives the clock; each
 * timer fires at its own time, after the promise continuations of the
 * previous one have run, so `await device.call(...)` followed by another call
 * issues the second call at the virtual instant the first one completed.
 */
export class VirtualClock implements SimClock {
  readonly kind = 'virtual' as const;
  private t: number;
  private readonly queue = new TimerQueue();

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  schedule(at: number, fn: () => void): TimerHandle {
    if (Number.isNaN(at)) throw new RangeError('VirtualClock.schedule: time is NaN');
    return this.queue.push(Math.max(at, this.t), fn);
  }

  sleep(duration: number): Promise<void> {
    return new Promise((resolve) => this.schedule(this.t + Math.max(0, duration), resolve));
  }

  /** Number of timers waiting. */
  get pending(): number {
    return this.queue.size;
  }

  /** Time of the next timer, if any. */
  nextAt(): number | undefined {
    return this.queue.peekAt();
  }

  /** Fire the next timer synchronously (no promise continuations run). Returns false when idle. */
  step(): boolean {
    const timer = this.queue.pop();
    if (timer === undefined) return false;
    this.t = Math.max(this.t, timer.at);
    timer.fn();
    return true;
  }

  /** Run every timer due at or before `t`, in order, then set the time to `t`. */
  async advanceTo(t: number): Promise<void> {
    for (;;) {
      await settle();
      const next = this.queue.peekAt();
      if (next === undefined || next > t) break;
      this.step();
    }
    this.t = Math.max(this.t, t);
    await settle();
  }

  /** `advanceTo(now() + duration)`. */
  advance(duration: number): Promise<void> {
    return this.advanceTo(this.t + duration);
  }

  /** Run timers until none is left; returns how many fired. Throws past `maxTimers` (a runaway schedule). */
  async runUntilIdle(maxTimers = 10_000_000): Promise<number> {
    let fired = 0;
    for (;;) {
      await settle();
      if (!this.step()) return fired;
      if (++fired > maxTimers) throw new Error(`VirtualClock.runUntilIdle: more than ${maxTimers} timers fired`);
    }
  }

  /** Run timers until `promise` settles; returns its value or throws its error. */
  async run<T>(promise: Promise<T>, maxTimers = 10_000_000): Promise<T> {
    let settled = false;
    const watched = promise.then(
      (v) => {
        settled = true;
        return v;
      },
      (e: unknown) => {
        settled = true;
        throw e;
      },
    );
    watched.catch(() => {}); // observed below
    for (let fired = 0; ; fired++) {
      await settle();
      if (settled) return watched;
      if (fired > maxTimers) throw new Error(`VirtualClock.run: more than ${maxTimers} timers fired`);
      if (!this.step()) throw new Error('VirtualClock.run: the promise is pending and no timer is left (deadlock)');
    }
  }
}

export interface RealClockOptions {
  /** Below this remaining wait, busy-wait instead of setTimeout (default 1000 µs). */
  readonly spinMicros?: number;
}

/**
 * Real time from `performance.now()`. Timers run from the event loop: far
 * ones through `setTimeout`, the last `spinMicros` busy-waited so a 20 µs
 * launch takes about 20 µs (the host driver polling the device). Busy-waiting
 * blocks the thread it runs on: use it in a worker or a benchmark process.
 */
export class RealClock implements SimClock {
  readonly kind = 'real' as const;
  private readonly origin = performance.now();
  private readonly queue = new TimerQueue();
  private readonly spinNs: number;
  private armed: { readonly at: number; readonly cancel: () => void } | null = null;

  constructor(options: RealClockOptions = {}) {
    this.spinNs = (options.spinMicros ?? 1000) * NS_PER_US;
  }

  now(): number {
    return (performance.now() - this.origin) * NS_PER_MS;
  }

  schedule(at: number, fn: () => void): TimerHandle {
    const handle = this.queue.push(at, fn);
    this.arm();
    return {
      cancel: () => {
        handle.cancel();
        this.arm(); // with no timer left, nothing keeps the event loop (and the process) alive
      },
    };
  }

  sleep(duration: number): Promise<void> {
    return new Promise((resolve) => this.schedule(this.now() + Math.max(0, duration), resolve));
  }

  /** Make sure the event loop will wake up for the earliest timer. */
  private arm(): void {
    const next = this.queue.peekAt();
    if (next === undefined) {
      this.armed?.cancel();
      this.armed = null;
      return;
    }
    if (this.armed !== null && this.armed.at <= next) return;
    this.armed?.cancel();
    const wait = next - this.now() - this.spinNs;
    if (wait > 0) {
      const t = setTimeout(this.pump, Math.max(1, Math.floor(wait / NS_PER_MS)));
      this.armed = { at: next, cancel: () => clearTimeout(t) };
    } else {
      const i = setImmediate(this.pump);
      this.armed = { at: -Infinity, cancel: () => clearImmediate(i) };
    }
  }

  private readonly pump = (): void => {
    this.armed = null;
    try {
      const next = this.queue.peekAt();
      if (next === undefined) return;
      if (next - this.now() > this.spinNs) return; // woke early: arm() waits again
      while (this.now() < next) {
        /* busy-wait: the host driver polls the device's completion register */
      }
      const now = this.now();
      for (;;) {
        const at = this.queue.peekAt();
        if (at === undefined || at > now) break;
        this.queue.pop()!.fn();
      }
    } finally {
      this.arm();
    }
  };
}

/**
 * Adapt a SimClock to the journal's `Clock` (milliseconds since the Unix
 * epoch), given the epoch time of the clock's origin: device events stamped
 * on a virtual clock get reproducible timestamps.
 */
export function envelopeClock(clock: SimClock, originEpochMs: number): Clock {
  return { now: () => originEpochMs + Math.floor(clock.now() / NS_PER_MS) };
}
