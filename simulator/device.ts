/**
 * A simulated reconfigurable accelerator: N slots, each holding at most one
 * function's bitstream and one holder at a time. The device is an actor:
 * every command and every timer goes through one mailbox and is handled to
 * completion before the next, so its state changes in one well-defined order
 * (the `timeline`). With a `VirtualClock` and a seed, that order, and every
 * time in it, is a function of the commands alone.
 *
 * Results are exact (the software kernel computes them when a call is
 * accepted); only time is simulated: see model.ts for the formulas.
 *
 * Invariants (checked by test/simulator/device.model.spec.ts):
 * - a slot is never held by two handles; load('auto') only takes free slots;
 * - every accepted call ends (done or error) no later than its deadline;
 * - a call takes at least the profile's jitter-free cost (jitter is ≥ 0);
 * - calls on one slot run one at a time, in acceptance order;
 * - after `release` the slot is free, with nothing queued or running.
 */
import { DriverInputError } from '../src/drivers/driver.js';
import type { SimClock, TimerHandle } from './clock.js';
import {
  BadDeadlineError,
  DeviceClosedError,
  DeviceResetError,
  DeviceTimeoutError,
  LoadFailedError,
  NoFreeSlotError,
  NotLoadedError,
  SimDeviceError,
  SlotBusyError,
  SlotRangeError,
  SlotReleasedError,
  StaleHandleError,
  UnknownFunctionError,
} from './errors.js';
import { FaultPlan, type FaultKind, type FaultSpec } from './faults.js';
import { kernelSpec } from './kernels.js';
import type {
  CallOptions,
  CallResult,
  DeviceCapacity,
  DeviceEvent,
  DeviceEventKind,
  DeviceListener,
  EventDetail,
  SlotHandle,
  SlotInfo,
  SlotRef,
  SlotState,
} from './device-types.js';
import { callCost, ceilNs, drawJitterNs, loadCostNs } from './model.js';
import { functionProfile, type DeviceProfile, type FunctionProfile } from './profile.js';
import { createRng, type Rng } from './rng.js';

export interface SimDeviceOptions {
  readonly profile: DeviceProfile;
  readonly clock: SimClock;
  /** Seed of the jitter and fault draws. */
  readonly seed: number;
  /** Deadline of a call that gives none, in µs of device time (default 1 s). */
  readonly defaultDeadlineMicros?: number;
  /** Keep every event in `timeline` (default true; turn off for long real-time runs). */
  readonly recordTimeline?: boolean;
}

interface PendingLoad {
  readonly handle: SlotHandle;
  readonly reload: boolean;
  readonly timer: TimerHandle;
  readonly failed: boolean;
  readonly resolve: (h: SlotHandle) => void;
  readonly reject: (e: unknown) => void;
}

interface CallJob {
  readonly id: string;
  readonly slot: number;
  readonly fn: string;
  readonly inBytes: number;
  readonly bytes: number;
  readonly work: number;
  readonly scratch: Uint8Array;
  readonly output: Uint8Array;
  readonly acceptedAt: number;
  readonly deadline: number;
  startedAt: number;
  deadlineTimer: TimerHandle | null;
  doneTimer: TimerHandle | null;
  wrong: boolean;
  readonly resolve: (r: CallResult) => void;
  readonly reject: (e: unknown) => void;
}

interface Slot {
  readonly index: number;
  state: SlotState;
  holder: SlotHandle | null;
  fn: string | null;
  load: PendingLoad | null;
  queue: CallJob[];
  running: CallJob | null;
}

const JITTER_STREAM = 1;
const FAULT_STREAM = 2;

export type {
  CallOptions,
  CallResult,
  DeviceCapacity,
  DeviceEvent,
  DeviceEventKind,
  DeviceListener,
  EventDetail,
  SlotHandle,
  SlotInfo,
  SlotRef,
  SlotState,
} from './device-types.js';

export class SimDevice {
  readonly profile: DeviceProfile;
  readonly clock: SimClock;
  readonly seed: number;
  /** Every event so far, in order (empty when `recordTimeline` is false). */
  readonly timeline: DeviceEvent[] = [];

  private readonly slots: Slot[];
  private readonly jitterRng: Rng;
  private readonly faultRng: Rng;
  private readonly faults = new FaultPlan();
  private readonly resetTimers = new Map<string, TimerHandle>();
  private readonly listeners = new Set<DeviceListener>();
  private readonly record: boolean;
  private readonly defaultDeadlineMicros: number;
  private readonly mailbox: (() => void)[] = [];
  private draining = false;
  private closed = false;
  private seq = 0;
  private handleSeq = 0;
  private callSeq = 0;

