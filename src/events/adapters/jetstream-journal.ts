/**
 * The JetStream journal (docs/jetstream.md): control events on
 * `vfun.evt.<host>.<tenant>.<app>.<fn>` in a per-host stream (file storage,
 * deny_delete, deny_purge), per-call trace batches on
 * `vfun.trace.<host>.<tenant>.<app>.<fn>` in a shared, limits-based stream.
 *
 * One stream per host makes the stream sequence the journal seq (envelope
 * seq N is stream message N), so:
 *   - `head()` on open is the stream's last message, verified;
 *   - every publish carries `Nats-Msg-Id` (the envelope id: retries are
 *     deduplicated), `Nats-Expected-Last-Sequence` (seq - 1: a compare-and-set
 *     on the whole host chain), `Nats-Expected-Last-Subject-Sequence` (the
 *     previous message on the same subject) and, when the previous envelope is
 *     still in flight, `Nats-Expected-Last-Msg-Id` (its id: a pipelined publish
 *     lands only right after its own predecessor, never after another writer's);
 *   - `read()` is one ephemeral pull consumer (ack none) walking the sequence,
 *     every message checked (canonical JSON, hash, seq, prevHash).
 *
 * When JetStream cannot be reached (disconnected, no stream leader, timeouts),
 * appends go to a local outbox file (outbox.ts) and resolve once fsync'd; the
 * outbox is flushed in order when JetStream answers again, exactly once (msg-id
 * dedupe, expectations, and a content check of what is already stored). A
 * publish refused by an expectation is checked against the stream: when the
 * stored message is not ours, the journal is fenced with ConcurrencyError.
 */
