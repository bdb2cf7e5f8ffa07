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
 * This file holds the device's public commands and its event log; the slot
 * table is in slots.ts, the mailbox and the timing of loads and calls in
 * scheduler.ts, the fault rules and scheduled resets in faults.ts.
 *
 * Invariants (checked by test/simulator/device.model.spec.ts):
 * - a slot is never held by two handles; load('auto') only takes free slots;
 * - every accepted call ends (done or error) no later than its deadline;
 * - a call takes at least the profile's jitter-free cost (jitter is ≥ 0);
 * - calls on one slot run one at a time, in acceptance order;
 * - after `release` the slot is free, with nothing queued or running.
 */
import { DriverInputError } from '../src/drivers/driver.js';
import { ValidationError } from '../src/errors.js';
import { isSimKernel, KERNEL_NAMES, type KernelName } from './kernels.js';
import type { SimClock } from './clock.js';
import {
  BadDeadlineError,
  DeviceClosedError,
  DeviceResetError,
  NotLoadedError,
  SimDeviceError,
  SlotBusyError,
  SlotReleasedError,
  UnknownFunctionError,
} from './errors.js';
import { DeviceFaults, profileFaultSpecs, type FaultSpec } from './faults.js';
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
} from './device-types.js';
import { functionProfile, type DeviceProfile, type FunctionProfile } from './profile.js';
import { createRng } from './rng.js';
import { Mailbox, SlotScheduler } from './scheduler.js';
import { capacityOf, createSlots, freeSlot, freeSlotIndices, pickSlot, resolveRef, slotAt, slotInfo, type Slot } from './slots.js';

/** How to build a device. */
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

/** A simulated reconfigurable accelerator (see the top of this file). */
export class SimDevice {
  readonly profile: DeviceProfile;
  readonly clock: SimClock;
  readonly seed: number;
  /** Every event so far, in order (empty when `recordTimeline` is false). */
  readonly timeline: DeviceEvent[] = [];

  private readonly slots: Slot[];
  private readonly faults: DeviceFaults;
  private readonly scheduler: SlotScheduler;
  private readonly mailbox = new Mailbox();
  private readonly listeners = new Set<DeviceListener>();
  private readonly record: boolean;
  private readonly defaultDeadlineMicros: number;
  private closed = false;
  private seq = 0;
  private handleSeq = 0;

  constructor(options: SimDeviceOptions) {
    const gpu = Object.entries(options.profile.functions).find(([, f]) => !isSimKernel(f.kernel));
    if (gpu !== undefined) {
      throw new ValidationError(
        `functions.${gpu[0]}.kernel`,
        `${gpu[1].kernel}: a profile measured from a GPU re-times traces (vfun replay-trace); the simulated device runs ${KERNEL_NAMES.join(', ')}`,
      );
    }
    this.profile = options.profile;
    this.clock = options.clock;
    this.seed = options.seed;
    this.record = options.recordTimeline ?? true;
    this.defaultDeadlineMicros = options.defaultDeadlineMicros ?? 1_000_000;
    checkDeadline(this.defaultDeadlineMicros);
    this.slots = createSlots(this.profile.slots);
    const post = (work: () => void): void => this.mailbox.post(work);
    this.faults = new DeviceFaults(
      {
        clock: this.clock,
        post,
        reset: (cause, rule) => {
          if (!this.closed) this.doReset(cause, rule);
        },
      },
      createRng(options.seed, FAULT_STREAM),
      profileFaultSpecs(this.profile.faults),
    );
    this.scheduler = new SlotScheduler(
      { clock: this.clock, post, emit: (k, s, f, d) => this.emit(k, s, f, d), functionOf: (fn) => this.functionOf(fn) },
      createRng(options.seed, JITTER_STREAM),
      this.faults,
    );
  }

  // ---- queries (synchronous reads of the current state) ----

  /** Indices of the slots nobody holds. */
  freeSlots(): number[] {
    return freeSlotIndices(this.slots);
  }

  /** Slots, free slots and the function loaded in each. */
  capacity(): DeviceCapacity {
    return capacityOf(this.slots);
  }

  /** The state of one slot (SlotRangeError for a slot the device does not have). */
  inspect(slot: number): SlotInfo {
    return slotInfo(slotAt(this.slots, slot));
  }

