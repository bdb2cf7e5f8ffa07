/**
 * The client end of the channel (the guest application's side, paper §3.2.3
 * computation phase). call/set/get/rst are synchronous: each blocks the
 * calling thread until the service (in another thread or process) answers,
 * for the lowest latency. callAsync / setAsync / getAsync speak the same
 * protocol without blocking the event loop (wait-async.ts); they run one at a
 * time, queued in the order they were made, and a synchronous operation while
 * any of them is queued or running is refused with CHANNEL_BUSY. The state and
 * the protocol steps are in client-core.ts.
 */
import { VirtFunError } from '../errors.js';
import { Command, packWord, Status, wordLow4, wordSeq } from './layout.js';
import { I32 } from './region.js';
import { HANDOFF_AFTER_MS } from './wait.js';
import { COMMAND_NAMES, describeState } from './client-errors.js';
import { ChannelCore, EMPTY, FIRST_LOOKS, NONE } from './client-core.js';

export { ServiceError } from './client-errors.js';
export { DEFAULT_TIMEOUT_MS, HEARTBEAT_LIVENESS_MS, type ClientOptions } from './client-core.js';

/** A channel's client: synchronous operations for the lowest latency, async ones that never block the event loop. */
export class ChannelClient extends ChannelCore {
  /** set + wait: returns a copy of the result. */
  call(input: Uint8Array): Uint8Array {
    this.ready('call');
    const len = this.roundTrip(Command.SET, input);
    return this.inPayload.slice(0, len);
  }

  /** set + wait without allocating: copies the result into `out`, returns its length. */
  callInto(input: Uint8Array, out: Uint8Array): number {
    this.ready('callInto');
    const len = this.roundTrip(Command.SET, input);
    return this.copyOut(len, out);
  }

  /** Start a computation and return at once; collect the result with get(). */
  set(input: Uint8Array): void {
    this.ready('set');
    this.send(Command.SET, input);
    this.pendingSet = this.seqNo;
  }

  /**
   * The result of the pending set() (waits for it), or, without a pending
   * set, the last result the service holds (sends GET; NO_RESULT if none).
   */
  get(): Uint8Array {
    return this.inPayload.slice(0, this.getLen('get'));
  }

  /** get() into a caller buffer; returns the result length. */
  getInto(out: Uint8Array): number {
    return this.copyOut(this.getLen('getInto'), out);
  }

  /**
   * Clear the function's state (driver reset) and the service's last result.
   * Also the way out after a timeout: first waits (timeoutMs) for the
   * outstanding request to be answered, then resynchronises and resets.
   */
  rst(): void {
    this.checkOpen('rst');
    if (this.brokenSeq !== NONE || this.pendingSet !== NONE) this.resync();
    this.roundTrip(Command.RST, EMPTY);
  }

  /**
   * Re-align our seq with the service's ack seq. Waits (timeoutMs) until the
   * service has answered the last request word in dataout, then continues
   * from its seq. Use after something else wrote dataout (a crashed client
   * instance, a test acting as a hostile client), or after a timeout.
   * Discards a pending set's result. Returns the seq now in use.
   */
  resync(): number {
    this.checkOpen('resync');
    const start = performance.now();
    let delay = 0;
    while (!this.inSync()) {
      const waited = performance.now() - start;
      if (waited >= this.timeoutMs) {
        const req = wordSeq(Atomics.load(this.out.i32, I32.req));
        throw new VirtFunError(
          'CHANNEL_TIMEOUT',
          `resync: the service has not answered request seq ${req} after ${Math.round(waited)} ms (state word ${describeState(Atomics.load(this.in.i32, I32.state))})`,
        );
      }
      // Not a hot path: back off politely (Atomics.wait on the state word, which the service bumps).
      delay = Math.min(delay + 1, 20);
      this.ops.wait(this.in.i32, I32.state, Atomics.load(this.in.i32, I32.state), delay);
    }
    this.seqNo = wordSeq(Atomics.load(this.out.i32, I32.req));
    this.pendingSet = NONE;
    this.brokenSeq = NONE;
    this.brokenReason = '';
    return this.seqNo;
  }

  /**
   * Mark the client closed: later calls throw CHANNEL_CLOSED, and so do async
   * operations in flight (the one waiting is woken first) and queued. Runs the
   * onClose option once (a file region is unmapped).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.inFlight !== 0) this.ops.notify(this.in.i32, I32.state);
    this.onClose?.();
  }

  /** call() that resolves with the result instead of blocking; queued behind earlier async operations. */
  callAsync(input: Uint8Array): Promise<Uint8Array> {
    const data = this.inFlight === 0 ? input : input.slice();
    return this.serial(async () => {
      this.ready('callAsync', true);
      this.send(Command.SET, data);
      return this.inPayload.slice(0, await this.answerAsync(this.seqNo, Command.SET));
    });
  }

  /** set() in the async queue: resolves once the request is posted (it does not wait for the answer). */
  setAsync(input: Uint8Array): Promise<void> {
    const data = this.inFlight === 0 ? input : input.slice();
    return this.serial(() => {
      this.ready('setAsync', true);
      this.send(Command.SET, data);
      this.pendingSet = this.seqNo;
    });
  }

