/**
 * When things happen on a simulated device: the mailbox every command and
 * timer goes through, and the scheduling of bitstream loads and of calls on
 * a slot (one at a time, in acceptance order, each ending by its deadline).
 * Durations come from the timing model (model.ts) plus seeded jitter; the
 * faults (faults.ts) decide which loads fail and which calls hang, return a
 * wrong result or reset the device.
 */
import { DriverInputError } from '../src/drivers/driver.js';
import type { SimClock } from './clock.js';
import { DeviceTimeoutError, LoadFailedError } from './errors.js';
import type { DeviceFaults } from './faults.js';
import { kernelSpec } from './kernels.js';
import type { CallResult, DeviceEventKind, EventDetail, SlotHandle } from './device-types.js';
import { callCost, ceilNs, drawJitterNs, loadCostNs } from './model.js';
import type { FunctionProfile } from './profile.js';
import type { Rng } from './rng.js';
import { freeSlot, type CallJob, type PendingLoad, type Slot } from './slots.js';

/**
 * A mailbox: messages are handled one at a time, each to completion, in the
 * order they were posted. A message posted while one is being handled (a
 * re-entrant send) waits its turn.
 */
export class Mailbox {
  private readonly queue: (() => void)[] = [];
  private draining = false;

  /** Enqueue a message; handle the mailbox to empty unless already doing so. */
  post(work: () => void): void {
    this.queue.push(work);
    if (this.draining) return;
    this.draining = true;
    try {
      for (let w = this.queue.shift(); w !== undefined; w = this.queue.shift()) w();
    } finally {
      this.draining = false;
    }
  }
}

/** What the scheduler needs of its device. */
export interface SchedulerHost {
  readonly clock: SimClock;
  /** Run `work` in the device's mailbox. */
  post(work: () => void): void;
  /** Record an event of the device's timeline. */
  emit(kind: DeviceEventKind, slot: number | null, fn: string | null, detail: EventDetail): void;
  /** The profile of a function of the device (throws UnknownFunctionError). */
  functionOf(fn: string): FunctionProfile;
}

/** A call as `accept` takes it, already checked against the slot and the deadline rules. */
export interface CallRequest {
  readonly input: Uint8Array;
  readonly output: Uint8Array;
  /** Device time the call was made, ns. */
  readonly now: number;
  readonly deadlineMicros: number;
  readonly resolve: (r: CallResult) => void;
  readonly reject: (e: unknown) => void;
}

/** Loads and calls on the slots of one device, timed on its clock. Every method runs in the device's mailbox. */
export class SlotScheduler {
  private callSeq = 0;

  constructor(
    private readonly host: SchedulerHost,
    private readonly jitterRng: Rng,
    private readonly faults: DeviceFaults,
  ) {}

  /** Start writing `handle`'s bitstream into `s` (held already); it settles after the load time. */
  startLoad(
    s: Slot,
    handle: SlotHandle,
    fp: FunctionProfile,
    reload: boolean,
    resolve: (h: SlotHandle) => void,
    reject: (e: unknown) => void,
  ): void {
    const { clock } = this.host;
    const now = clock.now();
    const baseNs = loadCostNs(fp);
    const jitterNs = drawJitterNs(baseNs, fp.jitter, this.jitterRng);
    const fault = this.faults.fire('load-failure', { slot: s.index, fn: handle.fn, now });
    const endsAt = now + baseNs + jitterNs;
    this.host.emit('load-start', s.index, handle.fn, { handle: handle.id, reload, baseNs, jitterNs, endsAt });
    if (fault !== null) this.host.emit('fault', s.index, handle.fn, { fault: 'load-failure', rule: fault.id, handle: handle.id });
    const timer = clock.schedule(endsAt, () =>
      this.host.post(() => {
        if (s.load === load) this.finishLoad(s, load);
      }),
    );
    const load: PendingLoad = { handle, reload, timer, failed: fault !== null, resolve, reject };
    s.load = load;
  }

