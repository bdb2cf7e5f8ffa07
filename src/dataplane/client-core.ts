/**
 * The state and the protocol steps of a channel's client, shared by its
 * synchronous and async operations (client.ts): posting a request, reading
 * and validating an answer, liveness, timeouts, the tombstone.
 *
 * Protocol (docs/region-format.md): write the payload, then dataout.len, then
 * the request word packWord(seq, cmd) with an atomic store; wake the service
 * only if it announced it is sleeping. The answer is the datain state word
 * packWord(seq, DONE | ERROR) for exactly our seq; any other seq is stale and
 * ignored. Everything read from datain is validated.
 */
import { ValidationError, VirtFunError } from '../errors.js';
import { processAlive } from '../util/process.js';
import { ERROR_NAMES, ErrorCode, IN, OUT, nextSeq, packWord, Status, wordLow4, wordSeq } from './layout.js';
import { checkHeader, I32, payloadView, type AreaViews, type ChannelAreas } from './region.js';
import { COMMAND_NAMES, decoder, describeState, ServiceError } from './client-errors.js';
import { Waiter, type WaitStrategy } from './wait.js';
import { AsyncWaiter } from './wait-async.js';

/**
 * Looks at the state word a synchronous call takes before it reads the clock: most answers of a
 * short call arrive within them (a few hundred ns), so the fast path reads no clock at all.
 */
export const FIRST_LOOKS = 512;

/** No seq. */
export const NONE = -1;

/** How a ChannelClient waits and for how long, and how it tells that its service is gone. */
export interface ClientOptions {
  /** How to wait for answers (default `hybrid`). */
  readonly strategy?: WaitStrategy;
  /** Hybrid spin budget in microseconds before sleeping (default 50). */
  readonly spinMicros?: number;
  /** Longest wait for one answer in ms (default 30000). */
  readonly timeoutMs?: number;
  /** Called once by close(): e.g. unmap a file region. */
  readonly onClose?: () => void;
  /**
   * How a waiting client tells that the service is gone: `pid` (default) checks
   * the process whose pid the service published; `heartbeat` (a guest in a VM,
   * which cannot see host processes) gives up when neither the state word nor
   * datain.heartbeat changed for HEARTBEAT_LIVENESS_MS, unless its own call
   * shows BUSY (docs/region-format.md §13.2).
   */
  readonly liveness?: 'pid' | 'heartbeat';
  /** Spin budget of an async wait on the event loop before it sleeps off it (µs, default 20: wait-async.ts). */
  readonly asyncSpinMicros?: number;
}

/** With `liveness: 'heartbeat'`: how long a silent service may stay silent (ms). */
export const HEARTBEAT_LIVENESS_MS = 2000;

/** Longest wait for one answer unless `timeoutMs` says otherwise (ms). */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** The client's state and protocol steps; ChannelClient (client.ts) adds the operations. */
export abstract class ChannelCore {
  /** Payload capacity of the region in bytes (from the checked headers). */
  readonly capacity: number;
  readonly timeoutMs: number;
  /** The onClose option: run once by close(). */
  protected readonly onClose: (() => void) | undefined;
  protected readonly out: AreaViews;
  protected readonly in: AreaViews;
  protected readonly outPayload: Uint8Array;
  protected readonly inPayload: Uint8Array;
  protected readonly waiter: Waiter;
  protected readonly ops: ChannelAreas['ops'];
  protected seqNo: number;
  /** Seq of a set() whose answer get() has not collected yet. */
  protected pendingSet = NONE;
  /** Seq of a request that timed out (or was outstanding at attach): unusable until rst()/resync(). */
  protected brokenSeq = NONE;
  protected brokenReason = '';
  protected closed = false;
  protected readonly asyncWaiter: AsyncWaiter;
  /** Async operations queued or running; the synchronous ones are refused meanwhile. */
  protected inFlight = 0;
  /** Settles when the last queued async operation has. */
  protected tail: Promise<unknown> = Promise.resolve();

