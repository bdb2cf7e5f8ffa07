/**
 * The guest side of the four phases: negotiate (with the software fallback
 * of the paper's activation phase), activate, compute through the region,
 * release. The control port is vFunD itself in one process; a socket client
 * speaks the same port across processes.
 */
import { createActor, type ActorRefFrom } from 'xstate';
import { ACTIVATION_FAILURES, type ComputationStats, type Kind, type NackReason } from '../domain/types.js';
import { VirtFunError } from '../errors.js';
import { lifecycleMachine, phaseOf, type LifecyclePhase } from '../machines/lifecycle.js';
import type { Answer, Credentials, NegotiateRequest } from '../domain/requests.js';

/** What a guest needs from vFunD: the three control requests. */
export interface ControlPort<Region> {
  /** Ask for an instance of `fn` in `kind`: answers the instance id and the kind granted, or a nack. */
  negotiate(req: NegotiateRequest): Promise<Answer<{ instance: string; kind: Kind }>>;
  /** Activate a negotiated instance the caller owns: answers its region and the region's payload capacity (bytes), or a nack. */
  activate(req: Credentials & { instance: string }): Promise<Answer<{ instance: string; region: Region; capacity: number }>>;
  /** End an instance the caller owns: answers the counters of its calls, or a nack. */
  release(req: Credentials & { instance: string }): Promise<Answer<{ stats: ComputationStats }>>;
}

/**
 * The computation-phase operations of a connected region (ChannelClient):
 * synchronous ones that block the caller for the lowest latency, and async
 * ones that never block the event loop. Async operations run one at a time in
 * the order they were made; a synchronous one while any is queued or running
 * is refused (VirtFunError CHANNEL_BUSY).
 */
export interface ComputeChannel {
  /** One invocation: post `input`, block until the service is done, return the result (a copy). Throws ServiceError for an error status. */
  call(input: Uint8Array): Uint8Array;
  /** Post `input` and start the work without waiting; collect the result with get(). */
  set(input: Uint8Array): void;
  /** Block until the work started by set() is done and return its result. */
  get(): Uint8Array;
  /** Reset the function's state on the service side. */
  rst(): void;
  /** call() without blocking the event loop. Optional for channels of one's own (a test's fake); ChannelClient has all three. */
  callAsync?(input: Uint8Array): Promise<Uint8Array>;
  /** set() in the async queue: resolves once the request is posted. */
  setAsync?(input: Uint8Array): Promise<void>;
  /** get() without blocking the event loop. */
  getAsync?(): Promise<Uint8Array>;
  /** Let go of the region (unmap); called after release. */
  close?(): void;
}

export interface OpenOptions extends Credentials {
  readonly app: string;
  readonly fn: string;
  /** Preferred kind. Default `hw`. */
  readonly kind?: Kind;
  /**
   * Ask again for the software version after a hardware nack for capacity or an unavailable device,
   * or when the hardware's driver failed to activate. Default true.
   */
  readonly fallback?: boolean;
  /** Told of every phase change of this vFunction's lifecycle. */
  readonly onPhase?: (phase: LifecyclePhase, detail: string) => void;
}


/** Hardware nacks after which a guest retries in software: every slot taken, or the device has no usable adapter or was lost. */
const FALLS_BACK: ReadonlySet<string> = new Set(['no-capacity', 'device-unavailable']);

/** vFunD said no. `phase` says at which step, `reason` why. */
export class OffloadRefused extends VirtFunError {
  override readonly name = 'OffloadRefused';
  constructor(
    readonly phase: 'negotiation' | 'activation' | 'release',
    readonly reason: NackReason,
    readonly detail: string,
  ) {
    super('NACK', `${phase} refused (${reason}): ${detail}`);
  }
}

type Lifecycle = ActorRefFrom<typeof lifecycleMachine>;

/**
 * A guest's handle on one offloaded function instance, from `VFunction.open` (negotiation and
 * activation, with the software fallback) to `release()`. In between it is a ComputeChannel: call it
 * synchronously for the lowest latency or with the async operations to keep the event loop free.
 * `phase` follows the instance's lifecycle (docs/lifecycle.md).
 */
export class VFunction implements ComputeChannel {
  private constructor(
    private readonly control: ControlPort<unknown>,
    private readonly creds: Credentials,
    readonly instance: string,
    readonly kind: Kind,
    /** True when this is the software version granted after a hardware nack. */
    readonly fellBack: boolean,
    readonly capacity: number,
    private readonly channel: ComputeChannel,
    readonly lifecycle: Lifecycle,
  ) {}

  /**
   * Run negotiation and activation; resolve with a vFunction in its computation
   * phase, or reject with OffloadRefused.
   */
  static async open<Region>(
    control: ControlPort<Region>,
    connect: (region: Region) => ComputeChannel,
    opts: OpenOptions,
  ): Promise<VFunction> {
    return VFunction.openKind(control, connect, opts, false);
  }

