/**
 * The service end of the channel (paper §3.3: the service runs the driver on
 * behalf of the guest). Backend-independent: it works on the two areas'
 * views, a WaitOps and a control word vFunD owns (the stop flag), so the same
 * loop serves SharedArrayBuffer regions in a worker thread and mapped files.
 *
 * Nothing in dataout is trusted after start: the service keeps its own
 * capacity, seq and last-seen request word; it reads dataout.len once per
 * request and validates seq, command and length before touching the driver.
 * A bad request gets ERROR + code, is counted, and never stops the loop.
 */
import { DriverInputError, type FunctionDriver } from '../drivers/driver.js';
import { ValidationError } from '../errors.js';
import { Command, ErrorCode, IN, OUT, nextSeq, packWord, Status, wordLow4, wordSeq } from './layout.js';
import { checkHeader, ERROR_COUNTERS, I32, payloadView, type AreaViews, type ChannelAreas } from './region.js';
import { Waiter, type WaitStrategy } from './wait.js';
import { BOUNDS_NS, BUCKETS, bucketOf, type LatencyHistogram } from './latency-histogram.js';

/**
 * The name of a datain error code other than NONE (`BAD_LENGTH`, `DRIVER_FAULT`…): how service counters name errors.
 */
export type ErrorName = Exclude<keyof typeof ErrorCode, 'NONE'>;
export const ERROR_NAME_LIST: readonly ErrorName[] = (Object.keys(ErrorCode) as (keyof typeof ErrorCode)[]).filter(
  (k): k is ErrorName => k !== 'NONE',
);

/** The counters a service publishes in datain: requests answered, and ERROR answers by code (each mod 2^32). */
export interface ServiceStats {
  /** Requests answered (DONE or ERROR). */
  readonly calls: number;
  /** ERROR answers by code. */
  readonly errors: Record<ErrorName, number>;
}

/**
 * The control area vFunD owns (never mapped by the client): i32 words. The
 * service keeps vFunD's copy of what it must be able to trust here (whether a
 * call is in progress, the counters), because a guest can write datain where
 * a window maps it writable for the guest (docs/region-format.md §13.3).
 */
export const CONTROL = {
  /** Non-zero: the service finishes the request in hand and leaves its loop. */
  stop: 0,
  /** seq + 1 of the request (SET or RST) the driver is computing, 0 when none: what the watchdog times. */
  busy: 1,
  /** Requests answered. */
  calls: 2,
  /** u32[8] error counters indexed by ErrorCode, as in datain. */
  errorCounts: 3,
  /** f64 at byte 64 (words 16-17): the sum of the timed calls' service times, in ns. */
  latencySumNs: 16,
  /** u32[BUCKETS] (words 18..65): timed calls per latency bucket (latency-histogram.ts), +Inf last. */
  latencyCounts: 18,
} as const;
/** The counters' part of the control area (stop, busy, calls, errors): what a control file held before the histogram. */
export const CONTROL_COUNTER_BYTES = 64;
/** The whole control area: the counters, then the latency histogram (66 words), padded to a multiple of 64. */
export const CONTROL_BYTES = 320;

/** Options of a ChannelService's loop: wait strategy, slice, and whether it resumes a predecessor's region. */
export interface ServiceLoopOptions {
  /** How the loop waits for requests (default DEFAULT_STRATEGY). */
  readonly strategy?: WaitStrategy;
  /** Spin budget of the `hybrid` strategy, µs (default DEFAULT_SPIN_MICROS). */
  readonly spinMicros?: number;
  /** Longest sleep between two looks at the stop flag and two heartbeats, in ms (default 250). */
  readonly sliceMs?: number;
  /**
   * Take over a region another service served (a restart after a crash):
   * continue from the request word and the counters published in datain, and
   * answer a request left unanswered with DRIVER_FAULT, so its client gets an
   * error instead of waiting forever.
   */
  readonly resume?: boolean;
}

/** How often a `spin` service looks at the stop flag, in ms. */
const SPIN_STOP_CHECK_MS = 5;

/** Longest error message written into the datain payload, in bytes. */
export const MAX_ERROR_MESSAGE = 256;

const encoder = new TextEncoder();

/** Read the counters a service publishes in datain. */
export function readStats(datain: AreaViews): ServiceStats {
  const i32 = datain.i32;
  const errors = {} as Record<ErrorName, number>;
  for (const name of ERROR_NAME_LIST) errors[name] = Atomics.load(i32, I32.errorCounts + ErrorCode[name]) >>> 0;
  return { calls: Atomics.load(i32, I32.calls) >>> 0, errors };
}