import * as crypto from 'node:crypto';
import { hostname } from 'node:os';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type PubAck,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import { connect, createInbox, nuid, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { ConcurrencyError, JournalCorruptError, ValidationError, VirtFunError } from '../../errors.js';
import { NAME_PATTERN, NAME_MAX } from '../../util/names.js';
import { encodeEnvelope } from '../canonical.js';
import { chainFault, checkAppend, decodeStored, type StoredDecode } from '../chain.js';
import type { Envelope } from '../envelope.js';
import type { Journal, JournalHead, ReadOptions } from '../journal.js';
import { Outbox, type OutboxOpenReport } from './outbox.js';

const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const EVENT_SUBJECT_PREFIX = 'vfun.evt';
export const TRACE_SUBJECT_PREFIX = 'vfun.trace';
export const DEFAULT_TRACE_STREAM = 'VFUN_TRACE';

/** JetStream API error codes for a publish refused by an expectation header. */
const REFUSAL_CODES = new Set([10070 /* wrong last msg id */, 10071 /* wrong last sequence */, 10164 /* wrong last sequence (unknown) */]);

const NANOS_PER_MS = 1_000_000;

// ---------------------------------------------------------------------------
// Subjects and names

/**
 * A subject token for a tenant/app/fn (or host) value: `_` for null (host-wide
 * events), the value itself when it is a valid name (util/names.ts: letters,
 * digits, '-', '_', starting with a letter or digit, at most 63 characters),
 * else `~` + 24 hex digits of the SHA-256 of its JSON (names refused by vFunD
 * are journaled too, and may hold anything). `~` never starts a valid name, so
 * the three forms cannot collide.
 */
export function subjectToken(value: string | null): string {
  if (value === null) return '_';
  if (value.length <= NAME_MAX && NAME_PATTERN.test(value)) return value;
  return '~' + sha256Hex(JSON.stringify(value)).slice(0, 24);
}

const tokenCache = new Map<string, string>();
function cachedToken(value: string | null): string {
  if (value === null) return '_';
  let t = tokenCache.get(value);
  if (t === undefined) {
    t = subjectToken(value);
    if (tokenCache.size > 10_000) tokenCache.clear();
    tokenCache.set(value, t);
  }
  return t;
}

/** `vfun.evt.<host>.<tenant>.<app>.<fn>` */
export function eventSubject(host: string, scope: { readonly tenant: string | null; readonly app: string | null; readonly fn: string | null }): string {
  return `${EVENT_SUBJECT_PREFIX}.${cachedToken(host)}.${cachedToken(scope.tenant)}.${cachedToken(scope.app)}.${cachedToken(scope.fn)}`;
}

/** `vfun.trace.<host>.<tenant>.<app>.<fn>` */
export function traceSubject(host: string, scope: { readonly tenant?: string | null; readonly app?: string | null; readonly fn?: string | null }): string {
  return `${TRACE_SUBJECT_PREFIX}.${cachedToken(host)}.${cachedToken(scope.tenant ?? null)}.${cachedToken(scope.app ?? null)}.${cachedToken(scope.fn ?? null)}`;
}

/** The default control-event stream of a host: `VFUN_EVT_<host>`. */
export function defaultEventStream(host: string): string {
  return `VFUN_EVT_${host}`;
}

/** The machine's short host name, made a valid name (the default `host`). */
export function defaultHost(): string {
  const short = (hostname().split('.')[0] ?? '').replace(/[^A-Za-z0-9_-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, NAME_MAX);
  return short === '' ? 'vfund' : short;
}

const STREAM_NAME = /^[A-Za-z0-9_-]{1,200}$/;

// ---------------------------------------------------------------------------
// Options and state

export interface JetStreamJournalOptions {
  /** Server URLs (`nats://host:port` or `host:port`). Ignored when `connection` is given. Default nats://127.0.0.1:4222. */
  readonly servers?: string | readonly string[];
  /** Use this connection instead of opening one (close() then leaves it open). */
  readonly connection?: NatsConnection;
  /** This vFunD host: owner of the chain and a token of every subject. Must be a valid name. Default: the short host name. */
  readonly host?: string;
  /** Control-event stream (one per host). Default `VFUN_EVT_<host>`. */
  readonly stream?: string;
  /** Trace stream (shared by hosts). Default `VFUN_TRACE`. */
  readonly traceStream?: string;
  /** Replicas of both streams when this journal creates them (1, 3 or 5). Default 1. */
  readonly replicas?: number;
  /** Trace stream `max_age` when this journal creates it. Default 24 h. */
  readonly traceMaxAgeMs?: number;
  /** Local outbox file for events JetStream cannot take yet. Default: none (appends wait for JetStream). */
  readonly outbox?: string | null;
  /** Policy: refuse new work while JetStream is unreachable (see `available()`). Default true. */
  readonly failClosed?: boolean;
  /** How long to wait for a publish acknowledgement before treating JetStream as unreachable. Default 2000 ms. */
  readonly ackTimeoutMs?: number;
  /** First delay before re-trying JetStream after a failure (doubles up to 2 s). Default 100 ms. */
  readonly retryMs?: number;
  /** Most envelopes published and not yet acknowledged at once. Default 4096. */
  readonly maxInFlight?: number;
  /** Connect timeout when opening. Default 5000 ms. */
  readonly connectTimeoutMs?: number;
  /** Never create streams nor write: for audit and replay. */
  readonly readOnly?: boolean;
  /** Options of `traces`. */
  readonly trace?: TraceSinkOptions;
}

/** What vFunD needs to know to apply its policy. */
export interface JetStreamJournalState {
  /** JetStream takes publishes: connected, nothing waiting in the outbox, no failure. */
  readonly reachable: boolean;
  /** New negotiations may be accepted: `reachable`, or `failClosed` is off (and no failure). */
  readonly available: boolean;
  readonly failClosed: boolean;
  /** Envelopes accepted and not yet acknowledged by JetStream. */
  readonly pending: number;
  /** Envelopes in the outbox file. */
  readonly outboxed: number;
  /** The sticky failure that fenced this journal (ConcurrencyError: another writer), or null. */
  readonly failure: Error | null;
  /** The last transport error seen while unreachable, for logs. */
  readonly lastError: string | null;
}

export type JetStreamJournalListener = (state: JetStreamJournalState) => void;

interface AppendOp {
  left: number;
  settled: boolean;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

interface Item {
  readonly env: Envelope;
  readonly subject: string;
  readonly canonical: string;
  readonly data: Uint8Array;
  /** Stream seq of the previous message on `subject` (0: none); undefined until looked up. */
  prevOnSubject: number | undefined;
  acked: boolean;
  /** Written to (or being written to) the outbox. */
  outboxed: boolean;
  /** Acked, or its outbox write is on disk. */
  durable: boolean;
  readonly op: AppendOp;
}

function checkFromSeq(options: ReadOptions | undefined): number {
  const fromSeq = options?.fromSeq ?? 1;
  if (!Number.isSafeInteger(fromSeq) || fromSeq < 1) {
    throw new ValidationError('fromSeq', `expected a positive integer, got ${String(fromSeq)}`);
  }
  return fromSeq;
}

/** Parses a stored message body: an envelope in canonical form whose hash recomputes (unless `checkHash` is false). */
const decodeBody = (text: string, checkHash = true): StoredDecode => decodeStored(text, checkHash);

/**
 * Stream sequence from a JetStream ack reply subject:
 *   v1 `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` (9 tokens),
 *   v2 `$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>[.<token>]`.
 * Without split(): this runs once per replayed message.
 */
function streamSeqOfReply(reply: string | undefined): number {
  if (reply === undefined) return NaN;
  let dots = 0;
  for (let i = 0; i < reply.length; i++) if (reply.charCodeAt(i) === 0x2e) dots++;
  // tokens after sseq: cseq, ts, pending (+ token in 12-token v2)
  const after = dots + 1 === 12 ? 4 : 3;
  let end = reply.length;
  for (let k = 0; k < after; k++) end = reply.lastIndexOf('.', end - 1);
  const start = reply.lastIndexOf('.', end - 1) + 1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = reply.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return NaN;
    n = n * 10 + c;
  }
  return end > start ? n : NaN;
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === 10059 || err.status === 404);
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// The journal

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

  private readonly js: JetStreamClient;
  private readonly ackTimeoutMs: number;
  private readonly retryMs: number;
  private readonly maxInFlight: number;
  private readonly readOnly: boolean;

  /** Last envelope JetStream acknowledged (null: empty stream). */
  private acked: JournalHead | null;
  /** Last envelope accepted by append (in flight included). */
  private tail: JournalHead | null;
  /** Unacknowledged envelopes in seq order, from `qStart`. */
  private queue: Item[] = [];
  private qStart = 0;
  /** Next queue index to publish in the current generation. */
  private sendIdx = 0;
  private inFlight = 0;
  /** Bumped whenever in-flight publishes are abandoned (their failures are then ignored). */
  private gen = 0;
  /** Last stream seq per subject in the accepted chain (known subjects only). */
  private readonly subjectLast = new Map<string, number>();
  private lookupBusy = false;
  private resyncBusy = false;
  private resyncsWithoutProgress = 0;
  private diverted = false;
  private connected = true;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelay: number;
  private failure: Error | null = null;
  private lastError: string | null = null;
  private closing = false;
  private closed = false;
  private readonly listeners = new Set<JetStreamJournalListener>();
  private lastEmitted = '';
  private drainWaiters: (() => void)[] = [];
  private readonly statusLoop: Promise<void>;
  /** The stream has replicas (see send()). */
  private clustered: boolean;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly ownsConnection: boolean,
    private readonly jsm: JetStreamManager,
    private readonly outbox: Outbox | null,
    head: JournalHead | null,
    replicas: number,
    options: {
      url: string;
      host: string;
      stream: string;
      traceStream: string;
      failClosed: boolean;
      ackTimeoutMs: number;
      retryMs: number;
      maxInFlight: number;
      readOnly: boolean;
      trace: TraceSinkOptions;
      openReport: OutboxOpenReport | null;
    },
  ) {
    this.url = options.url;
    this.host = options.host;
    this.stream = options.stream;
    this.traceStream = options.traceStream;
    this.policy = Object.freeze({ failClosed: options.failClosed });
    this.ackTimeoutMs = options.ackTimeoutMs;
    this.retryMs = options.retryMs;
    this.retryDelay = options.retryMs;
    this.maxInFlight = options.maxInFlight;
    this.readOnly = options.readOnly;
    this.openReport = options.openReport;
    this.acked = head;
    this.tail = head;
    this.clustered = replicas > 1;
    this.js = jetstream(nc, { timeout: options.ackTimeoutMs });
    this.traces = new TraceSink(this.js, { ...options.trace, host: options.host, stream: options.traceStream, ackTimeoutMs: options.ackTimeoutMs });
    this.statusLoop = this.watchStatus();
  }

  /**
   * Connects, makes sure both streams exist (creating them unless read-only),
   * reads the head (the stream's last message, verified) and takes over any
   * envelopes a previous run left in the outbox. JetStream must be reachable.
   */
  static async open(options: JetStreamJournalOptions = {}): Promise<JetStreamJournal> {
    const host = options.host ?? defaultHost();
    if (host.length > NAME_MAX || !NAME_PATTERN.test(host)) {
      throw new ValidationError('host', `'${host}' is not a valid name (letters, digits, '-', '_'; 1..${NAME_MAX} characters)`);
    }
    const stream = options.stream ?? defaultEventStream(host);
    const traceStream = options.traceStream ?? DEFAULT_TRACE_STREAM;
    for (const [field, name] of [['stream', stream], ['traceStream', traceStream]] as const) {
      if (!STREAM_NAME.test(name)) throw new ValidationError(field, `'${name}' is not a valid stream name (letters, digits, '-', '_')`);
    }
    if (stream === traceStream) throw new ValidationError('traceStream', 'must differ from stream');
    const replicas = options.replicas ?? 1;
    if (![1, 2, 3, 4, 5].includes(replicas)) throw new ValidationError('replicas', `expected 1..5, got ${replicas}`);
    const servers = options.servers === undefined ? ['nats://127.0.0.1:4222'] : typeof options.servers === 'string' ? [options.servers] : [...options.servers];
    const ackTimeoutMs = options.ackTimeoutMs ?? 2000;
    const readOnly = options.readOnly === true;

    let nc: NatsConnection;
    const owns = options.connection === undefined;
    if (options.connection !== undefined) {
      nc = options.connection;
    } else {
      try {
        nc = await connect({
          servers,
          name: `vfund-journal-${host}`,
          noAsyncTraces: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          reconnectJitter: 100,
          timeout: options.connectTimeoutMs ?? 5000,
          pingInterval: 5000,
          maxPingOut: 3,
        });
      } catch (err) {
        throw new VirtFunError('CONFIG', `cannot reach JetStream at ${servers.join(',')}: ${errorText(err)}`, { cause: err });
      }
    }
    let outbox: Outbox | null = null;
    try {
      const jsm = await jetstreamManager(nc, { timeout: Math.max(ackTimeoutMs, 5000) });
      const info = await ensureEventStream(jsm, { stream, host, replicas, readOnly });
      if (!readOnly) {
        await ensureTraceStream(jsm, { stream: traceStream, replicas, maxAgeMs: options.traceMaxAgeMs ?? 24 * 3600_000 });
      }
      const head = info === null ? null : await streamHead(jsm, stream, info);
      outbox = options.outbox === undefined || options.outbox === null || readOnly ? null : await Outbox.open(options.outbox);
      const query = new URLSearchParams({ stream, traceStream, host });
      const journal = new JetStreamJournal(nc, owns, jsm, outbox, head, info?.config.num_replicas ?? replicas, {
        url: `nats://${servers.map((s) => s.replace(/^nats:\/\//, '')).join(',')}?${query.toString()}`,
        host,
        stream,
        traceStream,
        failClosed: options.failClosed ?? true,
        ackTimeoutMs,
        retryMs: options.retryMs ?? 100,
        maxInFlight: options.maxInFlight ?? 4096,
        readOnly,
        trace: options.trace ?? {},
        openReport: outbox?.openReport ?? null,
      });
      if (outbox !== null) await journal.adoptOutbox();
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
    return this.connected && !this.diverted && this.failure === null && !this.closed;
  }

  /** Whether vFunD may accept new negotiations under the policy. */
  available(): boolean {
    if (this.failure !== null || this.closed) return false;
    return this.policy.failClosed ? this.reachable : true;
  }

  state(): JetStreamJournalState {
    return {
      reachable: this.reachable,
      available: this.available(),
      failClosed: this.policy.failClosed,
      pending: this.queue.length - this.qStart,
      outboxed: this.outbox?.length ?? 0,
      failure: this.failure,
      lastError: this.lastError,
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
      for await (const s of this.nc.status()) {
        if (this.closed) return; // a shared connection outlives the journal
        if (s.type === 'disconnect') {
          this.connected = false;
          this.divert(new Error(`disconnected from ${String(s.server)}`));
        } else if (s.type === 'reconnect') {
          this.connected = true;
          this.retryDelay = this.retryMs;
          this.clearRetry();
          this.pump();
        } else if (s.type === 'close') {
          this.connected = false;
          if (!this.closing) this.divert(new Error('connection closed'));
        }
        this.emit();
      }
    } catch {
      // the status iterator ends with the connection
    }
  }

  // -- head / append ----------------------------------------------------------

  /** The last durable event: acknowledged by JetStream, or in the outbox file. */
  async head(): Promise<JournalHead | null> {
    let head = this.acked;
    for (let i = this.qStart; i < this.queue.length; i++) {
      const item = this.queue[i] as Item;
      if (!item.durable) break;
      head = { seq: item.env.seq, hash: item.env.hash };
    }
    return head;
  }

  /**
   * Appends after the head (appends still in flight count). Resolves when
   * every envelope is acknowledged by JetStream or on disk in the outbox.
   * Rejects with ConcurrencyError when the first envelope does not follow
   * (locally), or when JetStream holds another writer's event where ours
   * should go (then this journal is fenced: every later append rejects too).
   */
  async append(envelopes: readonly Envelope[]): Promise<void> {
    if (this.closing) throw new VirtFunError('JOURNAL_CLOSED', `${this.url} is closed`);
    if (this.readOnly) throw new VirtFunError('CONFIG', `${this.url} was opened read-only`);
    if (this.failure !== null) throw this.failure;
    if (envelopes.length === 0) return;
    const after = checkAppend(this.tail, envelopes);
    const prepared: { env: Envelope; subject: string; canonical: string; prevOnSubject: number | undefined }[] = [];
    const overlay = new Map<string, number>();
    envelopes.forEach((env, i) => {
      const { canonical, hashInput } = encodeEnvelope(env);
      if (sha256Hex(hashInput) !== env.hash) {
        throw new ValidationError(`envelopes[${i}].hash`, `seq ${env.seq}: does not match the envelope's content`);
      }
      const subject = eventSubject(this.host, env);
      const prevOnSubject = overlay.get(subject) ?? this.subjectLast.get(subject);
      overlay.set(subject, env.seq);
      prepared.push({ env, subject, canonical, prevOnSubject });
    });
    for (const [subject, seq] of overlay) this.subjectLast.set(subject, seq);
    this.tail = after;
    return new Promise<void>((resolve, reject) => {
      const op: AppendOp = { left: prepared.length, settled: false, resolve, reject };
      const items: Item[] = prepared.map((p) => ({
        env: p.env,
        subject: p.subject,
        canonical: p.canonical,
        data: encoder.encode(p.canonical),
        prevOnSubject: p.prevOnSubject,
        acked: false,
        outboxed: false,
        durable: false,
        op,
      }));
      for (const item of items) this.queue.push(item);
      if (this.diverted) this.toOutbox(items);
      this.pump();
    });
  }

  /** Publishes queued envelopes, in order, while JetStream may take them. */
  private pump(): void {
    if (this.failure !== null || this.closed || !this.connected || this.retryTimer !== null || this.lookupBusy || this.resyncBusy) return;
    while (this.sendIdx < this.queue.length && this.inFlight < this.maxInFlight) {
      const item = this.queue[this.sendIdx] as Item;
      if (item.acked) {
        this.sendIdx++;
        continue;
      }
      if (item.prevOnSubject === undefined) {
        this.lookup(item);
        return;
      }
      this.send(item, this.sendIdx > this.qStart ? (this.queue[this.sendIdx - 1] as Item) : null);
      this.sendIdx++;
    }
    if (this.qStart === this.queue.length && this.diverted && this.inFlight === 0) this.undivert();
  }

  private send(item: Item, before: Item | null): void {
    const gen = this.gen;
    this.inFlight++;
    const env = item.env;
    const expect: { lastSequence: number; lastSubjectSequence?: number; lastMsgID?: string } = { lastSequence: env.seq - 1 };
    // A clustered 2.9 stream checks the subject expectation against what it has applied, not what
    // it has accepted: pipelined, it would refuse. There it is sent once the previous message on
    // the subject is acknowledged (the stream-wide expectations below keep the single-writer rule).
    const onSubject = item.prevOnSubject ?? 0;
    if (!this.clustered || onSubject <= (this.acked?.seq ?? 0)) expect.lastSubjectSequence = onSubject;
    // The previous envelope is not acknowledged yet: land only right after it.
    if (before !== null && !before.acked) expect.lastMsgID = before.env.id;
    this.js.publish(item.subject, item.data, { msgID: env.id, expect, timeout: this.ackTimeoutMs }).then(
      (ack) => {
        if (gen === this.gen) this.inFlight--;
        this.onAck(item, ack);
      },
      (err: unknown) => {
        if (gen !== this.gen) return; // abandoned: the retry decides
        this.inFlight--;
        if (err instanceof JetStreamApiError && REFUSAL_CODES.has(err.code)) this.resync(err);
        else this.divert(err);
      },
    );
  }

  private onAck(item: Item, ack: PubAck): void {
    // Acks still count after a fence: they are true, and head() reports them.
    if (item.acked) return;
    if (ack.seq !== item.env.seq || ack.stream !== this.stream) {
      this.fence(
        new JournalCorruptError(
          `${this.url}`,
          `envelope seq ${item.env.seq} was stored as ${ack.stream} message ${ack.seq}: the stream and the journal disagree`,
        ),
      );
      return;
    }
    // Our envelope at seq N proves every envelope before it is ours too (expectations).
    const idx = this.qStart + (item.env.seq - (this.queue[this.qStart] as Item).env.seq);
    if (this.queue[idx] !== item) return;
    for (let i = this.qStart; i <= idx; i++) this.markAcked(this.queue[i] as Item);
    this.advance();
  }

  private markAcked(item: Item): void {
    if (item.acked) return;
    item.acked = true;
    this.settleDurable(item);
  }

  private settleDurable(item: Item): void {
    if (item.durable) return;
    item.durable = true;
    const op = item.op;
    if (--op.left === 0 && !op.settled) {
      op.settled = true;
      op.resolve();
    }
  }

  /** Drops the acknowledged prefix of the queue; leaves diverted mode when everything is in. */
  private advance(): void {
    let progressed = false;
    while (this.qStart < this.queue.length && (this.queue[this.qStart] as Item).acked) {
      const item = this.queue[this.qStart] as Item;
      this.acked = { seq: item.env.seq, hash: item.env.hash };
      this.qStart++;
      progressed = true;
    }
    if (progressed) {
      this.resyncsWithoutProgress = 0;
      this.retryDelay = this.retryMs;
    }
    if (this.sendIdx < this.qStart) this.sendIdx = this.qStart;
    if (this.qStart > 1024 && this.qStart * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.qStart);
      this.sendIdx -= this.qStart;
      this.qStart = 0;
    }
    if (this.qStart === this.queue.length) {
      for (const w of this.drainWaiters.splice(0)) w();
    }
    this.pump();
  }

  /** First publish on a subject since open: ask the stream for its last message there. */
  private lookup(item: Item): void {
    this.lookupBusy = true;
    const gen = this.gen;
    this.jsm.streams
      .getMessage(this.stream, { last_by_subj: item.subject })
      .then(
        (sm) => {
          // Everything later on this subject was predicted from this item.
          if (item.prevOnSubject === undefined) item.prevOnSubject = sm === null ? 0 : sm.seq;
        },
        (err: unknown) => {
          if (gen === this.gen) this.divert(err);
        },
      )
      .finally(() => {
        this.lookupBusy = false;
        this.pump();
      });
  }

  /** Abandons in-flight publishes; publishing starts again from the first unacknowledged envelope. */
  private restartGeneration(): void {
    this.gen++;
    this.inFlight = 0;
    this.sendIdx = this.qStart;
  }

  /**
   * JetStream did not answer (or not usefully): unacknowledged envelopes go to
   * the outbox, and publishing is retried after a delay.
   */
  private divert(err: unknown): void {
    if (this.failure !== null || this.closed) return;
    this.lastError = errorText(err);
    this.restartGeneration();
    this.diverted = true;
    const pending: Item[] = [];
    for (let i = this.qStart; i < this.queue.length; i++) {
      const item = this.queue[i] as Item;
      if (!item.outboxed && !item.acked) pending.push(item);
    }
    this.toOutbox(pending);
    this.scheduleRetry();
    this.emit();
  }

  private undivert(): void {
    this.diverted = false;
    this.lastError = null;
    if (this.outbox !== null && (this.outbox.length > 0 || this.outboxWrites > 0)) {
      this.outbox.clear().catch((err: unknown) => this.fence(err instanceof Error ? err : new Error(String(err))));
    }
    this.emit();
  }

  private outboxWrites = 0;

  private toOutbox(items: readonly Item[]): void {
    if (this.outbox === null || items.length === 0) return;
    for (const item of items) item.outboxed = true;
    this.outboxWrites++;
    this.outbox.append(items.map((i) => i.env)).then(
      () => {
        this.outboxWrites--;
        for (const item of items) this.settleDurable(item);
      },
      (err: unknown) => {
        this.outboxWrites--;
        this.fence(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  private scheduleRetry(): void {
    this.clearRetry();
    const wait = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, 2000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.pump();
    }, wait);
    this.retryTimer.unref?.();
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /**
   * A publish was refused by an expectation. Compare what the stream holds
   * with what we sent: our own envelopes (an earlier attempt landed) count as
   * acknowledged; anything else is another writer, and fences this journal.
   */
  private resync(refusal: unknown): void {
    if (this.resyncBusy || this.failure !== null) return;
    this.restartGeneration();
    this.resyncBusy = true;
    this.lastError = errorText(refusal);
    void (async () => {
      try {
        const info = await this.jsm.streams.info(this.stream);
        const last = info.state.last_seq;
        this.clustered = (info.config.num_replicas ?? 1) > 1;
        const tailSeq = this.tail?.seq ?? 0;
        for (let i = this.qStart; i < this.queue.length; i++) {
          const item = this.queue[i] as Item;
          if (item.env.seq > last) break;
          if (item.acked) continue;
          const sm = await this.jsm.streams.getMessage(this.stream, { seq: item.env.seq });
          const text = sm === null ? null : decoder.decode(sm.data);
          if (text !== item.canonical) {
            throw new ConcurrencyError(
              `${this.url}: another writer stored seq ${item.env.seq} (${describeStored(text)}) where this journal's event ${item.env.id} goes; refused, not merged`,
              { cause: refusal },
            );
          }
          this.markAcked(item);
        }
        if (last > tailSeq) {
          throw new ConcurrencyError(`${this.url}: the stream ends at seq ${last}, past this journal's head ${tailSeq}: another writer`, {
            cause: refusal,
          });
        }
        if (++this.resyncsWithoutProgress > 5) {
          throw new ConcurrencyError(`${this.url}: JetStream keeps refusing seq ${(this.queue[this.qStart] as Item | undefined)?.env.seq}: ${errorText(refusal)}`, {
            cause: refusal,
          });
        }
        this.resyncBusy = false;
        this.advance();
      } catch (err) {
        this.resyncBusy = false;
        if (err instanceof ConcurrencyError) this.fence(err);
        else this.divert(err);
      }
    })();
  }

  /** Sticky failure: every append not yet durable rejects, and so does every later one. */
  private fence(err: Error): void {
    if (this.failure !== null) return;
    this.failure = err;
    this.restartGeneration();
    this.clearRetry();
    for (let i = this.qStart; i < this.queue.length; i++) {
      const op = (this.queue[i] as Item).op;
      if (!op.settled && !(this.queue[i] as Item).durable) {
        op.settled = true;
        op.reject(err);
      }
    }
    for (const w of this.drainWaiters.splice(0)) w();
    this.emit();
  }

  /** Takes over what a previous run left in the outbox: drops what the stream has, queues the rest. */
  private async adoptOutbox(): Promise<void> {
    const outbox = this.outbox;
    if (outbox === null || outbox.length === 0) return;
    const entries = outbox.entries();
    const streamSeq = this.acked?.seq ?? 0;
    const first = entries[0] as Envelope;
    if (first.seq > streamSeq + 1) {
      throw new JournalCorruptError(outbox.path, `the outbox starts at seq ${first.seq} but the stream ends at seq ${streamSeq}: events are missing`);
    }
    const rest: Envelope[] = [];
    for (const env of entries) {
      if (env.seq <= streamSeq) {
        const sm = await this.jsm.streams.getMessage(this.stream, { seq: env.seq });
        const text = sm === null ? null : decoder.decode(sm.data);
        if (text !== encodeEnvelope(env).canonical) {
          throw new ConcurrencyError(
            `${this.url}: the outbox holds seq ${env.seq} (${env.id}) but the stream holds ${describeStored(text)} there: another writer; the outbox ${outbox.path} is left as it is`,
          );
        }
      } else {
        rest.push(env);
      }
    }
    if (rest.length === 0) {
      await outbox.clear();
      return;
    }
    // The outbox continues the stream: append its remainder as already durable.
    const after = checkAppend(this.acked, rest);
    const op: AppendOp = { left: 0, settled: true, resolve: () => undefined, reject: () => undefined };
    const overlay = new Map<string, number>();
    for (const env of rest) {
      const subject = eventSubject(this.host, env);
      const canonical = encodeEnvelope(env).canonical;
      this.queue.push({
        env,
        subject,
        canonical,
        data: encoder.encode(canonical),
        prevOnSubject: overlay.get(subject),
        acked: false,
        outboxed: true,
        durable: true,
        op,
      });
      overlay.set(subject, env.seq);
    }
    for (const [subject, seq] of overlay) this.subjectLast.set(subject, seq);
    this.tail = after;
    this.diverted = true;
    this.emit();
    this.pump();
  }

  /** Resolves once every accepted envelope is acknowledged by JetStream (or the journal failed / timed out). */
  async flushed(timeoutMs = 30_000): Promise<boolean> {
    if (this.qStart === this.queue.length || this.failure !== null) return this.qStart === this.queue.length;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((r) => this.drainWaiters.push(r)),
      new Promise<void>((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return this.qStart === this.queue.length;
  }

  // -- read -----------------------------------------------------------------

  /**
   * Durable envelopes from `fromSeq`, in seq order: the stream's (read with an
   * ephemeral pull consumer, every message checked) up to what JetStream had
   * acknowledged when read() was called, then those still in the outbox.
   */
  async *read(options?: ReadOptions): AsyncIterable<Envelope> {
    const fromSeq = checkFromSeq(options);
    if (this.closing) throw new VirtFunError('JOURNAL_CLOSED', `${this.url} is closed`);
    const streamEnd = this.acked?.seq ?? 0;
    const local: Envelope[] = [];
    for (let i = this.qStart; i < this.queue.length; i++) {
      const item = this.queue[i] as Item;
      if (!item.durable) break;
      local.push(item.env);
    }
    let prev: JournalHead | null = null;
    if (fromSeq <= streamEnd) {
      const start = Math.max(1, fromSeq - 1);
      for await (const chunk of this.fetchRange(start, streamEnd)) {
        for (const raw of chunk) {
          const text = decoder.decode(raw.data);
          const d = decodeBody(text, false);
          let reason: string | null;
          if (!d.ok) reason = d.reason;
          else if (d.env.seq !== raw.seq) reason = `carries seq ${d.env.seq}`;
          else {
            // The hash is recomputed here, once.
            const before = prev ?? (raw.seq === 1 ? null : { seq: raw.seq - 1, hash: d.env.prevHash });
            reason = chainFault(d.env, before, { hash: sha256Hex, encoding: d.encoding, schema: false, shapeChecked: true });
          }
          if (reason !== null || !d.ok) {
            throw new JournalCorruptError(`${this.stream}:${raw.seq}`, `stream message ${raw.seq} ${reason ?? 'is unreadable'}`);
          }
          prev = { seq: d.env.seq, hash: d.env.hash };
          if (d.env.seq >= fromSeq) yield d.env;
        }
      }
    }
    for (const env of local) {
      if (env.seq > streamEnd && env.seq >= fromSeq) yield env;
    }
  }

  /** Raw stream messages [start, end], in order, retrying a broken consumer from where it stopped. */
  private async *fetchRange(start: number, end: number): AsyncGenerator<RawMsg[]> {
    let next = start;
    let failures = 0;
    while (next <= end) {
      try {
        for await (const chunk of pullRange(this.nc, this.jsm, this.stream, next, end)) {
          next = (chunk[chunk.length - 1] as RawMsg).seq + 1;
          failures = 0;
          yield chunk;
        }
      } catch (err) {
        if (++failures > 5 || this.closed) {
          throw new VirtFunError('JOURNAL_CLOSED', `${this.url}: cannot read the stream from seq ${next}: ${errorText(err)}`, { cause: err });
        }
        await delay(100 * failures);
      }
    }
  }

  /**
   * Waits (up to the ack timeout) for accepted envelopes to become durable,
   * closes the trace sink, the outbox and, when this journal opened it, the
   * connection. Envelopes still only in the outbox stay there for the next
   * open. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closing) {
      while (!this.closed) await delay(5);
      return;
    }
    this.closing = true;
    const deadline = Date.now() + this.ackTimeoutMs;
    const allDurable = (): boolean => {
      for (let i = this.qStart; i < this.queue.length; i++) if (!(this.queue[i] as Item).durable) return false;
      return true;
    };
    while (!allDurable() && this.failure === null && Date.now() < deadline) await delay(2);
    // Give JetStream a moment to take what waits in the outbox when it can.
    if (this.reachable || (this.connected && this.diverted)) await this.flushed(Math.max(0, deadline - Date.now()));
    await this.traces.close();
    this.clearRetry();
    this.closed = true;
    const err = new VirtFunError('JOURNAL_CLOSED', `${this.url} was closed before JetStream acknowledged the event`);
    for (let i = this.qStart; i < this.queue.length; i++) {
      const item = this.queue[i] as Item;
      if (!item.op.settled && !item.durable) {
        item.op.settled = true;
        item.op.reject(err);
      }
    }
    await this.outbox?.close();
    if (this.ownsConnection) await this.nc.close().catch(() => undefined);
    await Promise.race([this.statusLoop, delay(100)]);
  }
}

function describeStored(text: string | null): string {
  if (text === null) return 'nothing';
  const d = decodeBody(text);
  return d.ok ? `event ${d.env.id} of host ${d.env.host}` : `a message that ${d.reason}`;
}

// ---------------------------------------------------------------------------
// Streams

async function ensureEventStream(
  jsm: JetStreamManager,
  o: { stream: string; host: string; replicas: number; readOnly: boolean },
): Promise<StreamInfo | null> {
  const subject = `${EVENT_SUBJECT_PREFIX}.${o.host}.>`;
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(o.stream);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    if (o.readOnly) return null;
    const cfg: Partial<StreamConfig> & { name: string } = {
      name: o.stream,
      description: `vFunD control events of host ${o.host} (one writer; seq = journal seq)`,
      subjects: [subject],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_msgs: -1,
      max_bytes: -1,
      max_age: 0,
      num_replicas: o.replicas,
      deny_delete: true,
      deny_purge: true,
      allow_rollup_hdrs: false,
      allow_direct: true,
      duplicate_window: 120_000 * NANOS_PER_MS,
    };
    try {
      info = await jsm.streams.add(cfg);
    } catch (addErr) {
      // Someone created it meanwhile: use theirs (checked below).
      try {
        info = await jsm.streams.info(o.stream);
      } catch {
        throw addErr;
      }
    }
  }
  const c = info.config;
  const subjects = c.subjects ?? [];
  if (subjects.length !== 1 || subjects[0] !== subject) {
    throw new VirtFunError(
      'CONFIG',
      `stream ${o.stream} captures ${JSON.stringify(subjects)}; a journal stream must capture exactly ["${subject}"] (one stream per host)`,
    );
  }
  if (c.deny_delete !== true || c.deny_purge !== true) {
    throw new VirtFunError('CONFIG', `stream ${o.stream} must have deny_delete and deny_purge set (it is a journal)`);
  }
  if ((c.max_msgs ?? -1) > 0 || (c.max_bytes ?? -1) > 0 || (c.max_age ?? 0) > 0 || (c.max_msgs_per_subject ?? -1) > 0) {
    throw new VirtFunError('CONFIG', `stream ${o.stream} has limits (max_msgs/max_bytes/max_age/max_msgs_per_subject): a journal must keep every event`);
  }
  return info;
}

async function ensureTraceStream(jsm: JetStreamManager, o: { stream: string; replicas: number; maxAgeMs: number }): Promise<void> {
  try {
    await jsm.streams.info(o.stream);
    return;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    await jsm.streams.add({
      name: o.stream,
      description: 'vFunD per-call trace batches (limits-based retention)',
      subjects: [`${TRACE_SUBJECT_PREFIX}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: o.maxAgeMs * NANOS_PER_MS,
      num_replicas: o.replicas,
      duplicate_window: Math.min(120_000, o.maxAgeMs) * NANOS_PER_MS,
    });
  } catch (err) {
    await jsm.streams.info(o.stream).catch(() => {
      throw err;
    });
  }
}

/** The stream's last message as a journal head, after checking the stream is a gap-free chain store. */
async function streamHead(jsm: JetStreamManager, stream: string, info: StreamInfo): Promise<JournalHead | null> {
  const st = info.state;
  if (st.last_seq === 0) return null;
  if (st.first_seq !== 1 || st.messages !== st.last_seq) {
    throw new JournalCorruptError(stream, `holds ${st.messages} messages from seq ${st.first_seq} to ${st.last_seq}: a journal stream has no gaps`);
  }
  const sm = await jsm.streams.getMessage(stream, { seq: st.last_seq });
  if (sm === null) throw new JournalCorruptError(`${stream}:${st.last_seq}`, 'the last message cannot be read');
  const d = decodeBody(decoder.decode(sm.data));
  if (!d.ok) throw new JournalCorruptError(`${stream}:${st.last_seq}`, `the last message ${d.reason}`);
  if (d.env.seq !== st.last_seq) {
    throw new JournalCorruptError(`${stream}:${st.last_seq}`, `the last message carries seq ${d.env.seq}: the stream and the journal disagree`);
  }
  return { seq: d.env.seq, hash: d.env.hash };
}

// ---------------------------------------------------------------------------
// Reading: one ephemeral pull consumer (ack none), batched pulls

interface RawMsg {
  readonly seq: number;
  readonly data: Uint8Array;
}

const PULL_BATCH = 2048;
const READ_IDLE_MS = 10_000;

async function* pullRange(nc: NatsConnection, jsm: JetStreamManager, stream: string, from: number, end: number): AsyncGenerator<RawMsg[]> {
  const ci = await jsm.consumers.add(stream, {
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: from,
    mem_storage: true,
    num_replicas: 1,
    inactive_threshold: 30_000 * NANOS_PER_MS,
  });
  const nextSubject = `$JS.API.CONSUMER.MSG.NEXT.${stream}.${ci.name}`;
  const inbox = createInbox();
  let buf: RawMsg[] = [];
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  let expected = from;
  let requestedTo = from - 1;
  const notify = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  const maybePull = (): void => {
    // Keep about two batches requested ahead of what was received, and the buffer bounded.
    while (requestedTo < end && requestedTo - expected < 3 * PULL_BATCH && buf.length < 4 * PULL_BATCH) {
      const n = Math.min(PULL_BATCH, end - requestedTo);
      nc.publish(nextSubject, JSON.stringify({ batch: n, expires: 30_000 * NANOS_PER_MS }), { reply: inbox });
      requestedTo += n;
    }
  };
  const sub = nc.subscribe(inbox, {
    callback: (err, m: Msg) => {
      if (failure !== null) return;
      if (err !== null) {
        failure = err;
        notify();
        return;
      }
      // Only status messages have an empty body (ours never do): headers are parsed only for them.
      const code = m.data.length === 0 ? (m.headers?.code ?? 0) : 0;
      if (code !== 0) {
        if (code === 100) {
          if (m.reply !== undefined && m.reply !== '') m.respond();
          return;
        }
        failure = new Error(`consumer status ${code} ${m.headers?.description ?? ''}`);
        notify();
        return;
      }
      const seq = streamSeqOfReply(m.reply);
      if (seq !== expected) {
        failure = new Error(`consumer delivered stream seq ${seq} where ${expected} was expected`);
        notify();
        return;
      }
      expected++;
      buf.push({ seq, data: m.data });
      if (buf.length === 1 || expected > end) notify();
    },
  });
  try {
    maybePull();
    for (;;) {
      if (buf.length > 0) {
        const chunk = buf;
        buf = [];
        maybePull();
        yield chunk;
        if ((chunk[chunk.length - 1] as RawMsg).seq >= end) return;
        continue;
      }
      if (failure !== null) throw failure;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(() => {
          failure ??= new Error(`no message from the stream for ${READ_IDLE_MS} ms (at seq ${expected})`);
          resolve();
        }, READ_IDLE_MS);
      });
      clearTimeout(timer);
    }
  } finally {
    sub.unsubscribe();
    await jsm.consumers.delete(stream, ci.name).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------
// Traces

/** One per-call trace record. `tenant`/`app`/`fn` choose the subject; everything else is the caller's. */
export interface TraceRecord {
  readonly tenant?: string | null;
  readonly app?: string | null;
  readonly fn?: string | null;
  readonly [key: string]: unknown;
}

export interface TraceSinkOptions {
  /** Records per message (a batch is published when it is full). Default 2048. */
  readonly maxBatch?: number;
  /** A partly filled batch is published after this long. Default 50 ms. */
  readonly flushMs?: number;
  /** Records kept in memory while JetStream does not take them; the oldest batches are dropped past it. Default 1,000,000. */
  readonly maxBuffered?: number;
  /** Batches published and not yet acknowledged at once. Default 32. */
  readonly maxInFlight?: number;
}

export interface TraceSinkStats {
  readonly pushed: number;
  /** Records in batches JetStream acknowledged. */
  readonly published: number;
  readonly batches: number;
  /** Records dropped (memory bound reached, or a batch failed too often). */
  readonly dropped: number;
  /** Records in memory, not yet acknowledged. */
  readonly buffered: number;
}

interface TraceBatch {
  readonly subject: string;
  readonly tenant: string | null;
  readonly app: string | null;
  readonly fn: string | null;
  records: TraceRecord[];
  attempts: number;
  id: string;
}

/**
 * Per-call trace records, batched many per message on
 * `vfun.trace.<host>.<tenant>.<app>.<fn>`. `push()` only appends to memory
 * (the call path never waits for I/O); full batches are published on the next
 * turn of the event loop, partial ones every `flushMs`. Each message is the
 * JSON `{"v":1,"host","tenant","app","fn","count","records":[...]}` with a
 * msg-id, so a retried batch is stored once. Traces are best effort: when
 * JetStream stays away, memory is bounded by dropping the oldest batches
 * (counted in `stats.dropped`).
 */
export class TraceSink {
  private readonly host: string;
  private readonly hostJson: string;
  private readonly maxBatch: number;
  private readonly flushMs: number;
  private readonly maxBuffered: number;
  private readonly maxInFlight: number;
  private readonly ackTimeoutMs: number;
  private readonly open = new Map<string | null, Map<string | null, Map<string | null, TraceBatch>>>();
  private ready: TraceBatch[] = [];
  private readonly sinkId = nuid.next();
  private batchNo = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private counts = { pushed: 0, published: 0, batches: 0, dropped: 0, buffered: 0 };

  constructor(
    private readonly js: JetStreamClient,
    options: TraceSinkOptions & { readonly host: string; readonly stream: string; readonly ackTimeoutMs?: number },
  ) {
    this.host = options.host;
    this.hostJson = JSON.stringify(options.host);
    this.maxBatch = options.maxBatch ?? 2048;
    this.flushMs = options.flushMs ?? 50;
    this.maxBuffered = options.maxBuffered ?? 1_000_000;
    this.maxInFlight = options.maxInFlight ?? 32;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 2000;
  }

  get stats(): TraceSinkStats {
    return { ...this.counts };
  }

  /** Adds a record to its batch, in memory. Never blocks, never throws for I/O. */
  push(record: TraceRecord): void {
    if (this.closed) {
      this.counts.dropped++;
      return;
    }
    const tenant = record.tenant ?? null;
    const app = record.app ?? null;
    const fn = record.fn ?? null;
    let byApp = this.open.get(tenant);
    if (byApp === undefined) this.open.set(tenant, (byApp = new Map()));
    let byFn = byApp.get(app);
    if (byFn === undefined) byApp.set(app, (byFn = new Map()));
    let batch = byFn.get(fn);
    if (batch === undefined) {
      batch = { subject: traceSubject(this.host, { tenant, app, fn }), tenant, app, fn, records: [], attempts: 0, id: '' };
      byFn.set(fn, batch);
    }
    batch.records.push(record);
    this.counts.pushed++;
    this.counts.buffered++;
    if (batch.records.length >= this.maxBatch) {
      this.seal(batch);
      if (this.immediate === null) this.immediate = setImmediate(() => ((this.immediate = null), this.pump()));
    } else if (this.timer === null) {
      this.timer = setTimeout(() => ((this.timer = null), this.flushOpen()), this.flushMs);
      this.timer.unref?.();
    }
  }

  /** Moves a batch's records to the ready queue. */
  private seal(batch: TraceBatch): void {
    if (batch.records.length === 0) return;
    this.ready.push({ ...batch, records: batch.records, attempts: 0, id: `${this.sinkId}.${++this.batchNo}` });
    batch.records = [];
    while (this.counts.buffered > this.maxBuffered && this.ready.length > 1) {
      const dropped = this.ready.shift() as TraceBatch;
      this.counts.dropped += dropped.records.length;
      this.counts.buffered -= dropped.records.length;
    }
  }

  private flushOpen(): void {
    for (const byApp of this.open.values()) for (const byFn of byApp.values()) for (const b of byFn.values()) this.seal(b);
    this.pump();
  }

  private pump(): void {
    while (this.ready.length > 0 && this.inFlight < this.maxInFlight) {
      const batch = this.ready.shift() as TraceBatch;
      this.publish(batch);
    }
    if (this.ready.length === 0 && this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private encode(batch: TraceBatch): string {
    return (
      `{"v":1,"host":${this.hostJson},"tenant":${JSON.stringify(batch.tenant)},"app":${JSON.stringify(batch.app)},` +
      `"fn":${JSON.stringify(batch.fn)},"count":${batch.records.length},"records":${JSON.stringify(batch.records)}}`
    );
  }

  private publish(batch: TraceBatch): void {
    this.inFlight++;
    batch.attempts++;
    let body: string;
    try {
      body = this.encode(batch);
    } catch {
      // a record JSON cannot hold (bigint, cycle): the batch is lost, not the sink
      this.inFlight--;
      this.counts.dropped += batch.records.length;
      this.counts.buffered -= batch.records.length;
      return;
    }
    this.js.publish(batch.subject, body, { msgID: batch.id, timeout: this.ackTimeoutMs }).then(
      () => {
        this.inFlight--;
        this.counts.published += batch.records.length;
        this.counts.buffered -= batch.records.length;
        this.counts.batches++;
        this.pump();
      },
      () => {
        this.inFlight--;
        if (batch.attempts >= 5 || this.closed) {
          this.counts.dropped += batch.records.length;
          this.counts.buffered -= batch.records.length;
          this.pump();
        } else {
          this.ready.unshift(batch);
          const t = setTimeout(() => this.pump(), 100 * batch.attempts);
          t.unref?.();
        }
      },
    );
  }

  /** Publishes everything pushed so far and waits for JetStream to acknowledge it (or give up on it). */
  async flush(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.flushOpen();
    if (this.ready.length === 0 && this.inFlight === 0) return;
    await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  /** Flushes, then refuses further records (they are counted as dropped). */
  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.race([this.flush(), delay(this.ackTimeoutMs * 2)]);
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
  }
}

// ---------------------------------------------------------------------------
// URLs

/** Query parameters a `nats://` journal URL may carry, and the option each sets. */
const URL_PARAMS = ['stream', 'traceStream', 'host', 'replicas', 'outbox', 'failClosed', 'ackTimeoutMs'] as const;

/**
 * Parses `nats://host:port[,host:port…][?stream=…&traceStream=…&host=…&replicas=…&outbox=…&failClosed=…&ackTimeoutMs=…]`
 * into journal options. Throws VirtFunError('JOURNAL_URL') naming what is wrong.
 */
export function parseJetStreamUrl(url: string): JetStreamJournalOptions & { servers: string[] } {
  if (!url.startsWith('nats://')) throw new VirtFunError('JOURNAL_URL', `journal URL '${url}' does not start with nats://`);
  const rest = url.slice('nats://'.length);
  const q = rest.indexOf('?');
  const authority = q === -1 ? rest : rest.slice(0, q);
  const servers = authority
    .replace(/\/+$/, '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (servers.length === 0) throw new VirtFunError('JOURNAL_URL', `journal URL '${url}' names no server`);
  for (const s of servers) {
    if (!/^[A-Za-z0-9.\-_[\]:]+$/.test(s)) throw new VirtFunError('JOURNAL_URL', `journal URL '${url}': '${s}' is not host:port`);
  }
  const params = new URLSearchParams(q === -1 ? '' : rest.slice(q + 1));
  const out: { -readonly [K in keyof JetStreamJournalOptions]: JetStreamJournalOptions[K] } = {};
  for (const [key, value] of params) {
    if (!(URL_PARAMS as readonly string[]).includes(key)) {
      throw new VirtFunError('JOURNAL_URL', `journal URL '${url}': unknown parameter '${key}' (known: ${URL_PARAMS.join(', ')})`);
    }
    const int = (): number => {
      const n = Number(value);
      if (!Number.isSafeInteger(n) || n < 1) throw new VirtFunError('JOURNAL_URL', `journal URL '${url}': ${key} must be a positive integer`);
      return n;
    };
    switch (key as (typeof URL_PARAMS)[number]) {
      case 'stream':
        out.stream = value;
        break;
      case 'traceStream':
        out.traceStream = value;
        break;
      case 'host':
        out.host = value;
        break;
      case 'replicas':
        out.replicas = int();
        break;
      case 'outbox':
        out.outbox = value;
        break;
      case 'ackTimeoutMs':
        out.ackTimeoutMs = int();
        break;
      case 'failClosed':
        if (value !== 'true' && value !== 'false') throw new VirtFunError('JOURNAL_URL', `journal URL '${url}': failClosed must be true or false`);
        out.failClosed = value === 'true';
        break;
    }
  }
  return { ...out, servers: servers.map((s) => `nats://${s}`) };
}