  /** open(), told whether this is the software retry after the hardware failed to activate. */
  private static async openKind<Region>(
    control: ControlPort<Region>,
    connect: (region: Region) => ComputeChannel,
    opts: OpenOptions,
    afterHardwareFailed: boolean,
  ): Promise<VFunction> {
    const creds = { tenant: opts.tenant, credential: opts.credential };
    const kind = opts.kind ?? 'hw';
    let lifecycle = watch(createActor(lifecycleMachine, { input: { tenant: opts.tenant, app: opts.app, fn: opts.fn, kind } }), opts);
    let fellBack = afterHardwareFailed;
    let neg = await control.negotiate({ ...creds, app: opts.app, fn: opts.fn, kind, ...(fellBack && { fallback: true }) });
    if (!neg.ok && kind === 'hw' && FALLS_BACK.has(neg.reason) && opts.fallback !== false) {
      lifecycle.send({ type: 'NEGOTIATION_NACK', reason: neg.reason, detail: neg.detail });
      lifecycle = watch(createActor(lifecycleMachine, { input: { tenant: opts.tenant, app: opts.app, fn: opts.fn, kind: 'sw' } }), opts);
      fellBack = true;
      neg = await control.negotiate({ ...creds, app: opts.app, fn: opts.fn, kind: 'sw', fallback: true });
    }
    if (!neg.ok) {
      lifecycle.send({ type: 'NEGOTIATION_NACK', reason: neg.reason, detail: neg.detail });
      throw new OffloadRefused('negotiation', neg.reason, neg.detail);
    }
    lifecycle.send({ type: 'NEGOTIATION_ACK', instance: neg.instance, kind: neg.kind });
    lifecycle.send({ type: 'ACTIVATE' });
    const act = await control.activate({ ...creds, instance: neg.instance });
    if (!act.ok) {
      lifecycle.send({ type: 'ACTIVATION_NACK', reason: act.reason, detail: act.detail });
      if (!ACTIVATION_FAILURES.has(act.reason)) await control.release({ ...creds, instance: neg.instance });
      // The hardware could not be made ready (its driver failed to start: no device after all): the
      // failed activation ended the instance, and the software version is asked for as after a nack.
      if (neg.kind === 'hw' && act.reason === 'driver-failed' && !fellBack && opts.fallback !== false) {
        return VFunction.openKind(control, connect, { ...opts, kind: 'sw' }, true);
      }
      throw new OffloadRefused('activation', act.reason, act.detail);
    }
    let channel: ComputeChannel;
    try {
      channel = connect(act.region);
    } catch (err) {
      await control.release({ ...creds, instance: neg.instance });
      throw err;
    }
    lifecycle.send({ type: 'ACTIVATION_ACK', capacity: act.capacity });
    return new VFunction(control as ControlPort<unknown>, creds, neg.instance, neg.kind, fellBack, act.capacity, channel, lifecycle);
  }

  /** Where this vFunction is in its lifecycle (`computation` once open, `released` after release()). */
  get phase(): LifecyclePhase {
    return phaseOf(this.lifecycle.getSnapshot().value);
  }

  /** set + wait for done + read the result: one invocation through the region. */
  call(input: Uint8Array): Uint8Array {
    return this.channel.call(input);
  }
  /** Post arguments and start the work; fetch the result later with get(). */
  set(input: Uint8Array): void {
    this.channel.set(input);
  }
  /** Wait for the work started by set() and return its result. */
  get(): Uint8Array {
    return this.channel.get();
  }
  /** Clear the function's state. */
  rst(): void {
    this.channel.rst();
  }

  /**
   * call() without blocking the event loop: resolves with the result, rejects
   * with the same errors (ServiceError, CHANNEL_TIMEOUT, CHANNEL_CLOSED).
   * Concurrent async calls are queued in order; release() while one is in
   * flight rejects it (and the queued ones) with CHANNEL_CLOSED.
   */
  callAsync(input: Uint8Array): Promise<Uint8Array> {
    return this.asyncOp('callAsync').call(this.channel, input);
  }
  /** set() in the async queue: resolves once the arguments are posted; collect the result with getAsync(). */
  setAsync(input: Uint8Array): Promise<void> {
    return this.asyncOp('setAsync').call(this.channel, input);
  }
  /** get() without blocking the event loop. */
  getAsync(): Promise<Uint8Array> {
    return this.asyncOp('getAsync').call(this.channel);
  }

  private asyncOp<K extends 'callAsync' | 'setAsync' | 'getAsync'>(op: K): NonNullable<ComputeChannel[K]> {
    const f = this.channel[op];
    if (f === undefined) throw new VirtFunError('CHANNEL_PROTOCOL', `${op}: this vFunction's channel has no async operations`);
    return f as NonNullable<ComputeChannel[K]>;
  }

  /** Release phase. Resolves with the call counters vFunD journaled (the same ones again once released). */
  async release(): Promise<ComputationStats> {
    if (this.phase === 'released') return this.lifecycle.getSnapshot().context.stats ?? { calls: 0, errors: {} };
    this.lifecycle.send({ type: 'RELEASE', reason: 'client' });
    this.channel.close?.();
    const r = await this.control.release({ ...this.creds, instance: this.instance });
    if (!r.ok) throw new OffloadRefused('release', r.reason, r.detail);
    this.lifecycle.send({ type: 'RELEASED', stats: r.stats });
    return r.stats;
  }
}

function watch(actor: Lifecycle, opts: OpenOptions): Lifecycle {
  if (opts.onPhase) {
    let last: LifecyclePhase | null = null;
    actor.subscribe((snap) => {
      const phase = phaseOf(snap.value);
      if (phase === last) return;
      last = phase;
      opts.onPhase!(phase, snap.context.reason ? `${snap.context.reason}: ${snap.context.detail}` : snap.context.instance ?? '');
    });
  }
  actor.start();
  return actor;
}