  /** get() that resolves with the result instead of blocking; queued behind earlier async operations. */
  getAsync(): Promise<Uint8Array> {
    return this.serial(async () => {
      this.checkOpen('getAsync', true);
      let seq = this.pendingSet;
      let cmd: number = Command.SET;
      if (seq !== NONE) this.pendingSet = NONE;
      else {
        this.ready('getAsync', true);
        this.send(Command.GET, EMPTY);
        seq = this.seqNo;
        cmd = Command.GET;
      }
      return this.inPayload.slice(0, await this.answerAsync(seq, cmd));
    });
  }

  /** Run `op` now if nothing async is in flight (its request is posted before this returns), else after the queue. */
  private serial<T>(op: () => T | Promise<T>): Promise<T> {
    this.inFlight++;
    const run = this.inFlight === 1 ? now(op) : this.tail.then(op);
    this.tail = run.then(undefined, () => undefined);
    return run.finally(() => {
      this.inFlight--;
    });
  }

  /** answer(), waiting with the AsyncWaiter; rejects with CHANNEL_CLOSED when the client is closed meanwhile. */
  private async answerAsync(seq: number, cmd: number): Promise<number> {
    const done = packWord(seq, Status.DONE);
    const error = packWord(seq, Status.ERROR);
    const i32 = this.in.i32;
    let w = Atomics.load(i32, I32.state);
    if (wordLow4(w) === Status.CLOSED) this.tombstone(seq);
    if (w === done || w === error) return this.result(seq, w);
    const start = performance.now();
    const deadline = start + this.timeoutMs;
    const stopped = (): boolean => this.closed;
    for (;;) {
      const changed = await this.asyncWaiter.waitChange(i32, I32.state, w, this.out.i32, I32.clientSleeping, deadline, stopped);
      if (this.closed) {
        throw new VirtFunError('CHANNEL_CLOSED', `the client was closed while ${COMMAND_NAMES[cmd] ?? cmd} seq ${seq} was in flight (released?)`);
      }
      if (!changed && performance.now() >= deadline) this.timedOut(seq, cmd, start);
      w = changed ? this.asyncWaiter.word : Atomics.load(i32, I32.state);
      if (w === done || w === error) return this.result(seq, w);
      if (wordLow4(w) === Status.CLOSED) this.tombstone(seq);
    }
  }

  private getLen(op: string): number {
    this.checkOpen(op);
    if (this.pendingSet !== NONE) {
      const seq = this.pendingSet;
      this.pendingSet = NONE;
      return this.answer(seq, Command.SET);
    }
    this.ready(op);
    return this.roundTrip(Command.GET, EMPTY);
  }

  private roundTrip(cmd: number, input: Uint8Array): number {
    this.send(cmd, input);
    return this.answer(this.seqNo, cmd);
  }

  /** Wait for the answer to `seq`; returns the validated result length or throws ServiceError. */
  private answer(seq: number, cmd: number): number {
    const done = packWord(seq, Status.DONE);
    const error = packWord(seq, Status.ERROR);
    const i32 = this.in.i32;
    let w = Atomics.load(i32, I32.state);
    if (wordLow4(w) === Status.CLOSED) this.tombstone(seq);
    if (w !== done && w !== error && this.waiter.strategy !== 'block') {
      // First looks without the clock (FIRST_LOOKS): a short call's answer is usually here by then.
      for (let n = 0; n < FIRST_LOOKS; n++) {
        w = Atomics.load(i32, I32.state);
        if (w === done || w === error) return this.result(seq, w);
      }
      if (wordLow4(w) === Status.CLOSED) this.tombstone(seq);
    }
    if (w !== done && w !== error) {
      const start = performance.now();
      const deadline = start + this.timeoutMs;
      const waiter = this.waiter;
      // The service was awake and does not show BUSY for this call: it is not running (a busy
      // neighbour holds its core). Spin only HANDOFF_AFTER_MS, then sleep: the freed core can run it.
      // (Woken by this call, it is waking up instead: sleeping then would make both sides miss each other.)
      const running = w === packWord(seq, Status.BUSY) || this.wokeService;
      let spinMs = running ? waiter.spinMs : Math.min(HANDOFF_AFTER_MS, waiter.spinMs);
      let now: number | undefined = start;
      for (;;) {
        const changed = waiter.waitChange(i32, I32.state, w, this.out.i32, I32.clientSleeping, deadline, now, spinMs);
        spinMs = waiter.spinMs;
        now = undefined;
        if (changed) {
          w = waiter.word;
          if (w === done || w === error) break; // anything else (BUSY, stale seq, garbage) is not our answer
          if (wordLow4(w) === Status.CLOSED) this.tombstone(seq);
        } else {
          if (performance.now() >= deadline) this.timedOut(seq, cmd, start);
          w = Atomics.load(i32, I32.state);
          if (w === done || w === error) break;
          if (wordLow4(w) === Status.CLOSED) this.tombstone(seq);
        }
      }
    }
    return this.result(seq, w);
  }
}

/** Run `op` synchronously; its result or its exception as a promise. */
function now<T>(op: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(op());
  } catch (e) {
    return Promise.reject(e as Error);
  }
}
