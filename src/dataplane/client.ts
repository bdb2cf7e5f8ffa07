/**
 * The client end of the channel (the guest application's side, paper §3.2.3
 * computation phase). Synchronous: every call blocks the calling thread until
 * the service (in another thread or process) answers, using the configured
 * wait strategy. One ChannelClient per region, used by one thread at a time.
 *
 * Protocol (docs/region-format.md): write the payload, then dataout.len, then
 * the request word packWord(seq, cmd) with an atomic store; wake the service
 * only if it announced it is sleeping. The answer is the datain state word
 * packWord(seq, DONE | ERROR) for exactly our seq; any other seq is stale and
 * ignored. Everything read from datain is validated.
 */
import { ValidationError, VirtFunError } from '../errors.js';
import { processAlive } from '../util/process.js';
import { Command, ERROR_NAMES, ErrorCode, IN, OUT, nextSeq, packWord, Status, wordLow4, wordSeq } from './layout.js';
import { checkHeader, I32, payloadView, type AreaViews, type ChannelAreas } from './region.js';
import { Waiter, type WaitStrategy } from './wait.js';

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
}

/** With `liveness: 'heartbeat'`: how long a silent service may stay silent (ms). */
export const HEARTBEAT_LIVENESS_MS = 2000;

export const DEFAULT_TIMEOUT_MS = 30_000;

/** The service answered ERROR. `errorCode`/`errorName` say why (layout.ts ErrorCode). */
export class ServiceError extends VirtFunError {
  override readonly name = 'ServiceError';
  readonly errorCode: number;
  readonly errorName: string;
  readonly seq: number;
  /** The service's own message (UTF-8 from the datain payload). */
  readonly serviceMessage: string;
  constructor(errorCode: number, seq: number, serviceMessage: string) {
    const errorName = ERROR_NAMES[errorCode] ?? `UNKNOWN_${errorCode}`;
    super('SERVICE_ERROR', `${errorName} (seq ${seq})${serviceMessage ? `: ${serviceMessage}` : ''}`);
    this.errorCode = errorCode;
    this.errorName = errorName;
    this.seq = seq;
    this.serviceMessage = serviceMessage;
  }
}

const COMMAND_NAMES: Readonly<Record<number, string>> = { 1: 'set', 2: 'get', 3: 'rst' };
const NONE = -1;
const decoder = new TextDecoder('utf-8', { fatal: false });

