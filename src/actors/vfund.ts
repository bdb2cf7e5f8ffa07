/**
 * vFunD: the supervisor actor. It owns the state, takes one command at a time
 * from its mailbox, decides (pure), journals the events (durably, before it
 * answers), evolves its state, then carries out the effects: the instance's
 * runtime (region + service), which it supervises: a service that dies is
 * reclaimed and journaled. Each instance's lifecycle is the lifecycle
 * machine's state inside vFunD's state (state.ts, evolve.ts): every decision
 * reads it.
 */
import { type DeviceConfig, type DeviceProbed, type ClaimedNames, type ComputationStats, type ControlDisconnected, type JournalCheckpoint, type Kind, type NackReason, type PeerProcess, type RefusalsSuppressed, type ServiceExitCause, type VFunDConfigSnapshot, type VFunEvent } from '../events/catalogue.js';
import { VirtFunError, messageOf } from '../errors.js';
import { HOST_SCOPE, type Clock, type Envelope, type IdSource, type PendingEvent, type Scope } from '../events/envelope.js';
import type { Journal, JournalHead } from '../events/journal.js';
import { JournalUnavailableError } from '../errors.js';
import { Recorder } from '../events/recorder.js';
import type { LifecycleState } from '../machines/lifecycle.js';
import type { Answer, Credentials, NegotiateRequest } from '../domain/requests.js';
import type { DriverNotice } from '../domain/types.js';
import { checkActivation, checkNotice, MAX_NOTICES_PER_INSTANCE } from './driver-notices.js';
import { probeDevices } from '../gpu/probe-process.js';
import type { VFunDCommand } from './commands.js';
import { checkRelease, decide, NO_STATS } from './decide.js';
import { evolve } from './evolve.js';
import { restoreState } from './restore.js';
import type { InstanceRuntime, RuntimeFactory } from './runtime.js';
import type { VFunDState } from './state.js';
import { releasedBy, type AdminCommand } from './admin.js';

/** An operator's action as vFunD takes it: an admin command without its id and counters. */
export type AdminAction = AdminCommand extends infer C ? (C extends AdminCommand ? Omit<C, 'id' | 'stats'> : never) : never;

/** What `VFunD.start` needs: where to journal, how to run instances, the configuration, and the sources of time and ids. */
export interface VFunDOptions<Region> {
  /** The journal vFunD folds at start and appends every decision to (it becomes its only writer). */
  readonly journal: Journal;
  /** How an activated instance gets its region and service (SabRuntime in one process, FileRuntime across processes). */
  readonly runtime: RuntimeFactory<Region>;
  /** The configuration, as journaled in `vfund.started` (`toSnapshot` of a loaded configuration). */
  readonly config: VFunDConfigSnapshot;
  /** The host name every envelope carries. */
  readonly host: string;
  /** The time of each envelope (`systemClock`; a virtual clock in tests). */
  readonly clock: Clock;
  /** Envelope and command ids (`randomIds`; a deterministic source in tests). */
  readonly ids: IdSource;
  /**
   * Journal a `state.snapshot` every this many events, and at stop when at
   * least this many or STOP_SNAPSHOT_AFTER events (the fewer) followed the
   * last one, so that start-up folds only what follows the latest one.
   * Default DEFAULT_SNAPSHOT_EVERY; 0: never.
   */
  readonly snapshotEvery?: number;
  /**
   * Find out which of the configuration's devices can take instances (a WebGPU device's adapter),
   * after vfund.started, after a reload that adds devices, and after a device is lost: each answer
   * is journaled as `device.probed`. Default: the adapter probe in a child process
   * (src/gpu/probe-process.ts); tests pass their own.
   */
  readonly probeDevices?: (devices: readonly DeviceConfig[]) => Promise<readonly DeviceProbed['data'][]>;
}

/** Events between two snapshots by default. */
export const DEFAULT_SNAPSHOT_EVERY = 10_000;
/** At stop, a snapshot is journaled once this many events followed the last one (fewer fold in no time at start). */
export const STOP_SNAPSHOT_AFTER = 1_000;