  /** Functions of the profile. */
  functions(): string[] {
    return Object.keys(this.profile.functions);
  }

  /** Whether `close` has run. */
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
      const s = pickSlot(this.slots, slot);
      const handle: SlotHandle = Object.freeze({ id: `h${++this.handleSeq}`, slot: s.index, fn, kernel: fp.kernel as KernelName }); // checked at construction
      s.state = 'loading';
      s.holder = handle;
      s.fn = fn;
      this.scheduler.startLoad(s, handle, fp, false, resolve, reject);
    });
  }

  /**
   * Load the holder's bitstream again (after a device reset left the slot
   * `unloaded`, or to re-program an idle `ready` slot). The slot stays held;
   * if the reload fails it is `unloaded`.
   */
  reload(handle: SlotHandle): Promise<SlotHandle> {
    return this.command<SlotHandle>('reload', (resolve, reject) => {
      const s = resolveRef(this.slots, handle);
      if (s.state === 'loading') throw new SlotBusyError(s.index, `slot ${s.index} is already loading`);
      if (s.running !== null || s.queue.length > 0) {
        throw new SlotBusyError(s.index, `slot ${s.index} has calls in flight`);
      }
      const fp = this.functionOf(handle.fn);
      s.state = 'loading';
      this.scheduler.startLoad(s, handle, fp, true, resolve, reject);
    });
  }

  /**
   * Give the slot back: a pending load and every queued or running call fail
   * with SlotReleasedError, and the slot is free at once. Releasing a free
   * slot by number does nothing; a handle that no longer holds its slot is refused.
   */
  release(ref: SlotRef): Promise<void> {
    return this.command<void>('release', (resolve) => {
      const s = resolveRef(this.slots, ref);
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
      this.scheduler.failJobs(s, 'RELEASED', (job) => new SlotReleasedError(s.index, `call ${job.id}`));
      freeSlot(s);
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
      const s = resolveRef(this.slots, ref);
      if (s.state !== 'ready' || s.fn === null) throw new NotLoadedError(s.index, s.state);
      const deadlineMicros = options.deadlineMicros ?? this.defaultDeadlineMicros;
      checkDeadline(deadlineMicros);
      this.scheduler.accept(s, s.fn, { input, output, now, deadlineMicros, resolve, reject });
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
    return this.faults.inject(spec);
  }

  /** Remove a fault rule or cancel a scheduled reset; false when `id` is neither. */
  removeFault(id: string): boolean {
    return this.faults.remove(id);
  }

  /** Drop every fault rule and scheduled reset (the profile's probabilities too). */
  clearFaults(): void {
    this.faults.clear();
  }

  /** Fail everything pending with DeviceClosedError, free every slot, cancel every timer. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) =>
      this.mailbox.post(() => {
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
          this.scheduler.failJobs(s, 'CLOSED', () => new DeviceClosedError(s.index));
          freeSlot(s);
        }
        this.closed = true;
        this.emit('closed', null, null, {});
        resolve();
      }),
    );
  }

  // ---- the actor ----

  /** A public command: its handler runs in the mailbox; a throw rejects (and is journaled as `rejected`). */
  private command<T>(op: string, handler: (resolve: (v: T) => void, reject: (e: unknown) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      this.mailbox.post(() => {
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

  /** Every slot loses its bitstream: pending loads and calls fail with DeviceResetError; holders keep their slots. */
  private doReset(cause: 'api' | 'injected' | 'fault', rule: string | null): void {
    this.emit('reset', null, null, { cause, rule });
    for (const s of this.slots) {
      const load = s.load;
      if (load !== null) {
        load.timer.cancel();
        s.load = null;
        if (load.reload) s.state = 'unloaded';
        else freeSlot(s);
        this.emit('load-failed', s.index, load.handle.fn, { handle: load.handle.id, code: 'DEVICE_RESET' });
        load.reject(new DeviceResetError(s.index, 'the load'));
      }
      this.scheduler.failJobs(s, 'DEVICE_RESET', (job) => new DeviceResetError(s.index, `call ${job.id}`));
      if (s.state === 'ready') s.state = 'unloaded';
    }
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