export class ChannelClient {
  /** Payload capacity of the region in bytes (from the checked headers). */
  readonly capacity: number;
  readonly timeoutMs: number;
  private readonly onClose: (() => void) | undefined;
  private readonly out: AreaViews;
  private readonly in: AreaViews;
  private readonly outPayload: Uint8Array;
  private readonly inPayload: Uint8Array;
  private readonly waiter: Waiter;
  private readonly ops: ChannelAreas['ops'];
  private seqNo: number;
  /** Seq of a set() whose answer get() has not collected yet. */
  private pendingSet = NONE;
  /** Seq of a request that timed out (or was outstanding at attach): unusable until rst()/resync(). */
  private brokenSeq = NONE;
  private brokenReason = '';
  private closed = false;

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
    this.waiter = new Waiter(areas.ops, {
      ...(options.strategy !== undefined && { strategy: options.strategy }),
      ...(options.spinMicros !== undefined && { spinMicros: options.spinMicros }),
      liveness: options.liveness === 'heartbeat' ? () => this.checkHeartbeat() : () => this.checkServiceAlive(),
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
   * Bump dataout.heartbeat (liveness for whoever watches the region). Not done
   * on every request: the word shares a cache line with clientSleeping, which
   * the service reads on every answer, and the extra line transfer costs
   * about a third of a round trip.
   */
  beat(): void {
    const dv = this.out.dv;
    dv.setUint32(OUT.heartbeat, (dv.getUint32(OUT.heartbeat, true) + 1) >>> 0, true);
  }

  /** Mark the client closed: later calls throw CHANNEL_CLOSED. Runs the onClose option once (a file region is unmapped). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose?.();
  }

  // ---- internals ----

  /** The service has answered the current request word (ack seq = req seq, status not BUSY). */
  private inSync(): boolean {
    const state = Atomics.load(this.in.i32, I32.state);
    const st = wordLow4(state);
    return (
      wordSeq(state) === wordSeq(Atomics.load(this.out.i32, I32.req)) &&
      (st === Status.DONE || st === Status.ERROR || st === Status.WAIT)
    );
  }

  private checkOpen(op: string): void {
    if (this.closed) throw new VirtFunError('CHANNEL_CLOSED', `${op}: the client is closed`);
  }

  private ready(op: string): void {
    this.checkOpen(op);
    if (this.brokenSeq !== NONE) {
      throw new VirtFunError('CHANNEL_TIMEOUT', `${op}: the channel is unusable (${this.brokenReason}); call rst() or resync() first`);
    }
    if (this.pendingSet !== NONE) {
      throw new ValidationError(op, `set() seq ${this.pendingSet} is pending; collect it with get() first`);
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

  private copyOut(len: number, out: Uint8Array): number {
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

  private roundTrip(cmd: number, input: Uint8Array): number {
    this.send(cmd, input);
    return this.answer(this.seqNo, cmd);
  }

  private send(cmd: number, input: Uint8Array): void {
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
    if (Atomics.load(this.in.i32, I32.serviceSleeping) === 1) this.ops.notify(out.i32, I32.req);
  }

  /**
   * Liveness, checked about every wait slice while a call waits: the service
   * publishes its pid in datain; if that process is gone, no answer will come.
   */
  private checkServiceAlive(): void {
    const pid = this.in.dv.getUint32(IN.pid, true);
    if (pid === 0 || pid === process.pid || processAlive(pid)) return;
    this.brokenSeq = this.seqNo;
    this.brokenReason = `the service process ${pid} is gone`;
    throw new VirtFunError('CHANNEL_CLOSED', `the service process ${pid} is gone: seq ${this.seqNo} will never be answered (ask vFunD for a new instance)`);
  }

  /** vFunD wrote the tombstone (the instance is over: released, or its service process died). */
  private tombstone(seq: number): never {
    this.brokenSeq = seq;
    this.brokenReason = 'vFunD closed this instance (released, or its service died)';
    throw new VirtFunError('CHANNEL_CLOSED', `${this.brokenReason}: seq ${seq} will never be answered (ask vFunD for a new instance)`);
  }

  private seenBeat = -1;
  private seenState = -1;
  private aliveAt = 0;

  /** Liveness without pids (a guest in a VM): the service's heartbeat or state word must move. */
  private checkHeartbeat(): void {
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

  /** Wait for the answer to `seq`; returns the validated result length or throws ServiceError. */
  private answer(seq: number, cmd: number): number {
    const done = packWord(seq, Status.DONE);
    const error = packWord(seq, Status.ERROR);
    const i32 = this.in.i32;
    let w = Atomics.load(i32, I32.state);
    if (wordLow4(w) === Status.CLOSED) this.tombstone(seq);
    if (w !== done && w !== error) {
      const start = performance.now();
      const deadline = start + this.timeoutMs;
      const waiter = this.waiter;
      for (;;) {
        if (waiter.waitChange(i32, I32.state, w, this.out.i32, I32.clientSleeping, deadline)) {
          w = waiter.word;
          if (w === done || w === error) break; // anything else (BUSY, stale seq, garbage) is not our answer
          if (wordLow4(w) === Status.CLOSED) this.tombstone(seq);
        } else {
          const now = performance.now();
          if (now >= deadline) {
            const waited = Math.round(now - start);
            this.brokenSeq = seq;
            this.brokenReason = `${COMMAND_NAMES[cmd] ?? cmd} seq ${seq} timed out after ${waited} ms`;
            throw new VirtFunError(
              'CHANNEL_TIMEOUT',
              `no answer to ${COMMAND_NAMES[cmd] ?? cmd} seq ${seq} after ${waited} ms (state word ${describeState(Atomics.load(i32, I32.state))}); the client is unusable until rst()`,
            );
          }
          w = Atomics.load(i32, I32.state);
          if (w === done || w === error) break;
          if (wordLow4(w) === Status.CLOSED) this.tombstone(seq);
        }
      }
    }
    // Acquire: the state word was stored last, so len/error/payload are complete.
    const dv = this.in.dv;
    const len = dv.getUint32(IN.len, true);
    if (len > this.capacity) {
      throw new VirtFunError('CHANNEL_PROTOCOL', `datain.len is ${len} for seq ${seq}, beyond the capacity of ${this.capacity} bytes`);
    }
    if (w === done) return len;
    const code = dv.getUint32(IN.error, true);
    if (code === ErrorCode.NONE || ERROR_NAMES[code] === undefined) {
      throw new VirtFunError('CHANNEL_PROTOCOL', `datain.error is ${code} for ERROR seq ${seq}, not a known error code`);
    }
    throw new ServiceError(code, seq, decoder.decode(this.inPayload.subarray(0, len)));
  }
}

const EMPTY = new Uint8Array(0);

function describeState(word: number): string {
  const st = wordLow4(word);
  const name = Object.entries(Status).find(([, v]) => v === st)?.[0] ?? `status ${st}`;
  return `seq ${wordSeq(word)} ${name}`;
}
