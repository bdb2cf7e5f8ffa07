/**
 * The JetStream journal's streams (docs/jetstream.md, "Streams and subjects"):
 * the per-host control-event stream (created with file storage, deny_delete,
 * deny_purge and no limits; an existing one is accepted only with those:
 * stream-check.ts), the
 * shared trace stream (limits-based), the head of the event stream, read
 * and verified on open, and what a previous run's outbox holds beyond it.
 */
import { writerHostFault } from '../../host-check.js';
import { DiscardPolicy, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import { ConcurrencyError, JournalCorruptError } from '../../../errors.js';
import { encodeEnvelope } from '../../canonical.js';
import { decodeStored } from '../../chain.js';
import { GENESIS_HASH, type Envelope } from '../../envelope.js';
import type { JournalHead } from '../../journal.js';
import type { Outbox } from '../outbox.js';
import { DamagedMessageError, judgeDamage, type AcknowledgedDamage } from './damage.js';
import { describeStored } from './publish-state.js';
import { rawSha256 } from './support.js';
import { STREAM_CREATED_HEADER, StreamConfigError, describeFault, journalStateFaults, journalStreamFaults, recreatedFault } from './stream-check.js';
import { EVENT_SUBJECT_PREFIX, TRACE_SUBJECT_PREFIX } from './subjects.js';

/** JetStream durations are in nanoseconds. */
/**
 * The limits of a stream whose messages are evidence: on file, never
 * discarded by any limit, never deleted nor purged (the event stream and the
 * acknowledgement stream).
 */
export const KEPT_FOREVER = {
  storage: StorageType.File,
  retention: RetentionPolicy.Limits,
  discard: DiscardPolicy.Old,
  max_msgs: -1,
  max_bytes: -1,
  max_age: 0,
  deny_delete: true,
  deny_purge: true,
} as const;

export const NANOS_PER_MS = 1_000_000;

const decoder = new TextDecoder();

function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === 10059 || err.status === 404);
}

/**
 * The host's control-event stream, created when missing (unless `readOnly`:
 * then null), and checked (stream-check.ts): it captures exactly
 * `vfun.evt.<host>.>`, denies deletes and purges, has no limits, no rollups,
 * no sources. Else StreamConfigError (code CONFIG) naming every field.
 */
export async function ensureEventStream(
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
      ...KEPT_FOREVER,
      num_replicas: o.replicas,
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
  const faults = journalStreamFaults(info.config, subject);
  if (faults.length > 0) {
    throw new StreamConfigError(o.stream, faults, ' (a journal keeps every event, one host per stream: someone with stream-update rights changed it; events may be lost already)');
  }
  return info;
}

/** The shared trace stream (`vfun.trace.>`, limits, `max_age`), created when missing. */
export async function ensureTraceStream(jsm: JetStreamManager, o: { stream: string; replicas: number; maxAgeMs: number }): Promise<void> {
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

/**
 * Refuses a re-created stream: its first and last messages must have been
 * published into this stream (their STREAM_CREATED_HEADER is its `created`
 * time), else StreamConfigError naming `created`. Messages without the header
 * (older journals, foreign messages) cannot tell.
 */
export async function checkStreamIdentity(jsm: JetStreamManager, stream: string, info: StreamInfo): Promise<void> {
  const st = info.state;
  if (st.last_seq === 0) return;
  for (const seq of st.first_seq === st.last_seq ? [st.last_seq] : [st.first_seq, st.last_seq]) {
    const sm = await jsm.streams.getMessage(stream, { seq });
    if (sm === null) continue;
    const recorded = sm.header?.get(STREAM_CREATED_HEADER) ?? '';
    const fault = recreatedFault(info.created, recorded === '' ? null : recorded, seq);
    if (fault !== null) throw new StreamConfigError(stream, [fault], ' (signed checkpoints and a witness show what the journal held before)');
  }
}

/**
 * The stream's last message as a journal head, after checking the stream is a
 * gap-free chain store. A damaged last message is DamagedMessageError (with
 * the way out), unless acknowledged: then the head is its acknowledged event.
 */
export async function streamHead(
  jsm: JetStreamManager,
  o: { readonly stream: string; readonly url: string; readonly acks: ReadonlyMap<number, AcknowledgedDamage>; readonly writerHost?: string },
  info: StreamInfo,
): Promise<JournalHead | null> {
  const { stream } = o;
  const st = info.state;
  if (st.last_seq === 0) return null;
  const gaps = journalStateFaults(st);
  if (gaps.length > 0) {
    throw new JournalCorruptError(stream, `holds ${st.messages} messages from seq ${st.first_seq} to ${st.last_seq}: a journal stream has no gaps (${gaps.map(describeFault).join('; ')})`);
  }
  const sm = await jsm.streams.getMessage(stream, { seq: st.last_seq });
  if (sm === null) throw new JournalCorruptError(`${stream}:${st.last_seq}`, 'the last message cannot be read');
  const d = decodeStored(decoder.decode(sm.data));
  const fault = !d.ok ? d.reason : d.env.seq !== st.last_seq ? `carries seq ${d.env.seq}: the stream and the journal disagree` : null;
  if (fault === null && d.ok) {
    // A writer continues only its own host's journal (host-check.ts).
    const other = o.writerHost === undefined ? null : writerHostFault(d.env, { host: o.writerHost });
    if (other !== null) throw other;
    return { seq: d.env.seq, hash: d.env.hash };
  }
  const sha = rawSha256(sm.data);
  const judged = judgeDamage(o.acks.get(st.last_seq), sha, st.last_seq === 1 ? GENESIS_HASH : null);
  if (!judged.ok) throw new DamagedMessageError(stream, st.last_seq, fault ?? 'is unreadable', sha, null, o.url, judged.note);
  return { seq: st.last_seq, hash: judged.event.hash };
}

/**
 * The envelopes a previous run left in the outbox that the stream (ending at
 * `streamSeq`) does not hold yet. Those it holds must be byte-identical to ours,
 * else ConcurrencyError (another writer; the outbox is left as it is); an outbox
 * that starts past the stream's end is JournalCorruptError (events are missing).
 */
export async function outboxRemainder(jsm: JetStreamManager, o: { stream: string; url: string; streamSeq: number }, outbox: Outbox): Promise<Envelope[]> {
  const entries = outbox.entries();
  const first = entries[0];
  if (first === undefined) return [];
  if (first.seq > o.streamSeq + 1) {
    throw new JournalCorruptError(outbox.path, `the outbox starts at seq ${first.seq} but the stream ends at seq ${o.streamSeq}: events are missing`);
  }
  const rest: Envelope[] = [];
  for (const env of entries) {
    if (env.seq > o.streamSeq) {
      rest.push(env);
      continue;
    }
    const sm = await jsm.streams.getMessage(o.stream, { seq: env.seq });
    const text = sm === null ? null : decoder.decode(sm.data);
    if (text !== encodeEnvelope(env).canonical) {
      throw new ConcurrencyError(
        `${o.url}: the outbox holds seq ${env.seq} (${env.id}) but the stream holds ${describeStored(text)} there: another writer; the outbox ${outbox.path} is left as it is`,
      );
    }
  }
  return rest;
}