  constructor(options: SimDeviceOptions) {
    this.profile = options.profile;
    this.clock = options.clock;
    this.seed = options.seed;
    this.record = options.recordTimeline ?? true;
    this.defaultDeadlineMicros = options.defaultDeadlineMicros ?? 1_000_000;
    checkDeadline(this.defaultDeadlineMicros);
    this.jitterRng = createRng(options.seed, JITTER_STREAM);
    this.faultRng = createRng(options.seed, FAULT_STREAM);
    this.slots = Array.from({ length: this.profile.slots }, (_, index) => ({
      index,
      state: 'free' as SlotState,
      holder: null,
      fn: null,
      load: null,
      queue: [],
      running: null,
    }));
    const base = this.profile.faults ?? {};
    const fromProfile: [FaultKind, number | undefined][] = [
      ['load-failure', base.loadFailure],
      ['hang', base.hang],
      ['wrong-result', base.wrongResult],
      ['reset', base.reset],
    ];
    for (const [kind, p] of fromProfile) if (p !== undefined && p > 0) this.faults.add({ kind, probability: p });
  }

  // ---- queries (synchronous reads of the current state) ----

  /** Indices of the slots nobody holds. */
  freeSlots(): number[] {
    return this.slots.filter((s) => s.state === 'free').map((s) => s.index);
  }

  capacity(): DeviceCapacity {
    return {
      slots: this.slots.length,
      free: this.slots.filter((s) => s.state === 'free').length,
      loaded: this.slots.map((s) => (s.state === 'ready' ? s.fn : null)),
    };
  }

  inspect(slot: number): SlotInfo {
    const s = this.slotAt(slot);
    return {
      slot: s.index,
      state: s.state,
      fn: s.fn,
      holder: s.holder?.id ?? null,
      queued: s.queue.length,
      running: s.running?.id ?? null,
    };
  }