/**
 * The latency histogram a service keeps in vFunD's control area: each call it
 * answered, timed from the request word seen to the answer published. A call
 * answered by a restarted service for its predecessor (DRIVER_FAULT) is
 * counted in `calls` but not timed. The counts may lag `calls` by the call in hand.
 */
export function readControlLatency(control: Int32Array): LatencyHistogram {
  const counts = new Array<number>(BUCKETS);
  for (let i = 0; i < BUCKETS; i++) counts[i] = control[CONTROL.latencyCounts + i]! >>> 0;
  const sumNs = new Float64Array(control.buffer, control.byteOffset + CONTROL.latencySumNs * 4, 1)[0]!;
  return { boundsNs: BOUNDS_NS, counts, sumNs };
}

/** The counters a service keeps in vFunD's control area (authoritative: no guest can write them). */
export function readControlStats(control: Int32Array): ServiceStats {
  const errors = {} as Record<ErrorName, number>;
  for (const name of ERROR_NAME_LIST) errors[name] = Atomics.load(control, CONTROL.errorCounts + ErrorCode[name]) >>> 0;
  return { calls: Atomics.load(control, CONTROL.calls) >>> 0, errors };
}

/**
 * The service loop of one region (see the module's comment): waits for each request word the client writes,
 * validates it, runs the driver and publishes the answer and counters in datain. Runs until vFunD sets the
 * stop flag in its control area; a bad request is answered with ERROR and counted, never thrown.
 */
export class ChannelService {
  readonly capacity: number;
  private readonly out: AreaViews;
  private readonly in: AreaViews;
  private readonly ops: ChannelAreas['ops'];
  private readonly outPayload: Uint8Array;
  private readonly inPayload: Uint8Array;
  private readonly waiter: Waiter;
  private readonly sliceMs: number;
  private lastWord = 0;
  private lastSeq = 0;
  private hasResult = false;
  private resultLen = 0;
  private calls = 0;
  private readonly errorCounts = new Uint32Array(ERROR_COUNTERS);
  private inputView: Uint8Array;
  private beat = 0;
  /** performance.now() when the request in hand was seen (NaN: none, e.g. answering for a predecessor). */
  private seenAt = Number.NaN;
  /** performance.now() just after the last answer was published: the loop's next reading of the clock. */
  private answeredAt = 0;
  /** The driver's per-call trace hook, if it has one (FunctionDriver.traced). */
  private readonly traced: ((seenMs: number, answeredMs: number) => void) | undefined;
  /** The answer in hand is to a SET the driver computed: the trace hook gets it. */
  private traceThis = false;
  /** The control area's latency sum (f64), a view over the same words. */
  private readonly latencySum: Float64Array;

  /**
   * @param capacity vFunD's own record of the payload capacity; both headers must agree with it.
   * @param control vFunD's control words (CONTROL), not reachable by the client.
   */
  constructor(
    areas: ChannelAreas,
    capacity: number,
    private readonly driver: FunctionDriver,
    private readonly control: Int32Array,
    options: ServiceLoopOptions = {},
  ) {
    checkHeader(areas.dataout, 'dataout', capacity);
    checkHeader(areas.datain, 'datain', capacity);
    this.capacity = capacity;
    this.out = areas.dataout;
    this.in = areas.datain;
    this.ops = areas.ops;
    this.outPayload = payloadView(areas.dataout, capacity);
    this.inPayload = payloadView(areas.datain, capacity);
    this.inputView = this.outPayload.subarray(0, 0);
    this.traced = driver.traced?.bind(driver);
    this.sliceMs = options.sliceMs ?? 250;
    this.waiter = new Waiter(areas.ops, {
      ...(options.strategy !== undefined && { strategy: options.strategy }),
      ...(options.spinMicros !== undefined && { spinMicros: options.spinMicros }),
      sliceMs: this.sliceMs,
    });
    this.in.dv.setUint32(IN.pid, typeof process === 'object' ? process.pid >>> 0 : 0, true);
    if (control.length * 4 < CONTROL_BYTES) throw new ValidationError('control', `${control.length * 4} bytes, at least ${CONTROL_BYTES}`);
    this.latencySum = new Float64Array(control.buffer, control.byteOffset + CONTROL.latencySumNs * 4, 1);
    if (options.resume) this.resume();
  }

