/**
 * The JetStream journal (docs/jetstream.md): control events in one stream per
 * host, where stream sequence N is journal seq N; per-call traces in a shared
 * stream (trace-sink.ts). Appends are published pipelined with msg-id and
 * expectation headers; what JetStream cannot take waits in a local outbox
 * file (outbox.ts) and is delivered later, exactly once; a publish refused by
 * an expectation is checked against the stream, and another writer's event
 * where ours goes fences the journal with ConcurrencyError.
 *
 * Every such decision is made by the publish queue (publish-queue.ts, pure).
 * This class prepares appends (hash check, subjects), carries out the queue's
 * effects and feeds their outcomes back, reads (reader.ts), and reports its
 * state to vFunD's policy.
 */
import { JetStreamApiError, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { ValidationError, VirtFunError } from '../../../errors.js';
import { encodeEnvelope } from '../../canonical.js';
import { checkAppend } from '../../chain.js';
import type { Envelope } from '../../envelope.js';
import { checkFromSeq, type Journal, type JournalHead, type ReadOptions } from '../../journal.js';
import { Outbox, type OutboxOpenReport } from '../outbox.js';
import { nativeSha256Hex as sha256Hex } from '../native-hash.js';
import { connectError, credentialsOf } from './auth.js';
import { connectOptions, resolveOptions, type JetStreamJournalListener, type JetStreamJournalOptions, type JetStreamJournalState, type ResolvedOptions } from './options.js';
import * as queue from './publish-queue.js';
import type { PublishConfig, PublishEffect, PublishInput, PublishState, QueuedItem } from './publish-queue.js';
import { loadAcknowledgements } from './acks.js';
import type { AcknowledgedDamage } from './damage.js';
import { readVerified, type StreamSource } from './reader.js';
import { checkStreamIdentity, ensureEventStream, ensureTraceStream, outboxRemainder, streamHead } from './streams.js';
import { STREAM_CREATED_HEADER } from './stream-check.js';
import { eventSubject } from './subjects.js';
import { delay, errorText, within } from './support.js';
import { TraceSink } from './trace-sink.js';

/** What the journal keeps with each queued envelope to publish it. */
interface Payload {
  readonly env: Envelope;
  readonly data: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A Journal in a NATS JetStream stream, one per host (see the module's comment and docs/jetstream.md): appends
 * that JetStream cannot take wait in a local outbox, and `available()` follows the connection under the
 * configured policy. Open it with `JetStreamJournal.open`.
 */
export class JetStreamJournal implements Journal {
  readonly url: string;
  readonly host: string;
  readonly stream: string;
  readonly traceStream: string;
  readonly policy: { readonly failClosed: boolean };
  /** The trace sink on the same connection (push() is memory only). */
  readonly traces: TraceSink;
  /** What opening cut off the outbox file, if anything. */
  readonly openReport: OutboxOpenReport | null;
  /** Damaged messages of the stream that an operator acknowledged (read() puts their events in their place), by seq. */
  readonly acknowledged: readonly AcknowledgedDamage[];

  private readonly js: JetStreamClient;
  private readonly ackTimeoutMs: number;
  private readonly readOnly: boolean;
  private readonly config: PublishConfig;
  private readonly source: StreamSource;
  /** The publish queue's state: changed only by dispatch(). */
  private q: PublishState<Payload>;
  /** Last stream seq per subject in the accepted chain (known subjects only). */
  private readonly subjectLast = new Map<string, number>();
  /** Pending appends, by the seq of their last envelope. */
  private readonly appends = new Map<number, { readonly resolve: () => void; readonly reject: (err: unknown) => void }>();
  private readonly listeners = new Set<JetStreamJournalListener>();
  private lastEmitted = '';
  private drainWaiters: (() => void)[] = [];
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly statusLoop: Promise<void>;
  /** The connection's status iterator the loop reads (stopped at close: a shared connection outlives the journal). */
  private statusIterator: AsyncIterable<unknown> | null = null;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly ownsConnection: boolean,
    private readonly jsm: JetStreamManager,
    private readonly outbox: Outbox | null,
    head: JournalHead | null,
    replicas: number,
    o: ResolvedOptions,
    /** The stream's `created` time, recorded in every event message (STREAM_CREATED_HEADER). */
    private readonly streamCreated: string,
    acks: ReadonlyMap<number, AcknowledgedDamage>,
  ) {
    this.acknowledged = [...acks.values()].sort((a, b) => a.ack.seq - b.ack.seq);
    this.url = o.url;
    this.host = o.host;
    this.stream = o.stream;
    this.traceStream = o.traceStream;
    this.policy = Object.freeze({ failClosed: o.failClosed });
    this.ackTimeoutMs = o.ackTimeoutMs;
    this.readOnly = o.readOnly;
    this.openReport = outbox?.openReport ?? null;
    this.config = { url: o.url, stream: o.stream, maxInFlight: o.maxInFlight, retryMs: o.retryMs, outbox: outbox !== null };
    this.q = queue.initialPublishState(this.config, head, replicas > 1);
    this.source = { nc, jsm, stream: o.stream, url: o.url, closed: () => this.q.mode.mode === 'closed', acks };
    this.js = jetstream(nc, { timeout: o.ackTimeoutMs });
    this.traces = new TraceSink(this.js, { ...o.trace, host: o.host, stream: o.traceStream, ackTimeoutMs: o.ackTimeoutMs });
    this.statusLoop = this.watchStatus();
  }

  /**
   * Connects, makes sure both streams exist (creating them unless read-only),
   * reads the head (the stream's last message, verified) and takes over any
   * envelopes a previous run left in the outbox. JetStream must be reachable.
   */
  static async open(options: JetStreamJournalOptions = {}): Promise<JetStreamJournal> {
    const o = resolveOptions(options);
    let nc: NatsConnection;
    const owns = options.connection === undefined;
    if (options.connection !== undefined) {
      nc = options.connection;
    } else {
      const credentials = await credentialsOf(o.auth);
      try {
        nc = await connect(connectOptions(o, credentials));
      } catch (err) {
        throw connectError(o, err);
      }
    }
    let outbox: Outbox | null = null;
    try {
      const jsm = await jetstreamManager(nc, { timeout: Math.max(o.ackTimeoutMs, 5000) });
      const info = await ensureEventStream(jsm, { stream: o.stream, host: o.host, replicas: o.replicas, readOnly: o.readOnly });
      if (!o.readOnly) await ensureTraceStream(jsm, { stream: o.traceStream, replicas: o.replicas, maxAgeMs: o.traceMaxAgeMs });
      if (info !== null) await checkStreamIdentity(jsm, o.stream, info);
      const acks = info === null ? new Map<number, AcknowledgedDamage>() : await loadAcknowledgements(nc, jsm, o);
      const head = info === null ? null : await streamHead(jsm, { stream: o.stream, url: o.url, acks, ...(!o.readOnly && options.checkHost === true && { writerHost: o.host }) }, info);
      outbox = o.outbox === null ? null : await Outbox.open(o.outbox);
      const journal = new JetStreamJournal(nc, owns, jsm, outbox, head, info?.config.num_replicas ?? o.replicas, o, info?.created ?? '', acks);
      if (outbox !== null) await journal.adoptOutbox(outbox);
      return journal;
    } catch (err) {
      await outbox?.close().catch(() => undefined);
      if (owns) await nc.close().catch(() => undefined);
      throw err;
    }
  }

  /** The connection (shared with `traces`). */
  get connection(): NatsConnection {
    return this.nc;
  }

  /** Path of the outbox file, or null. */
  get outboxPath(): string | null {
    return this.outbox?.path ?? null;
  }

  // -- policy ---------------------------------------------------------------

  /** JetStream takes publishes right now (see JetStreamJournalState.reachable). */
  get reachable(): boolean {
    return queue.isReachable(this.q);
  }

  /** Whether vFunD may accept new negotiations under the policy. */
  available(): boolean {
    if (queue.failureOf(this.q) !== null || this.q.mode.mode === 'closed') return false;
    return this.policy.failClosed ? this.reachable : true;
  }

  /** The state vFunD's policy reads (see JetStreamJournalState). */
  state(): JetStreamJournalState {
    return {
      reachable: this.reachable,
      available: this.available(),
      failClosed: this.policy.failClosed,
      pending: queue.pendingCount(this.q),
      outboxed: this.outbox?.length ?? 0,
      failure: queue.failureOf(this.q),
      lastError: this.q.lastError,
    };
  }

  /** Calls `listener` whenever `reachable`, `available` or `failure` changes. Returns an unsubscribe function. */
  onStateChange(listener: JetStreamJournalListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(): void {
    const s = this.state();
    const key = `${s.reachable}|${s.available}|${s.failure?.message ?? ''}`;
    if (key === this.lastEmitted) return;
    this.lastEmitted = key;
    for (const l of this.listeners) {
      try {
        l(s);
      } catch {
        // a listener's fault is its own
      }
    }
  }

  private async watchStatus(): Promise<void> {
    this.lastEmitted = `${this.reachable}|${this.available()}|`;
    try {
      const statuses = this.nc.status();
      this.statusIterator = statuses;
      for await (const s of statuses) {
        if (this.q.mode.mode === 'closed') return; // a shared connection outlives the journal
        if (s.type === 'disconnect') this.dispatch({ type: 'disconnected', error: new Error(`disconnected from ${String(s.server)}`) });
        else if (s.type === 'reconnect') this.dispatch({ type: 'reconnected' });
        else if (s.type === 'close') this.dispatch({ type: 'connectionClosed', error: new Error('connection closed') });
        this.emit();
      }
    } catch {
      // the status iterator ends with the connection
    }
  }

  // -- the publish queue's shell ----------------------------------------------

  /** Runs one input through the publish queue, then carries out its effects (listeners last). */
  private dispatch(input: PublishInput<Payload>): void {
    const { state, effects } = queue.step(this.q, this.config, input);
    this.q = state;
    let notify = false;
    for (const effect of effects) {
      if (effect.type === 'notify') notify = true;
      else this.perform(effect);
    }
    if (notify) this.emit();
  }

  private perform(e: Exclude<PublishEffect<Payload>, { type: 'notify' }>): void {
    const stream = this.stream;
    switch (e.type) {
      case 'publish': {
        const { item, gen } = e;
        const h = headers();
        h.set(STREAM_CREATED_HEADER, this.streamCreated);
        this.js.publish(item.subject, item.payload.data, { msgID: item.id, expect: e.expect, timeout: this.ackTimeoutMs, headers: h }).then(
          (ack) => this.dispatch({ type: 'acked', gen, seq: item.seq, stream: ack.stream, streamSeq: ack.seq }),
          (error: unknown) =>
            this.dispatch({ type: 'publishFailed', gen, seq: item.seq, error, code: error instanceof JetStreamApiError ? error.code : null }),
        );
        return;
      }
      case 'lookup':
        this.jsm.streams.getMessage(stream, { last_by_subj: e.subject }).then(
          (sm) => this.dispatch({ type: 'lookedUp', token: e.token, seq: e.seq, last: sm === null ? 0 : sm.seq }),
          (error: unknown) => this.dispatch({ type: 'lookupFailed', token: e.token, error }),
        );
        return;
      case 'inspectStream':
        this.jsm.streams.info(stream).then(
          (info) => this.dispatch({ type: 'streamInspected', token: e.token, lastSeq: info.state.last_seq, replicas: info.config.num_replicas ?? 1 }),
          (error: unknown) => this.dispatch({ type: 'inspectFailed', token: e.token, error }),
        );
        return;
      case 'fetchStored':
        this.jsm.streams.getMessage(stream, { seq: e.seq }).then(
          (sm) => this.dispatch({ type: 'storedFetched', token: e.token, seq: e.seq, text: sm === null ? null : decoder.decode(sm.data) }),
          (error: unknown) => this.dispatch({ type: 'inspectFailed', token: e.token, error }),
        );
        return;
      case 'toOutbox': {
        const through = (e.items[e.items.length - 1] as QueuedItem<Payload>).seq;
        (this.outbox as Outbox).append(e.items.map((i) => i.payload.env)).then(
          () => this.dispatch({ type: 'outboxWritten', through }),
          (error: unknown) => this.dispatch({ type: 'outboxFailed', error, write: true }),
        );
        return;
      }
      case 'clearOutbox':
        this.outbox?.clear().catch((error: unknown) => this.dispatch({ type: 'outboxFailed', error, write: false }));
        return;
      case 'armRetry':
        this.clearRetry();
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.dispatch({ type: 'retryDue', token: e.token });
        }, e.delayMs);
        this.retryTimer.unref?.();
        return;
      case 'cancelRetry':
        this.clearRetry();
        return;
      case 'resolve':
      case 'reject':
        for (const seq of e.appends) {
          const pending = this.appends.get(seq);
          if (pending === undefined) continue;
          this.appends.delete(seq);
          if (e.type === 'resolve') pending.resolve();
          else pending.reject(e.error);
        }
        return;
      case 'drained':
        for (const w of this.drainWaiters.splice(0)) w();
        return;
    }
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** An envelope as the publish queue holds it. */
  private queued(env: Envelope, canonical: string, prevOnSubject: number | undefined, endsAppend: boolean, subject: string): QueuedItem<Payload> {
    return { seq: env.seq, id: env.id, hash: env.hash, subject, canonical, prevOnSubject, endsAppend, payload: { env, data: encoder.encode(canonical) } };
  }

  // -- head / append ----------------------------------------------------------

  /** The last durable event: acknowledged by JetStream, or in the outbox file. */
  async head(): Promise<JournalHead | null> {
    return queue.durableHead(this.q);
  }

  /**
   * Appends after the head (appends still in flight count). Resolves when
   * every envelope is acknowledged by JetStream or on disk in the outbox.
   * Rejects with ConcurrencyError when the first envelope does not follow
   * (locally), or when JetStream holds another writer's event where ours
   * should go (then this journal is fenced: every later append rejects too).
   */
  async append(envelopes: readonly Envelope[]): Promise<void> {
    if (this.q.closing) throw new VirtFunError('JOURNAL_CLOSED', `${this.url} is closed`);
    if (this.readOnly) throw new VirtFunError('CONFIG', `${this.url} was opened read-only`);
    const failure = queue.failureOf(this.q);
    if (failure !== null) throw failure;
    if (envelopes.length === 0) return;
    checkAppend(queue.tailHead(this.q), envelopes);
    const items: QueuedItem<Payload>[] = [];
    const overlay = new Map<string, number>();
    envelopes.forEach((env, i) => {
      const { canonical, hashInput } = encodeEnvelope(env);
      if (sha256Hex(hashInput) !== env.hash) {
        throw new ValidationError(`envelopes[${i}].hash`, `seq ${env.seq}: does not match the envelope's content`);
      }
      const subject = eventSubject(this.host, env);
      const prevOnSubject = overlay.get(subject) ?? this.subjectLast.get(subject);
      overlay.set(subject, env.seq);
      items.push(this.queued(env, canonical, prevOnSubject, i === envelopes.length - 1, subject));
    });
    for (const [subject, seq] of overlay) this.subjectLast.set(subject, seq);
    return new Promise<void>((resolve, reject) => {
      this.appends.set((items[items.length - 1] as QueuedItem<Payload>).seq, { resolve, reject });
      this.dispatch({ type: 'enqueue', items });
    });
  }

  /** Takes over what a previous run left in the outbox: drops what the stream has, queues the rest (already durable). */
  private async adoptOutbox(outbox: Outbox): Promise<void> {
    if (outbox.length === 0) return;
    const rest = await outboxRemainder(this.jsm, { stream: this.stream, url: this.url, streamSeq: this.q.acked?.seq ?? 0 }, outbox);
    if (rest.length === 0) {
      await outbox.clear();
      return;
    }
    checkAppend(this.q.acked, rest);
    const overlay = new Map<string, number>();
    const items = rest.map((env) => {
      const subject = eventSubject(this.host, env);
      const item = this.queued(env, encodeEnvelope(env).canonical, overlay.get(subject), false, subject);
      overlay.set(subject, env.seq);
      return item;
    });
    for (const [subject, seq] of overlay) this.subjectLast.set(subject, seq);
    this.dispatch({ type: 'adopt', items });
  }

  /** Resolves once every accepted envelope is acknowledged by JetStream (or the journal failed / timed out). */
  async flushed(timeoutMs = 30_000): Promise<boolean> {
    if (queue.pendingCount(this.q) === 0 || queue.failureOf(this.q) !== null) return queue.pendingCount(this.q) === 0;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((r) => this.drainWaiters.push(r)),
      new Promise<void>((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return queue.pendingCount(this.q) === 0;
  }

  // -- read -----------------------------------------------------------------

  /**
   * Durable envelopes from `fromSeq`, in seq order: the stream's (read with an
   * ephemeral pull consumer, every message checked) up to what JetStream had
   * acknowledged when read() was called, then those still in the outbox.
   */
  async *read(options?: ReadOptions): AsyncIterable<Envelope> {
    const fromSeq = checkFromSeq(options);
    if (this.q.closing) throw new VirtFunError('JOURNAL_CLOSED', `${this.url} is closed`);
    const streamEnd = this.q.acked?.seq ?? 0;
    const local = queue.durableItems(this.q).map((item) => item.payload.env);
    if (fromSeq <= streamEnd) yield* readVerified(this.source, fromSeq, streamEnd);
    for (const env of local) {
      if (env.seq > streamEnd && env.seq >= fromSeq) yield env;
    }
  }

  /**
   * Waits (up to the ack timeout) for accepted envelopes to become durable,
   * closes the trace sink, the outbox and, when this journal opened it, the
   * connection. Envelopes still only in the outbox stay there for the next
   * open. Idempotent.
   */
  async close(): Promise<void> {
    if (this.q.closing) {
      while (this.q.mode.mode !== 'closed') await delay(5);
      return;
    }
    this.dispatch({ type: 'close' });
    const deadline = Date.now() + this.ackTimeoutMs;
    while (!queue.allDurable(this.q) && queue.failureOf(this.q) === null && Date.now() < deadline) await delay(2);
    // Give JetStream a moment to take what waits in the outbox when it can.
    if (this.reachable || (this.q.connected && this.q.diverted)) await this.flushed(Math.max(0, deadline - Date.now()));
    await this.traces.close();
    this.dispatch({ type: 'closed' });
    await this.outbox?.close();
    if (this.ownsConnection) await this.nc.close().catch(() => undefined);
    // The client's status iterator has stop() (typed as a plain AsyncIterable): a journal on a shared
    // connection ends its loop here instead of at the connection's next status.
    (this.statusIterator as { stop?: () => void } | null)?.stop?.();
    await within(this.statusLoop, 100);
  }
}