  /** Functions of the profile. */
  functions(): string[] {
    return Object.keys(this.profile.functions);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Subscribe to every event as it happens (to journal them); returns the unsubscribe function. */
  onEvent(listener: DeviceListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- commands ----

  /**
   * Reserve a slot (`'auto'`: the lowest free one) and load `fn`'s bitstream
   * into it. The slot is held from this moment; the handle comes after the
   * load time. Rejects with NoFreeSlotError, SlotBusyError, UnknownFunctionError,
   * LoadFailedError (fault), DeviceResetError, SlotReleasedError.
   */
  load(slot: number | 'auto', fn: string): Promise<SlotHandle> {
    return this.command<SlotHandle>('load', (resolve, reject) => {
      const fp = this.functionOf(fn);
      let s: Slot;
      if (slot === 'auto') {
        const free = this.slots.find((x) => x.state === 'free');
        if (free === undefined) throw new NoFreeSlotError(this.slots.length);
        s = free;
      } else {
        s = this.slotAt(slot);
        if (s.state !== 'free') throw new SlotBusyError(s.index);
      }
      const handle: SlotHandle = Object.freeze({ id: `h${++this.handleSeq}`, slot: s.index, fn, kernel: fp.kernel });
      s.state = 'loading';
      s.holder = handle;
      s.fn = fn;
      this.startLoad(s, handle, fp, false, resolve, reject);
    });
  }

  /**
   * Load the holder's bitstream again (after a device reset left the slot
   * `unloaded`, or to re-program an idle `ready` slot). The slot stays held;
   * if the reload fails it is `unloaded`.
   */
  reload(handle: SlotHandle): Promise<SlotHandle> {
    return this.command<SlotHandle>('reload', (resolve, reject) => {
      const s = this.resolveRef(handle);
      if (s.state === 'loading') throw new SlotBusyError(s.index, `slot ${s.index} is already loading`);
      if (s.running !== null || s.queue.length > 0) {
        throw new SlotBusyError(s.index, `slot ${s.index} has calls in flight`);
      }
      const fp = this.functionOf(handle.fn);
      s.state = 'loading';
      this.startLoad(s, handle, fp, true, resolve, reject);
    });
  }

  /**
   * Give the slot back: a pending load and every queued or running call fail
   * with SlotReleasedError, and the slot is free at once. Releasing a free
   * slot by number does nothing; a handle that no longer holds its slot is refused.
   */
  release(ref: SlotRef): Promise<void> {
    return this.command<void>('release', (resolve) => {
      const s = this.resolveRef(ref);
      if (s.state === 'free') return resolve();
      const holder = s.holder;
      const fn = s.fn;
      const load = s.load;
      if (load !== null) {
        load.timer.cancel();
        s.load = null;
        this.emit('load-failed', s.index, fn, { handle: load.handle.id, code: 'RELEASED' });
        load.reject(new SlotReleasedError(s.index, 'the load'));
      }
      this.failJobs(s, 'RELEASED', (job) => new SlotReleasedError(s.index, `call ${job.id}`));
      this.free(s);
      this.emit('release', s.index, fn, { handle: holder?.id ?? null });
      resolve();
    });
  }

  /**
   * Run `fn` on the slot: the result is computed now (exactly, by the
   * software kernel) and written into `output` when the simulated call
   * completes; calls on one slot run one at a time, in order. Refused at
   * once (DriverInputError, NotLoadedError, StaleHandleError, ...) or
   * accepted; an accepted call ends by its deadline: done, or
   * DeviceTimeoutError, DeviceResetError, SlotReleasedError.
   */
  call(ref: SlotRef, input: Uint8Array, output: Uint8Array, options: CallOptions = {}): Promise<CallResult> {
    return this.command<CallResult>('call', (resolve, reject) => {
      // read first: in real time, computing the result overlaps the simulated duration
      const now = this.clock.now();
      const s = this.resolveRef(ref);
      if (s.state !== 'ready' || s.fn === null) throw new NotLoadedError(s.index, s.state);
      const deadlineMicros = options.deadlineMicros ?? this.defaultDeadlineMicros;
      checkDeadline(deadlineMicros);
      const fn = s.fn;
      const spec = kernelSpec(this.functionOf(fn).kernel);
      const scratch = new Uint8Array(spec.meta.maxOutputBytes);
      const bytes = spec.compute(input, scratch);
      if (output.byteLength < bytes) {
        throw new DriverInputError(`${fn}: output buffer is ${output.byteLength} bytes, needs ${bytes}`);
      }
      const job: CallJob = {
        id: `c${++this.callSeq}`,
        slot: s.index,
        fn,
        inBytes: input.byteLength,
        bytes,
        work: spec.work(input),
        scratch,
        output,
        acceptedAt: now,
        deadline: now + ceilNs(deadlineMicros * 1_000),
        startedAt: -1,
        deadlineTimer: null,
        doneTimer: null,
        wrong: false,
        resolve,
        reject,
      };
      this.emit('call-accepted', s.index, fn, {
        call: job.id,
        handle: s.holder?.id ?? null,
        inBytes: job.inBytes,
        deadline: job.deadline,
      });
      job.deadlineTimer = this.clock.schedule(job.deadline, () => this.post(() => this.expire(job)));
      s.queue.push(job);
      this.startNext(s);
    });
  }

  /** Reset the device now: every slot loses its bitstream (holders keep their slots, `unloaded`). */
  reset(): Promise<void> {
    return this.command<void>('reset', (resolve) => {
      this.doReset('api', null);
      resolve();
    });
  }

  /** Add a fault to the plan (see faults.ts); returns its id for `removeFault`. */
  injectFault(spec: FaultSpec): string {
    if (this.closed) throw new DeviceClosedError();
    if (spec.kind === 'reset' && spec.probability === undefined) {
      const id = this.faults.newId();
      if (spec.at === undefined) {
        this.post(() => {
          if (!this.closed) this.doReset('injected', id);
        });
        return id;
      }
      const timer = this.clock.schedule(spec.at, () =>
        this.post(() => {
          if (this.resetTimers.delete(id)) this.doReset('injected', id);
        }),
      );
      this.resetTimers.set(id, timer);
      return id;
    }
    return this.faults.add(spec).id;
  }

  removeFault(id: string): boolean {
    const timer = this.resetTimers.get(id);
    if (timer !== undefined) {
      timer.cancel();
      this.resetTimers.delete(id);
      return true;
    }
    return this.faults.remove(id);
  }

  /** Drop every fault rule and scheduled reset (the profile's probabilities too). */
  clearFaults(): void {
    for (const t of this.resetTimers.values()) t.cancel();
    this.resetTimers.clear();
    this.faults.clear();
  }

  /** Fail everything pending with DeviceClosedError, free every slot, cancel every timer. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) =>
      this.post(() => {
        if (this.closed) return resolve();
        this.clearFaults();
        for (const s of this.slots) {
          const load = s.load;
          if (load !== null) {
            load.timer.cancel();
            s.load = null;
            this.emit('load-failed', s.index, s.fn, { handle: load.handle.id, code: 'CLOSED' });
            load.reject(new DeviceClosedError(s.index));
          }
          this.failJobs(s, 'CLOSED', () => new DeviceClosedError(s.index));
          this.free(s);
        }
        this.closed = true;
        this.emit('closed', null, null, {});
        resolve();
      }),
    );
  }

  // ---- the actor ----

  /** Enqueue a message; handle the mailbox to empty unless already doing so (re-entrant sends queue up). */
  private post(work: () => void): void {
    this.mailbox.push(work);
    if (this.draining) return;
    this.draining = true;
    try {
      for (let w = this.mailbox.shift(); w !== undefined; w = this.mailbox.shift()) w();
    } finally {
      this.draining = false;
    }
  }

  /** A public command: its handler runs in the mailbox; a throw rejects (and is journaled as `rejected`). */
  private command<T>(op: string, handler: (resolve: (v: T) => void, reject: (e: unknown) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      this.post(() => {
        try {
          if (this.closed) throw new DeviceClosedError();
          handler(resolve, reject);
        } catch (e) {
          const code = e instanceof SimDeviceError ? e.deviceCode : e instanceof DriverInputError ? 'BAD_INPUT' : 'ERROR';
          this.emit('rejected', null, null, { op, code });
          reject(e);
        }
      }),
    );
  }

  private emit(kind: DeviceEventKind, slot: number | null, fn: string | null, detail: EventDetail): void {
    const event: DeviceEvent = { seq: ++this.seq, t: this.clock.now(), kind, slot, fn, detail };
    if (this.record) this.timeline.push(event);
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (e) {
        queueMicrotask(() => {
          throw e; // a listener's bug surfaces, without corrupting the device state
        });
      }
    }
  }

  // ---- handlers ----

  private startLoad(
    s: Slot,
    handle: SlotHandle,
    fp: FunctionProfile,
    reload: boolean,
    resolve: (h: SlotHandle) => void,
    reject: (e: unknown) => void,
  ): void {
    const now = this.clock.now();
    const baseNs = loadCostNs(fp);
    const jitterNs = drawJitterNs(baseNs, fp.jitter, this.jitterRng);
    const fault = this.faults.fire('load-failure', { slot: s.index, fn: handle.fn, now }, this.faultRng);
    const endsAt = now + baseNs + jitterNs;
    this.emit('load-start', s.index, handle.fn, { handle: handle.id, reload, baseNs, jitterNs, endsAt });
    if (fault !== null) this.emit('fault', s.index, handle.fn, { fault: 'load-failure', rule: fault.id, handle: handle.id });
    const timer = this.clock.schedule(endsAt, () =>
      this.post(() => {
        if (s.load === load) this.finishLoad(s, load);
      }),
    );
    const load: PendingLoad = { handle, reload, timer, failed: fault !== null, resolve, reject };
    s.load = load;
  }

  private finishLoad(s: Slot, load: PendingLoad): void {
    s.load = null;
    if (load.failed) {
      if (load.reload) s.state = 'unloaded';
      else this.free(s);
      this.emit('load-failed', s.index, load.handle.fn, { handle: load.handle.id, code: 'LOAD_FAILED' });
      load.reject(new LoadFailedError(s.index, load.handle.fn));
    } else {
      s.state = 'ready';
      this.emit('load-done', s.index, load.handle.fn, { handle: load.handle.id });
      load.resolve(load.handle);
    }
  }

  /** Start the next queued call if the slot is idle. */
  private startNext(s: Slot): void {
    if (s.running !== null) return;
    const job = s.queue.shift();
    if (job === undefined) return;
    const fp = this.functionOf(job.fn);
    const now = this.clock.now();
    job.startedAt = now;
    s.running = job;
    const cost = callCost(fp, job.inBytes, job.bytes, job.work);
    const jitterNs = drawJitterNs(cost.totalNs, fp.jitter, this.jitterRng);
    const duration = cost.totalNs + jitterNs;
    const target = { slot: s.index, fn: job.fn, now };
    const hang = this.faults.fire('hang', target, this.faultRng);
    const wrong = hang === null ? this.faults.fire('wrong-result', target, this.faultRng) : null;
    const reset = this.faults.fire('reset', target, this.faultRng);
    this.emit('call-start', s.index, job.fn, {
      call: job.id,
      baseNs: cost.totalNs,
      jitterNs,
      endsAt: hang === null ? now + duration : null,
    });
    if (hang !== null) {
      this.emit('fault', s.index, job.fn, { fault: 'hang', rule: hang.id, call: job.id });
    } else {
      if (wrong !== null) {
        job.wrong = true;
        this.emit('fault', s.index, job.fn, { fault: 'wrong-result', rule: wrong.id, call: job.id });
      }
      job.doneTimer = this.clock.schedule(now + duration, () =>
        this.post(() => {
          if (s.running === job) this.complete(s, job);
        }),
      );
    }
    if (reset !== null) {
      const at = now + Math.floor(this.faultRng.next() * duration);
      const id = reset.id;
      this.emit('fault', s.index, job.fn, { fault: 'reset', rule: id, call: job.id, at });
      const key = `${id}@${job.id}`;
      this.resetTimers.set(
        key,
        this.clock.schedule(at, () =>
          this.post(() => {
            if (this.resetTimers.delete(key)) this.doReset('fault', id);
          }),
        ),
      );
    }
  }

  private complete(s: Slot, job: CallJob): void {
    s.running = null;
    job.deadlineTimer?.cancel();
    job.output.set(job.scratch.subarray(0, job.bytes));
    if (job.wrong && job.bytes > 0) {
      const at = this.faultRng.nextU32() % job.bytes;
      job.output[at] = job.output[at]! ^ (1 + (this.faultRng.nextU32() % 255));
    }
    const endedAt = this.clock.now();
    this.emit('call-done', s.index, job.fn, { call: job.id, bytes: job.bytes, durationNs: endedAt - job.startedAt });
    job.resolve({
      callId: job.id,
      slot: s.index,
      fn: job.fn,
      bytes: job.bytes,
      acceptedAt: job.acceptedAt,
      startedAt: job.startedAt,
      endedAt,
    });
    this.startNext(s);
  }

  /** The deadline passed: a queued call is dropped, a running one aborted (the next one starts). */
  private expire(job: CallJob): void {
    const s = this.slots[job.slot]!;
    let phase: 'queued' | 'running';
    if (s.running === job) {
      job.doneTimer?.cancel();
      s.running = null;
      phase = 'running';
    } else {
      const i = s.queue.indexOf(job);
      if (i < 0) return;
      s.queue.splice(i, 1);
      phase = 'queued';
    }
    this.emit('call-error', s.index, job.fn, { call: job.id, code: 'TIMEOUT', phase });
    job.reject(new DeviceTimeoutError(s.index, job.id, job.deadline));
    this.startNext(s);
  }

  private failJobs(s: Slot, code: string, error: (job: CallJob) => Error): void {
    const jobs = s.running === null ? s.queue : [s.running, ...s.queue];
    s.running = null;
    s.queue = [];
    for (const job of jobs) {
      job.deadlineTimer?.cancel();
      job.doneTimer?.cancel();
      this.emit('call-error', s.index, job.fn, {
        call: job.id,
        code,
        phase: job.startedAt < 0 ? 'queued' : 'running',
      });
      job.reject(error(job));
    }
  }

  private doReset(cause: 'api' | 'injected' | 'fault', rule: string | null): void {
    this.emit('reset', null, null, { cause, rule });
    for (const s of this.slots) {
      const load = s.load;
      if (load !== null) {
        load.timer.cancel();
        s.load = null;
        if (load.reload) s.state = 'unloaded';
        else this.free(s);
        this.emit('load-failed', s.index, load.handle.fn, { handle: load.handle.id, code: 'DEVICE_RESET' });
        load.reject(new DeviceResetError(s.index, 'the load'));
      }
      this.failJobs(s, 'DEVICE_RESET', (job) => new DeviceResetError(s.index, `call ${job.id}`));
      if (s.state === 'ready') s.state = 'unloaded';
    }
  }

  private free(s: Slot): void {
    s.state = 'free';
    s.holder = null;
    s.fn = null;
    s.load = null;
    s.queue = [];
    s.running = null;
  }

  private slotAt(slot: number): Slot {
    const s = Number.isInteger(slot) ? this.slots[slot] : undefined;
    if (s === undefined) throw new SlotRangeError(slot, this.slots.length);
    return s;
  }

  private resolveRef(ref: SlotRef): Slot {
    if (typeof ref === 'number') return this.slotAt(ref);
    const s = this.slotAt(ref.slot);
    if (s.holder?.id !== ref.id) throw new StaleHandleError(ref.slot, ref.id);
    return s;
  }

  private functionOf(fn: string): FunctionProfile {
    const fp = functionProfile(this.profile, fn);
    if (fp === undefined) throw new UnknownFunctionError(fn, this.functions());
    return fp;
  }
}

function checkDeadline(micros: number): void {
  if (typeof micros !== 'number' || !Number.isFinite(micros) || micros <= 0) throw new BadDeadlineError(micros);
}

/** Build a device (a shorthand for `new SimDevice(options)`). */
export function createDevice(options: SimDeviceOptions): SimDevice {
  return new SimDevice(options);
}