  private resume(): void {
    // Counters from vFunD's control area, never from datain: a guest may have written those.
    const kept = readControlStats(this.control);
    this.calls = kept.calls;
    for (const name of ERROR_NAME_LIST) this.errorCounts[ErrorCode[name]] = kept.errors[name];
    Atomics.store(this.control, CONTROL.busy, 0);
    const req = Atomics.load(this.out.i32, I32.req);
    this.lastWord = req;
    this.lastSeq = wordSeq(req);
    const state = Atomics.load(this.in.i32, I32.state);
    // A fresh region (req 0, WAIT seq 0) counts as answered; any other word must have its answer
    // published, even a 0 a client wrote while no service ran, or the channel stays out of sync.
    const answered = wordSeq(state) === this.lastSeq && wordLow4(state) !== Status.BUSY;
    if (!answered) this.fail(this.lastSeq, ErrorCode.DRIVER_FAULT, 'the service restarted during this call (driver crash or deadline); call again');
  }

  /** The service's own counters (authoritative; datain holds a published copy). */
  stats(): ServiceStats {
    const errors = {} as Record<ErrorName, number>;
    for (const name of ERROR_NAME_LIST) errors[name] = this.errorCounts[ErrorCode[name]]!;
    return { calls: this.calls, errors };
  }

  /** Serve requests until the stop flag is set. Only async drivers make it yield. */
  async run(): Promise<void> {
    const outI32 = this.out.i32;
    const inI32 = this.in.i32;
    const waiter = this.waiter;
    const beatMs = this.sliceMs;
    // A spinning service does not hear the stop wake-up: it looks at the stop flag every few ms.
    const slice = this.waiter.strategy === 'spin' ? Math.min(this.sliceMs, SPIN_STOP_CHECK_MS) : this.sliceMs;
    let nextBeat = 0;
    let now = performance.now();
    while (Atomics.load(this.control, CONTROL.stop) === 0) {
      // Heartbeat at most once per slice: it shares a cache line with serviceSleeping, which the
      // client reads on every request, so beating on every request would cost every round trip.
      if (now >= nextBeat) {
        this.heartbeat();
        nextBeat = now + beatMs;
      }
      const changed = waiter.waitChange(outI32, I32.req, this.lastWord, inI32, I32.serviceSleeping, now + slice, now);
      if (!changed) {
        now = performance.now();
        continue; // slice over, or woken to look at the stop flag
      }
      this.seenAt = performance.now();
      this.lastWord = waiter.word;
      const pending = this.handle(waiter.word);
      if (pending !== undefined) await pending;
      // Every request is answered by now; the answer's clock reading serves the next iteration.
      now = this.answeredAt;
    }
  }

  private heartbeat(): void {
    this.beat = (this.beat + 1) | 0;
    Atomics.store(this.in.i32, I32.serviceHeartbeat, this.beat);
  }

  /** One request word. Returns a promise only when an async driver is in flight. */
  private handle(word: number): Promise<void> | undefined {
    const seq = wordSeq(word);
    const cmd = wordLow4(word);
    const expected = nextSeq(this.lastSeq);
    this.lastSeq = seq; // resync: the next well-formed request follows this one
    if (seq !== expected) {
      this.fail(seq, ErrorCode.BAD_SEQ, `request seq ${seq}, expected ${expected}`);
      return undefined;
    }
    if (cmd !== Command.SET && cmd !== Command.GET && cmd !== Command.RST) {
      this.fail(seq, ErrorCode.BAD_COMMAND, `command ${cmd} is not set (1), get (2) or rst (3)`);
      return undefined;
    }
    const len = this.out.dv.getUint32(OUT.len, true); // read once: the client may change it under us
    if (len > this.capacity) {
      this.fail(seq, ErrorCode.BAD_LENGTH, `dataout.len ${len} exceeds the capacity of ${this.capacity} bytes`);
      return undefined;
    }
    switch (cmd) {
      case Command.SET:
        return this.set(seq, len);
      case Command.GET:
        if (this.hasResult) this.answer(seq, Status.DONE, ErrorCode.NONE, this.resultLen);
        else this.fail(seq, ErrorCode.NO_RESULT, 'no result: no successful set since start or the last rst');
        return undefined;
      default:
        return this.rst(seq);
    }
  }