  /**
   * Accept a call on the ready slot `s`: compute its result now (exactly, by
   * the software kernel), queue it with its deadline, start it if the slot is
   * idle. Throws DriverInputError for an input or output buffer the kernel refuses.
   */
  accept(s: Slot, fn: string, call: CallRequest): void {
    const spec = kernelSpec(this.host.functionOf(fn).kernel);
    const scratch = new Uint8Array(spec.meta.maxOutputBytes);
    const bytes = spec.compute(call.input, scratch);
    if (call.output.byteLength < bytes) {
      throw new DriverInputError(`${fn}: output buffer is ${call.output.byteLength} bytes, needs ${bytes}`);
    }
    const job: CallJob = {
      id: `c${++this.callSeq}`,
      slot: s.index,
      fn,
      inBytes: call.input.byteLength,
      bytes,
      work: spec.work(call.input),
      scratch,
      output: call.output,
      acceptedAt: call.now,
      deadline: call.now + ceilNs(call.deadlineMicros * 1_000),
      startedAt: -1,
      deadlineTimer: null,
      doneTimer: null,
      wrong: false,
      resolve: call.resolve,
      reject: call.reject,
    };
    this.host.emit('call-accepted', s.index, fn, {
      call: job.id,
      handle: s.holder?.id ?? null,
      inBytes: job.inBytes,
      deadline: job.deadline,
    });
    job.deadlineTimer = this.host.clock.schedule(job.deadline, () => this.host.post(() => this.expire(s, job)));
    s.queue.push(job);
    this.startNext(s);
  }

  /** Fail the running and queued calls of `s` (cancelling their timers) and empty its queue. */
  failJobs(s: Slot, code: string, error: (job: CallJob) => Error): void {
    const jobs = s.running === null ? s.queue : [s.running, ...s.queue];
    s.running = null;
    s.queue = [];
    for (const job of jobs) {
      job.deadlineTimer?.cancel();
      job.doneTimer?.cancel();
      this.host.emit('call-error', s.index, job.fn, {
        call: job.id,
        code,
        phase: job.startedAt < 0 ? 'queued' : 'running',
      });
      job.reject(error(job));
    }
  }

  private finishLoad(s: Slot, load: PendingLoad): void {
    s.load = null;
    if (load.failed) {
      if (load.reload) s.state = 'unloaded';
      else freeSlot(s);
      this.host.emit('load-failed', s.index, load.handle.fn, { handle: load.handle.id, code: 'LOAD_FAILED' });
      load.reject(new LoadFailedError(s.index, load.handle.fn));
    } else {
      s.state = 'ready';
      this.host.emit('load-done', s.index, load.handle.fn, { handle: load.handle.id });
      load.resolve(load.handle);
    }
  }

  /** Start the next queued call if the slot is idle. */
  private startNext(s: Slot): void {
    if (s.running !== null) return;
    const job = s.queue.shift();
    if (job === undefined) return;
    const fp = this.host.functionOf(job.fn);
    const now = this.host.clock.now();
    job.startedAt = now;
    s.running = job;
    const cost = callCost(fp, job.inBytes, job.bytes, job.work);
    const jitterNs = drawJitterNs(cost.totalNs, fp.jitter, this.jitterRng);
    const duration = cost.totalNs + jitterNs;
    const target = { slot: s.index, fn: job.fn, now };
    const hang = this.faults.fire('hang', target);
    const wrong = hang === null ? this.faults.fire('wrong-result', target) : null;
    const reset = this.faults.fire('reset', target);
    this.host.emit('call-start', s.index, job.fn, {
      call: job.id,
      baseNs: cost.totalNs,
      jitterNs,
      endsAt: hang === null ? now + duration : null,
    });
    if (hang !== null) {
      this.host.emit('fault', s.index, job.fn, { fault: 'hang', rule: hang.id, call: job.id });
    } else {
      if (wrong !== null) {
        job.wrong = true;
        this.host.emit('fault', s.index, job.fn, { fault: 'wrong-result', rule: wrong.id, call: job.id });
      }
      job.doneTimer = this.host.clock.schedule(now + duration, () =>
        this.host.post(() => {
          if (s.running === job) this.complete(s, job);
        }),
      );
    }
    if (reset !== null) {
      const at = this.faults.resetDuring(reset, job.id, now, duration);
      this.host.emit('fault', s.index, job.fn, { fault: 'reset', rule: reset.id, call: job.id, at });
    }
  }

  private complete(s: Slot, job: CallJob): void {
    s.running = null;
    job.deadlineTimer?.cancel();
    job.output.set(job.scratch.subarray(0, job.bytes));
    if (job.wrong) this.faults.corrupt(job.output, job.bytes);
    const endedAt = this.host.clock.now();
    this.host.emit('call-done', s.index, job.fn, { call: job.id, bytes: job.bytes, durationNs: endedAt - job.startedAt });
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
  private expire(s: Slot, job: CallJob): void {
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
    this.host.emit('call-error', s.index, job.fn, { call: job.id, code: 'TIMEOUT', phase });
    job.reject(new DeviceTimeoutError(s.index, job.id, job.deadline));
    this.startNext(s);
  }
}