export type { Answer, NegotiateRequest } from '../domain/requests.js';

/**
 * The supervisor: the one writer of the journal, deciding every control request (negotiate,
 * activate, release, operators' commands) against the state folded from it, journaling the decision
 * before acting on it, and running each instance's service through its RuntimeFactory. Commands run
 * one at a time in arrival order. Start one with `VFunD.start`; `Region` is what the runtime hands
 * guests (SharedArrayBuffers in one process; sealed memfds or a VM window's slot across processes).
 */
export class VFunD<Region = unknown> {
  private state: VFunDState;
  private readonly recorder: Recorder;
  private readonly runtimes = new Map<string, InstanceRuntime<Region>>();
  /** Driver notices received per live instance (bounded: MAX_NOTICES_PER_INSTANCE). */
  private readonly notices = new Map<string, number>();
  /** Live instances whose failover is journaled: a second one from the same instance is dropped. */
  private readonly failedOver = new Set<string>();
  /** Devices whose probe is running: a loss while one runs starts no second probe process. */
  private readonly probing = new Set<string>();
  private mailbox: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<(envelopes: readonly Envelope[]) => void>();
  /** Seq of the latest snapshot journaled (0: none), and whether one is queued. */
  private snapshotSeq = 0;
  private snapshotQueued = false;
  /** vfund.stopped is journaled: no periodic snapshot any more. */
  private stopped = false;

  private constructor(
    private readonly opts: VFunDOptions<Region>,
    recorder: Recorder,
    state: VFunDState,
  ) {
    this.recorder = recorder;
    this.state = state;
  }

  /**
   * Fold the journal into state (from its latest snapshot on: restore.ts),
   * then journal `vfund.started` with the configuration. Instances a previous
   * run left live are released (recovery).
   */
  static async start<Region>(opts: VFunDOptions<Region>): Promise<VFunD<Region>> {
    const restored = await restoreState(opts.journal);
    const recorder = await Recorder.open({ journal: opts.journal, clock: opts.clock, ids: opts.ids, host: opts.host });
    const d = new VFunD(opts, recorder, restored.state);
    d.snapshotSeq = restored.snapshotSeq ?? 0;
    const recovered = opts.runtime.recovered;
    await d.dispatch({ type: 'start', id: opts.ids.next(), host: opts.host, config: opts.config, ...(recovered !== undefined && { recovered }) });
    await d.probe(opts.config.devices ?? []);
    return d;
  }

  /** The current state (immutable snapshot). */
  get snapshot(): VFunDState {
    return this.state;
  }

  /** The region of an instance in computation (what its guest connects to). */
  region(instance: string): Region | undefined {
    return this.runtimes.get(instance)?.region;
  }

  /**
   * The runtime of an instance whose activation was acked (its counters, its latency, its service
   * process), until it is released; subscribers told of its `instance.released` still find it,
   * stopped, with its final counters and latency.
   */
  runtimeOf(instance: string): Pick<InstanceRuntime<Region>, 'stats' | 'latency' | 'servicePid'> | undefined {
    return this.runtimes.get(instance);
  }

  /** The journal's head as vFunD last recorded it (null: empty). */
  head(): JournalHead | null {
    return this.recorder.head();
  }

  /** The lifecycle state of a live instance (the lifecycle machine's value and context). */
  lifecycle(instance: string): LifecycleState | undefined {
    return Object.hasOwn(this.state.instances, instance) ? this.state.instances[instance]!.lifecycle : undefined;
  }

  /** Resolves once every command queued so far (including supervision work) is done. */
  settled(): Promise<void> {
    return this.enqueue(async () => undefined);
  }