  private set(seq: number, len: number): Promise<void> | undefined {
    this.control[CONTROL.busy] = seq + 1;
    // A plain store (aligned, so single-copy atomic): no fence, so the service does not stall here
    // until it owns the line the client is spinning on; DONE, stored later with a fence, follows it.
    this.in.i32[I32.state] = packWord(seq, Status.BUSY);
    this.hasResult = false; // the driver writes into the result area from here on
    if (this.inputView.byteLength !== len) this.inputView = this.outPayload.subarray(0, len);
    this.traceThis = this.traced !== undefined;
    let r: number | Promise<number>;
    try {
      r = this.driver.call(this.inputView, this.inPayload);
    } catch (e) {
      this.driverFailed(seq, e);
      return undefined;
    }
    if (typeof r === 'number') {
      this.finishSet(seq, r);
      return undefined;
    }
    return Promise.resolve(r).then(
      (n) => this.finishSet(seq, n),
      (e: unknown) => this.driverFailed(seq, e),
    );
  }

  private finishSet(seq: number, n: unknown): void {
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > this.capacity) {
      this.fail(seq, ErrorCode.DRIVER_FAULT, `driver returned result length ${String(n)}, expected an integer in 0..${this.capacity}`);
      return;
    }
    this.hasResult = true;
    this.resultLen = n;
    this.answer(seq, Status.DONE, ErrorCode.NONE, n);
  }

  /**
   * RST is computed like SET: BUSY for its seq (a guest watching the heartbeat keeps waiting
   * through a long reset, a bitstream reload) and vFunD's busy word set (its watchdog bounds a
   * reset that hangs, as it bounds a call).
   */
  private rst(seq: number): Promise<void> | undefined {
    Atomics.store(this.control, CONTROL.busy, seq + 1);
    Atomics.store(this.in.i32, I32.state, packWord(seq, Status.BUSY));
    this.hasResult = false;
    let r: void | Promise<void>;
    try {
      r = this.driver.reset();
    } catch (e) {
      this.driverFailed(seq, e);
      return undefined;
    }
    if (r === undefined) {
      this.answer(seq, Status.DONE, ErrorCode.NONE, 0);
      return undefined;
    }
    return Promise.resolve(r).then(
      () => this.answer(seq, Status.DONE, ErrorCode.NONE, 0),
      (e: unknown) => this.driverFailed(seq, e),
    );
  }

  private driverFailed(seq: number, e: unknown): void {
    if (e instanceof DriverInputError) {
      this.fail(seq, ErrorCode.BAD_INPUT, e.message);
    } else {
      const msg = e instanceof Error ? `${e.name}: ${e.message}` : `driver threw ${String(e)}`;
      this.fail(seq, ErrorCode.DRIVER_FAULT, msg);
    }
  }

  /** ERROR answer with a short UTF-8 message in the payload. Any error forgets the last result. */
  private fail(seq: number, code: number, message: string): void {
    this.hasResult = false;
    const room = this.capacity < MAX_ERROR_MESSAGE ? this.capacity : MAX_ERROR_MESSAGE;
    const { written } = encoder.encodeInto(message, this.inPayload.subarray(0, room));
    this.answer(seq, Status.ERROR, code, written);
  }

  /** Publish an answer: error, len (payload already written), counters, then the state word last. */
  private answer(seq: number, status: number, code: number, len: number): void {
    const dv = this.in.dv;
    dv.setUint32(IN.error, code, true);
    dv.setUint32(IN.len, len, true);
    // Error counter before the call counter: whoever sees `calls` grow sees its error counted.
    if (code !== ErrorCode.NONE) {
      const c = (this.errorCounts[code]! + 1) >>> 0;
      this.errorCounts[code] = c;
      Atomics.store(this.in.i32, I32.errorCounts + code, c | 0);
      Atomics.store(this.control, CONTROL.errorCounts + code, c | 0);
    }
    // Plain stores (no fence each): the state word's sequentially consistent store below publishes them.
    this.calls = (this.calls + 1) >>> 0;
    this.control[CONTROL.calls] = this.calls | 0;
    this.in.i32[I32.calls] = this.calls | 0;
    this.control[CONTROL.busy] = 0;
    Atomics.store(this.in.i32, I32.state, packWord(seq, status));
    if (Atomics.load(this.out.i32, I32.clientSleeping) === 1) this.ops.notify(this.in.i32, I32.state);
    // Timed after the answer is out (the client does not wait for this): plain stores, only the service writes them.
    const t = performance.now();
    this.answeredAt = t;
    const seenAt = this.seenAt;
    const traceThis = this.traceThis;
    this.traceThis = false;
    if (!Number.isNaN(seenAt)) {
      this.seenAt = Number.NaN;
      const ns = (t - seenAt) * 1e6;
      const i = CONTROL.latencyCounts + bucketOf(ns);
      this.control[i] = (this.control[i]! + 1) | 0;
      this.latencySum[0] = this.latencySum[0]! + ns;
      if (traceThis) this.traced!(seenAt, t);
    }
  }
}