  constructor(areas: ChannelAreas, options: ClientOptions = {}) {
    const capacity = checkHeader(areas.dataout, 'dataout');
    checkHeader(areas.datain, 'datain', capacity);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new ValidationError('timeoutMs', `${timeoutMs} must be a finite number > 0`);
    }
    this.capacity = capacity;
    this.timeoutMs = timeoutMs;
    this.onClose = options.onClose;
    this.out = areas.dataout;
    this.in = areas.datain;
    this.ops = areas.ops;
    this.outPayload = payloadView(areas.dataout, capacity);
    this.inPayload = payloadView(areas.datain, capacity);
    const liveness = options.liveness === 'heartbeat' ? () => this.checkHeartbeat() : () => this.checkServiceAlive();
    this.waiter = new Waiter(areas.ops, {
      ...(options.strategy !== undefined && { strategy: options.strategy }),
      ...(options.spinMicros !== undefined && { spinMicros: options.spinMicros }),
      liveness,
    });
    this.asyncWaiter = new AsyncWaiter(areas.ops, {
      ...(options.asyncSpinMicros !== undefined && { spinMicros: options.asyncSpinMicros }),
      liveness,
    });
    this.out.dv.setUint32(OUT.pid, typeof process === 'object' ? process.pid >>> 0 : 0, true);
    this.beat();
    // Attach: continue from the seq of the last request word. If the service
    // has not answered it yet, we must not write a new request over it.
    this.seqNo = wordSeq(Atomics.load(this.out.i32, I32.req));
    if (!this.inSync()) {
      this.brokenSeq = this.seqNo;
      this.brokenReason = `request seq ${this.seqNo} was still outstanding when this client attached`;
    }
  }

  /** How the synchronous operations wait for answers. */
  get strategy(): WaitStrategy {
    return this.waiter.strategy;
  }

  /** Seq of the last request sent. */
  get seq(): number {
    return this.seqNo;
  }

  /** True while a set() awaits its get(). */
  get pending(): boolean {
    return this.pendingSet !== NONE;
  }

  /** True after a timeout, until rst() or resync() succeeds. */
  get broken(): boolean {
    return this.brokenSeq !== NONE;
  }

  /** Async operations queued or running (callAsync, setAsync, getAsync). */
  get asyncInFlight(): number {
    return this.inFlight;
  }

  /**
   * Bump dataout.heartbeat (liveness for whoever watches the region). Not done
   * on every request: the word shares a cache line with clientSleeping, which
   * the service reads on every answer, and the extra line transfer costs
   * about a third of a round trip.
   */
  beat(): void {
    const dv = this.out.dv;
    dv.setUint32(OUT.heartbeat, (dv.getUint32(OUT.heartbeat, true) + 1) >>> 0, true);
  }

  /** The service has answered the current request word (ack seq = req seq, status not BUSY). */
  protected inSync(): boolean {
    const state = Atomics.load(this.in.i32, I32.state);
    const st = wordLow4(state);
    return (
      wordSeq(state) === wordSeq(Atomics.load(this.out.i32, I32.req)) &&
      (st === Status.DONE || st === Status.ERROR || st === Status.WAIT)
    );
  }

  /** Closed, or (for a synchronous operation, `async` false) async operations in flight: refused. */
  protected checkOpen(op: string, async = false): void {
    if (this.closed) throw new VirtFunError('CHANNEL_CLOSED', `${op}: the client is closed`);
    if (this.inFlight !== 0 && !async) {
      throw new VirtFunError('CHANNEL_BUSY', `${op}: ${this.inFlight} async operation(s) in flight on this channel; await them first`);
    }
  }

  /** checkOpen, and refused after a timeout (CHANNEL_TIMEOUT) or while a set() awaits its get() (ValidationError). */
  protected ready(op: string, async = false): void {
    this.checkOpen(op, async);
    if (this.brokenSeq !== NONE) {
      throw new VirtFunError('CHANNEL_TIMEOUT', `${op}: the channel is unusable (${this.brokenReason}); call rst() or resync() first`);
    }
    if (this.pendingSet !== NONE) {
      throw new ValidationError(op, `set() seq ${this.pendingSet} is pending; collect it with get() first`);
    }
  }

  /** Copy the `len`-byte result into `out` (ValidationError when it does not fit); returns `len`. */
  protected copyOut(len: number, out: Uint8Array): number {
    if (len > out.byteLength) {
      throw new ValidationError('out', `result is ${len} bytes, the buffer holds ${out.byteLength}`);
    }
    const src = this.inPayload;
    if (len <= 64) {
      for (let i = 0; i < len; i++) out[i] = src[i]!; // small results: no view allocation
    } else {
      out.set(len === this.capacity ? src : src.subarray(0, len));
    }
    return len;
  }

  /** Post a request: payload, len, then the request word (release); wake the service if it sleeps. */
  protected send(cmd: number, input: Uint8Array): void {
    const n = input.byteLength;
    if (n > this.capacity) {
      throw new ValidationError('input', `${n} bytes exceeds the region capacity of ${this.capacity} bytes`);
    }
    if (n > 0) this.outPayload.set(input);
    const out = this.out;
    out.dv.setUint32(OUT.len, n, true);
    const seq = nextSeq(this.seqNo);
    this.seqNo = seq;
    // Release: payload and len are visible before the service can see the new word.
    Atomics.store(out.i32, I32.req, packWord(seq, cmd));
    // Dekker: the service sets its flag then re-checks the word, so either it sees our word or we see its flag.
    if (Atomics.load(this.in.i32, I32.serviceSleeping) === 1) {
      this.ops.notify(out.i32, I32.req);
      this.wokeService = true;
    } else {
      this.wokeService = false;
    }
  }

  /** Whether the last send() had to wake the service (it was asleep): it is then waking up, not descheduled. */
  protected wokeService = false;

  /**
   * Liveness, checked about every wait slice while a call waits: the service
   * publishes its pid in datain; if that process is gone, no answer will come.
   */
  protected checkServiceAlive(): void {
    const pid = this.in.dv.getUint32(IN.pid, true);
    if (pid === 0 || pid === process.pid || processAlive(pid)) return;
    this.brokenSeq = this.seqNo;
    this.brokenReason = `the service process ${pid} is gone`;
    throw new VirtFunError('CHANNEL_CLOSED', `the service process ${pid} is gone: seq ${this.seqNo} will never be answered (ask vFunD for a new instance)`);
  }

  /** vFunD wrote the tombstone (the instance is over: released, or its service process died). */
  protected tombstone(seq: number): never {
    this.brokenSeq = seq;
    this.brokenReason = 'vFunD closed this instance (released, or its service died)';
    throw new VirtFunError('CHANNEL_CLOSED', `${this.brokenReason}: seq ${seq} will never be answered (ask vFunD for a new instance)`);
  }

  protected seenBeat = -1;
  protected seenState = -1;
  protected aliveAt = 0;

  /** Liveness without pids (a guest in a VM): the service's heartbeat or state word must move. */
  protected checkHeartbeat(): void {
    const now = performance.now();
    const beat = Atomics.load(this.in.i32, I32.serviceHeartbeat);
    const state = Atomics.load(this.in.i32, I32.state);
    if (beat !== this.seenBeat || state !== this.seenState || this.aliveAt === 0) {
      this.seenBeat = beat;
      this.seenState = state;
      this.aliveAt = now;
      return;
    }
    if (state === packWord(this.seqNo, Status.BUSY)) return; // computing: vFunD bounds the call
    if (now - this.aliveAt < HEARTBEAT_LIVENESS_MS) return;
    this.brokenSeq = this.seqNo;
    this.brokenReason = `the service has shown no sign of life for ${HEARTBEAT_LIVENESS_MS} ms`;
    throw new VirtFunError('CHANNEL_CLOSED', `${this.brokenReason}: seq ${this.seqNo} will never be answered (ask vFunD for a new instance)`);
  }

  /** No answer to `seq` by its deadline: the client is unusable until rst(). */
  protected timedOut(seq: number, cmd: number, start: number): never {
    const waited = Math.round(performance.now() - start);
    this.brokenSeq = seq;
    this.brokenReason = `${COMMAND_NAMES[cmd] ?? cmd} seq ${seq} timed out after ${waited} ms`;
    throw new VirtFunError(
      'CHANNEL_TIMEOUT',
      `no answer to ${COMMAND_NAMES[cmd] ?? cmd} seq ${seq} after ${waited} ms (state word ${describeState(Atomics.load(this.in.i32, I32.state))}); the client is unusable until rst()`,
    );
  }

  /** The validated result length of the answer word `w` (DONE or ERROR for `seq`), or its ServiceError. */
  protected result(seq: number, w: number): number {
    // Acquire: the state word was stored last, so len/error/payload are complete.
    const dv = this.in.dv;
    const len = dv.getUint32(IN.len, true);
    if (len > this.capacity) {
      throw new VirtFunError('CHANNEL_PROTOCOL', `datain.len is ${len} for seq ${seq}, beyond the capacity of ${this.capacity} bytes`);
    }
    if (w === packWord(seq, Status.DONE)) return len;
    const code = dv.getUint32(IN.error, true);
    if (code === ErrorCode.NONE || ERROR_NAMES[code] === undefined) {
      throw new VirtFunError('CHANNEL_PROTOCOL', `datain.error is ${code} for ERROR seq ${seq}, not a known error code`);
    }
    throw new ServiceError(code, seq, decoder.decode(this.inPayload.subarray(0, len)));
  }
}

/** The empty payload of GET and RST. */
export const EMPTY = new Uint8Array(0);