  /** Be told of every batch of events journaled (after it is durable). */
  subscribe(listener: (envelopes: readonly Envelope[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Negotiation phase: ack with an instance id, or nack with a reason. */
  negotiate(req: NegotiateRequest): Promise<Answer<{ instance: string; kind: Kind }>> {
    // Fail-closed: while the journal cannot take events, nothing new is admitted, at once (not behind
    // a mailbox waiting for the journal). Not journaled (it cannot be); releases and supervision
    // still are, once the journal takes them. The detail never names the journal (a host path).
    if (this.opts.journal.available?.() === false) return Promise.resolve(JOURNAL_UNAVAILABLE);
    return this.enqueue(async () => {
      if (this.opts.journal.available?.() === false) return JOURNAL_UNAVAILABLE;
      const events = await this.dispatch({ type: 'negotiate', id: this.opts.ids.next(), ...req }).catch((err: unknown) => {
        if (err instanceof JournalUnavailableError) return null; // it could not write this decision: nothing was stored
        throw err;
      });
      if (events === null) return JOURNAL_UNAVAILABLE;
      const [e] = events;
      if (e?.type === 'negotiation.acked') return { ok: true, instance: e.data.instance, kind: e.data.kind };
      if (e?.type === 'negotiation.nacked') return { ok: false, reason: e.data.reason, detail: e.data.detail };
      throw new Error(`vFunD: negotiation decided ${e?.type ?? 'nothing'}`);
    });
  }

  /** Activation phase: create the region, start the service; ack with the region. */
  activate(req: Credentials & { instance: string }): Promise<Answer<{ instance: string; region: Region; capacity: number }>> {
    return this.enqueue(async () => {
      const [e] = await this.dispatch({ type: 'activate', id: this.opts.ids.next(), ...req });
      if (e?.type === 'activation.nacked') return { ok: false, reason: e.data.reason, detail: e.data.detail };
      if (e?.type !== 'activation.started') throw new Error(`vFunD: activation decided ${e?.type ?? 'nothing'}`);
      const inst = this.state.instances[req.instance]!;
      const fn = this.state.config!.functions.find((f) => f.name === inst.fn)!;
      let runtime: InstanceRuntime<Region> | undefined;
      let detail = '';
      let reason: 'driver-failed' | 'no-resources' = 'driver-failed';
      try {
        const { tenant, app, fn: fnName, kind } = inst;
        runtime = await this.opts.runtime.activate({ instance: inst.id, tenant, app, fn: fnName, kind, driver: fn.kinds[kind]!.driver, capacity: e.data.capacity });
      } catch (err) {
        detail = messageOf(err);
        if (err instanceof VirtFunError && err.code === 'RESOURCES') reason = 'no-resources';
      }
      const driver = checkActivation(runtime?.activation);
      const [r] = await this.dispatch({
        type: 'activation-result',
        id: this.opts.ids.next(),
        instance: inst.id,
        ok: runtime !== undefined,
        detail,
        ...(runtime === undefined && { reason }),
        ...(driver !== undefined && { driver }),
      });
      if (r?.type === 'activation.acked' && runtime) {
        this.runtimes.set(inst.id, runtime);
        runtime.onFailure((why, cause) => void this.reclaim(inst.id, 'failure', why, cause).catch(() => undefined));
        runtime.onRestart((attempt, backoffMs, detail) => void this.restarted(inst.id, attempt, backoffMs, detail).catch(() => undefined));
        const device = fn.kinds[inst.kind]?.device;
        if (device !== undefined) runtime.onNotice?.((n) => void this.noticed(inst.id, device, n).catch(() => undefined));
        return { ok: true, instance: inst.id, region: runtime.region, capacity: r.data.capacity };
      }
      await runtime?.stop();
      return { ok: false, reason, detail };
    });
  }

  /** Release phase: stop the service, free the region, journal the counters. */
  release(req: Credentials & { instance: string }): Promise<Answer<{ stats: ComputationStats }>> {
    return this.enqueue(async () => {
      let stats = NO_STATS;
      if (!checkRelease(this.state, req)) stats = (await this.runtimes.get(req.instance)?.stop()) ?? NO_STATS;
      const [e] = await this.dispatch({ type: 'release', id: this.opts.ids.next(), ...req, stats });
      if (e?.type === 'instance.released') return { ok: true, stats: e.data.stats ?? NO_STATS }; // a guest's release always has its counters
      if (e?.type === 'release.nacked') return { ok: false, reason: e.data.reason, detail: e.data.detail };
      throw new Error(`vFunD: release decided ${e?.type ?? 'nothing'}`);
    });
  }

  /** Journal a control request refused before it could be authenticated (a security event). */
  refuse(req: { tenant: string; op: string; reason: NackReason; detail: string; claimed?: ClaimedNames; peer?: PeerProcess }): Promise<void> {
    return this.enqueue(async () => {
      await this.dispatch({ type: 'refuse', id: this.opts.ids.next(), ...req });
    });
  }

  /** Journal the summary of refusals the control channel suppressed past the tenant's limit (a security event). */
  summarizeRefusals(req: RefusalsSuppressed['data']): Promise<void> {
    return this.enqueue(async () => {
      await this.dispatch({ type: 'summarize-refusals', id: this.opts.ids.next(), ...req });
    });
  }

  /** Journal that the control channel closed a connection for flooding (a security event). */
  disconnected(req: ControlDisconnected['data']): Promise<void> {
    return this.enqueue(async () => {
      await this.dispatch({ type: 'disconnect', id: this.opts.ids.next(), ...req });
    });
  }

  /**
   * Journal a checkpoint (a signed tree head: src/events/checkpointer.ts) made by `make` from the
   * journal's durable head at its turn in the mailbox: nothing else is recorded in between, so the
   * checkpoint lands at seq head.seq + 1 and covers exactly the events up to the head. Nothing is
   * journaled when `make` resolves to null. Resolves to whether a checkpoint was journaled.
   */
  checkpoint(make: (head: JournalHead | null) => Promise<JournalCheckpoint['data'] | null>): Promise<boolean> {
    return this.enqueue(async () => {
      const data = await make(this.recorder.head());
      if (data === null) return false;
      await this.dispatch({ type: 'checkpoint', id: this.opts.ids.next(), ...data });
      return true;
    });
  }

  /** Release every instance and journal vfund.stopped. */
  stop(reason = 'shutdown'): Promise<void> {
    return this.enqueue(async () => {
      for (const id of Object.keys(this.state.instances)) {
        const stats = (await this.runtimes.get(id)?.stop()) ?? NO_STATS;
        await this.dispatch({ type: 'reclaim', id: this.opts.ids.next(), instance: id, reason: 'shutdown', detail: reason, stats });
      }
      await this.dispatch({ type: 'stop', id: this.opts.ids.next(), reason });
      // After vfund.stopped: the stop snapshot below, then only the closing checkpoint (no periodic snapshot after it).
      this.stopped = true;
      const every = this.opts.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY;
      if ((this.recorder.head()?.seq ?? 0) - this.snapshotSeq >= Math.min(every, STOP_SNAPSHOT_AFTER)) await this.snapshotNow();
    });
  }

  /**
   * An operator's action (src/actors/admin.ts): the services of the instances it releases are
   * stopped first, for their counters; then it is decided and journaled with who asked. Resolves
   * to the events journaled ([]: it changed nothing, e.g. an instance that is not live).
   */
  async administer(action: AdminAction): Promise<VFunEvent[]> {
    const events = await this.enqueue(async () => {
      const stats: Record<string, ComputationStats | null> = {};
      for (const id of releasedBy(action, this.state)) stats[id] = (await this.runtimes.get(id)?.stop()) ?? NO_STATS;
      const id = this.opts.ids.next();
      const command: AdminCommand = action.type === 'evict' ? { ...action, id, stats: stats[action.instance] ?? null } : action.type === 'disable-tenant' || action.type === 'reload' ? { ...action, id, stats } : { ...action, id };
      return this.dispatch(command);
    });
    // A device the reloaded configuration adds is probed before anything can be negotiated on it as available.
    if (events.some((e) => e.type === 'config.reloaded')) {
      const unprobed = (this.state.config?.devices ?? []).filter((d) => !Object.hasOwn(this.state.devices, d.name));
      await this.probe(unprobed);
    }
    return events;
  }

  /** The guest that held an instance is gone (its lease ended): release it, journaling client.lost. */
  clientLost(instance: string, detail: string): Promise<void> {
    return this.reclaim(instance, 'lease', detail).catch(() => undefined); // callers do not wait for it (a journal that failed for good)
  }

  /**
   * Probe `devices` (a WebGPU device's adapter, in a child process: src/gpu/probe-process.ts) outside
   * the mailbox, then journal what was found (`device.probed`). Simulated devices need no probe.
   */
  private async probe(devices: readonly DeviceConfig[]): Promise<void> {
    const todo = devices.filter((x) => x.type === 'webgpu' && !this.probing.has(x.name));
    if (todo.length === 0) return;
    for (const x of todo) this.probing.add(x.name);
    try {
      const probes = await (this.opts.probeDevices ?? probeDevices)(todo);
      if (probes.length > 0) await this.enqueue(() => this.dispatch({ type: 'probe-devices', id: this.opts.ids.next(), probes }));
    } finally {
      for (const x of todo) this.probing.delete(x.name);
    }
  }

  /**
   * A driver's notice, checked and journaled (the driver tells a failover once per instance). A
   * malformed one is dropped; a service that sends more than an honest driver would is faulty: its
   * instance is reclaimed (driver-notices.ts).
   */
  private noticed(instance: string, device: string, raw: DriverNotice): Promise<void> {
    const count = (this.notices.get(instance) ?? 0) + 1;
    this.notices.set(instance, count);
    if (count === MAX_NOTICES_PER_INSTANCE + 1) {
      return this.reclaim(instance, 'failure', `its service sent more than ${MAX_NOTICES_PER_INSTANCE} driver notices: treated as faulty`);
    }
    const n = checkNotice(raw);
    if (n === null || count > MAX_NOTICES_PER_INSTANCE) return Promise.resolve();
    if (n.type === 'mismatch') {
      return this.enqueue(async () => {
        await this.dispatch({ type: 'crosscheck-mismatch', id: this.opts.ids.next(), instance, device, call: n.call, detail: n.detail });
      });
    }
    // Once per instance: the driver tells it once; a service that says it again is not believed twice.
    if (this.failedOver.has(instance)) return Promise.resolve();
    this.failedOver.add(instance);
    // A lost device is unavailable until it is probed again: at once, so that one instance's loss (its
    // own context destroyed, a driver reset) does not keep every tenant off a device that works.
    return this.enqueue(async () => this.dispatch({ type: 'device-failover', id: this.opts.ids.next(), instance, device, detail: n.detail })).then(async (events) => {
      const lost = this.state.config?.devices?.find((d) => d.name === device);
      if (events.length > 0 && lost !== undefined && this.state.running) await this.probe([lost]);
    });
  }

  private restarted(instance: string, attempt: number, backoffMs: number, detail: string): Promise<void> {
    return this.enqueue(async () => {
      await this.dispatch({ type: 'service-restarted', id: this.opts.ids.next(), instance, attempt, backoffMs, detail });
    });
  }

  private reclaim(instance: string, reason: 'failure' | 'lease', detail: string, cause?: ServiceExitCause): Promise<void> {
    return this.enqueue(async () => {
      const stats = (await this.runtimes.get(instance)?.stop()) ?? NO_STATS;
      await this.dispatch({ type: 'reclaim', id: this.opts.ids.next(), instance, reason, detail, stats, ...(cause !== undefined && { cause }) });
    });
  }

  /** Run `job` after every job queued before it (the mailbox). */
  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const next = this.mailbox.then(job, job);
    this.mailbox = next.catch(() => undefined);
    return next;
  }

  /** Journal a snapshot of the state unless the last event is one (or snapshots are off). */
  private async snapshotNow(): Promise<void> {
    const seq = this.recorder.head()?.seq ?? 0;
    if ((this.opts.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY) > 0 && seq > this.snapshotSeq) await this.dispatch({ type: 'snapshot', id: this.opts.ids.next(), seq });
  }

  /** After a dispatch: queue a snapshot (behind what waits) when snapshotEvery events passed since the last. */
  private scheduleSnapshot(): void {
    const every = this.opts.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY;
    const seq = this.recorder.head()?.seq ?? 0;
    if (every <= 0 || this.snapshotQueued || this.stopped || seq - this.snapshotSeq < every) return;
    this.snapshotQueued = true;
    void this.enqueue(() => (this.stopped ? Promise.resolve() : this.snapshotNow()))
      .catch(() => undefined) // a journal that failed for good: the next dispatch says so
      .finally(() => (this.snapshotQueued = false));
  }

  /** decide -> journal (durable) -> evolve -> forget released runtimes. Returns the events. */
  private async dispatch(command: VFunDCommand): Promise<VFunEvent[]> {
    const events = decide(command, this.state);
    if (events.length === 0) return events;
    const pending: PendingEvent[] = [];
    let s = this.state;
    for (const event of events) {
      const scope = scopeOf(event, s, command);
      pending.push({ event, scope, causationId: command.id, correlationId: scope.instance });
      s = evolve(s, event);
    }
    // A negotiation may be refused when the journal cannot write (failFast); every other decision waits for it.
    const envelopes = await this.recorder.record(pending, command.type === 'negotiate' ? { failFast: true } : undefined);
    this.state = s;
    if (command.type === 'snapshot') this.snapshotSeq = envelopes[envelopes.length - 1]!.seq;
    else this.scheduleSnapshot();
    try {
      for (const l of this.listeners) l(envelopes);
    } finally {
      // After the listeners: those of the batch that releases an instance still find its (stopped) runtime.
      for (const e of events) {
        if (e.type !== 'instance.released') continue;
        this.runtimes.delete(e.data.instance);
        this.notices.delete(e.data.instance);
        this.failedOver.delete(e.data.instance);
      }
    }
    return events;
  }
}

/** Who an event is about, from the state before it and the command that caused it. */
export function scopeOf(e: VFunEvent, before: VFunDState, command: VFunDCommand): Scope {
  const claimedTenant = 'tenant' in command && typeof command.tenant === 'string' ? command.tenant : null;
  switch (e.type) {
    case 'vfund.started':
    case 'vfund.stopped':
    case 'journal.checkpoint':
    case 'state.snapshot':
      return HOST_SCOPE;
    case 'negotiation.acked':
      return { tenant: e.data.tenant, app: e.data.app, fn: e.data.fn, instance: e.data.instance };
    case 'negotiation.nacked':
      return { tenant: e.data.tenant, app: e.data.app, fn: e.data.fn, instance: null };
    case 'request.refused':
    case 'refusals.suppressed':
    case 'control.disconnected':
    case 'tenant.disabled':
    case 'tenant.enabled':
      return { tenant: e.data.tenant, app: null, fn: null, instance: null };
    case 'drain.changed':
      return e.data.tenant === null ? HOST_SCOPE : { tenant: e.data.tenant, app: null, fn: null, instance: null };
    case 'config.reloaded':
    case 'device.probed':
      return HOST_SCOPE;
    case 'journal.damage-acknowledged':
      return { tenant: null, app: null, fn: null, instance: null };
    default: {
      const inst = Object.hasOwn(before.instances, e.data.instance) ? before.instances[e.data.instance] : undefined;
      if (inst && (claimedTenant === null || claimedTenant === inst.tenant)) {
        return { tenant: inst.tenant, app: inst.app, fn: inst.fn, instance: inst.id };
      }
      // A refused request about an instance the caller does not own: file it under the caller.
      return { tenant: claimedTenant, app: null, fn: null, instance: null };
    }
  }
}

/** The answer to a negotiation while the journal cannot write (docs/operator-guide.md, "Failure model"). */
const JOURNAL_UNAVAILABLE = {
  ok: false,
  reason: 'journal-unavailable',
  detail: "vFunD's journal cannot take events right now and vFunD is fail-closed: no new negotiations until it can; instances already in computation keep working",
} as const satisfies Answer<never>;
