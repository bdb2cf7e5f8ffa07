/**
 * The trace sink of the JetStream journal (docs/jetstream.md, "Traces"):
 * per-call trace records, batched in memory by (tenant, app, fn) and published
 * many per message on the shared trace stream. Best effort, bounded memory.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { nuid } from '@nats-io/transport-node';
import { traceSubject } from './subjects.js';
import { within } from './support.js';

/** One per-call trace record. `tenant`/`app`/`fn` choose the subject; everything else is the caller's. */
export interface TraceRecord {
  readonly tenant?: string | null;
  readonly app?: string | null;
  readonly fn?: string | null;
  readonly [key: string]: unknown;
}

/** Options of a TraceSink (`trace` in the journal's options). */
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

/** Counters of a TraceSink, in records. */
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

  /** A copy of the counters. */
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

  /** Flushes (waiting at most twice the ack timeout, and no longer than the flush), then refuses further records (they are counted as dropped). */
  async close(): Promise<void> {
    if (this.closed) return;
    await within(this.flush(), this.ackTimeoutMs * 2);
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
  }
}
