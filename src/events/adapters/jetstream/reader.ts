/**
 * The verifying reader of the JetStream journal (docs/jetstream.md, "Opening,
 * head and read"): one ephemeral pull consumer (ack none, memory storage, R1)
 * walking the stream sequence with batched pulls, every delivery checked for
 * its stream sequence (no gap, no repeat) and every message checked like a
 * file-journal line (canonical JSON, hash, seq, prevHash). A consumer that
 * breaks is recreated from where it stopped, up to five times in a row.
 */
import { AckPolicy, DeliverPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { createInbox, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { VirtFunError } from '../../../errors.js';
import { chainFault, decodeStored, envelopeShapeFault } from '../../chain.js';
import { GENESIS_HASH, type Envelope } from '../../envelope.js';
import type { JournalHead } from '../../journal.js';
import { nativeSha256Hex as sha256Hex, nativeStoredSealed } from '../native-hash.js';
import { DamagedMessageError, judgeDamage, type AcknowledgedDamage } from './damage.js';
import { NANOS_PER_MS } from './streams.js';
import { delay, errorText, rawSha256 } from './support.js';

/** Where the reader reads: the journal's connection and stream. */
export interface StreamSource {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly stream: string;
  /** The journal's URL, for errors. */
  readonly url: string;
  /** The journal was closed: a broken consumer is not recreated. */
  readonly closed: () => boolean;
  /** Acknowledged damaged messages, by stream sequence (damage.ts). */
  readonly acks: ReadonlyMap<number, AcknowledgedDamage>;
}


interface RawMsg {
  readonly seq: number;
  readonly data: Uint8Array;
}

const PULL_BATCH = 2048;
const READ_IDLE_MS = 10_000;
const decoder = new TextDecoder();

/**
 * Stream sequence from a JetStream ack reply subject:
 *   v1 `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` (9 tokens),
 *   v2 `$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>[.<token>]`.
 * Without split(): this runs once per replayed message.
 */
export function streamSeqOfReply(reply: string | undefined): number {
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

/**
 * Envelopes of the stream from `fromSeq` to `end`, in seq order, each checked
 * (reading from `fromSeq` also reads `fromSeq - 1`, to check the link). A bad
 * message throws DamagedMessageError (a JournalCorruptError) naming its stream
 * sequence and the way out, unless it is acknowledged: then its
 * `journal.damage-acknowledged` event comes in its place and the chain goes
 * on from that event.
 */
export async function* readVerified(source: StreamSource, fromSeq: number, end: number): AsyncGenerator<Envelope> {
  let prev: JournalHead | null = null;
  const start = Math.max(1, fromSeq - 1);
  const sealed = nativeStoredSealed();
  for await (const chunk of fetchRange(source, start, end)) {
    for (const raw of chunk) {
      const text = decoder.decode(raw.data);
      // Fast path: the addon found the bytes canonical with a hash that recomputes; what is left
      // (JSON, shape, seq, link) is checked here. Anything else takes the full check below, which
      // alone writes the reasons.
      const fast = sealed !== null && sealed(raw.data) ? parsedEnvelope(text) : null;
      if (fast !== null && fast.seq === raw.seq && links(fast, prev)) {
        prev = { seq: fast.seq, hash: fast.hash };
        if (fast.seq >= fromSeq) yield fast;
        continue;
      }
      const d = decodeStored(text, false);
      let reason: string | null;
      if (!d.ok) reason = d.reason;
      else if (d.env.seq !== raw.seq) reason = `carries seq ${d.env.seq}`;
      else {
        // The hash is recomputed here, once.
        const before = prev ?? (raw.seq === 1 ? null : { seq: raw.seq - 1, hash: d.env.prevHash });
        reason = chainFault(d.env, before, { hash: sha256Hex, encoding: d.encoding, schema: false, shapeChecked: true });
      }
      if (reason !== null || !d.ok) {
        const sha = rawSha256(raw.data);
        const before = prev?.hash ?? (raw.seq === 1 ? GENESIS_HASH : null);
        const judged = judgeDamage(source.acks.get(raw.seq), sha, before);
        if (!judged.ok) throw new DamagedMessageError(source.stream, raw.seq, reason ?? 'is unreadable', sha, before, source.url, judged.note);
        prev = { seq: raw.seq, hash: judged.event.hash };
        if (raw.seq >= fromSeq) yield judged.event;
        continue;
      }
      prev = { seq: d.env.seq, hash: d.env.hash };
      if (d.env.seq >= fromSeq) yield d.env;
    }
  }
}

/** `text` (bytes storedSealed accepted: hash and prevHash are hex) parsed, when it is shaped like an envelope; null otherwise. */
function parsedEnvelope(text: string): Envelope | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  return envelopeShapeFault(value, true) === null ? (value as Envelope) : null;
}

/** `env` (at its own stream sequence) follows `prev` as chainFault requires: seq, then prevHash (genesis at seq 1). */
function links(env: Envelope, prev: JournalHead | null): boolean {
  if (prev !== null) return env.seq === prev.seq + 1 && env.prevHash === prev.hash;
  return env.seq !== 1 || env.prevHash === GENESIS_HASH;
}

/** Raw stream messages [start, end], in order, retrying a broken consumer from where it stopped. */
async function* fetchRange(source: StreamSource, start: number, end: number): AsyncGenerator<RawMsg[]> {
  let next = start;
  let failures = 0;
  while (next <= end) {
    try {
      for await (const chunk of pullRange(source, next, end)) {
        next = (chunk[chunk.length - 1] as RawMsg).seq + 1;
        failures = 0;
        yield chunk;
      }
    } catch (err) {
      if (++failures > 5 || source.closed()) {
        throw new VirtFunError('JOURNAL_CLOSED', `${source.url}: cannot read the stream from seq ${next}: ${errorText(err)}`, { cause: err });
      }
      await delay(100 * failures);
    }
  }
}

/** One ephemeral pull consumer over [from, end]: batches of messages as they arrive. */
async function* pullRange(source: StreamSource, from: number, end: number): AsyncGenerator<RawMsg[]> {
  const { nc, jsm, stream } = source;
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
