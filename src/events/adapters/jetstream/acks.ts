/**
 * The acknowledgement stream (docs/jetstream.md, "Damaged messages"):
 * `VFUN_ACK`, subjects `vfun.ack.<host>`, no limits, deny_delete and
 * deny_purge, written by admins only (server-config.ts). Loading a host's
 * acknowledgements (vFunD and readers, at open), and publishing one (the
 * `vfun audit acknowledge` command).
 */
import { AckPolicy, DeliverPolicy, JetStreamApiError, jetstream, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { acknowledgementsOf, type AcknowledgedDamage, type DamageAck } from './damage.js';
import { ACK_SUBJECT_PREFIX } from './server-config.js';
import { KEPT_FOREVER, NANOS_PER_MS } from './streams.js';

const decoder = new TextDecoder();

/** `vfun.ack.<host>` */
export function ackSubject(host: string): string {
  return `${ACK_SUBJECT_PREFIX}.${host}`;
}

function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === 10059 || err.status === 404);
}

/** The acknowledgements of `host`'s `stream` (empty when the acknowledgement stream does not exist). */
export async function loadAcknowledgements(
  nc: NatsConnection,
  jsm: JetStreamManager,
  o: { readonly ackStream: string; readonly host: string; readonly stream: string },
): Promise<Map<number, AcknowledgedDamage>> {
  const subject = ackSubject(o.host);
  let count: number;
  try {
    const info = await jsm.streams.info(o.ackStream, { subjects_filter: subject });
    count = info.state.subjects?.[subject] ?? 0;
  } catch (err) {
    if (isNotFound(err)) return new Map();
    throw err;
  }
  if (count === 0) return new Map();
  const ci = await jsm.consumers.add(o.ackStream, {
    filter_subject: subject,
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All,
    mem_storage: true,
    num_replicas: 1,
    inactive_threshold: 30_000 * NANOS_PER_MS,
  });
  const records: { text: string; ref: string }[] = [];
  try {
    const consumer = await jetstream(nc).consumers.get(o.ackStream, ci.name);
    while (records.length < count) {
      const batch = await consumer.fetch({ max_messages: count - records.length, expires: 5000 });
      let got = 0;
      for await (const m of batch) {
        records.push({ text: decoder.decode(m.data), ref: `${o.ackStream}:${m.seq}` });
        got++;
      }
      if (got === 0) throw new Error(`${o.ackStream}: ${count} acknowledgements announced, ${records.length} delivered`);
    }
  } finally {
    await jsm.consumers.delete(o.ackStream, ci.name).catch(() => undefined);
  }
  return acknowledgementsOf(records, o.stream, o.host);
}

/** Creates the acknowledgement stream when missing (admin credentials). */
export async function ensureAckStream(jsm: JetStreamManager, ackStream: string, replicas = 1): Promise<void> {
  try {
    await jsm.streams.info(ackStream);
    return;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  await jsm.streams.add({
    name: ackStream,
    description: 'VirtFun: operators\' acknowledgements of damaged journal messages',
    subjects: [`${ACK_SUBJECT_PREFIX}.>`],
    ...KEPT_FOREVER,
    num_replicas: replicas,
  });
}

/** Publishes an acknowledgement (canonical field order); returns its `<stream>:<seq>`. */
export async function publishAcknowledgement(nc: NatsConnection, ackStream: string, ack: DamageAck): Promise<string> {
  const ordered = Object.fromEntries(Object.entries(ack).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const pa = await jetstream(nc).publish(ackSubject(ack.host), JSON.stringify(ordered), {
    msgID: `ack-${ack.stream}-${ack.seq}-${ack.sha256.slice(0, 16)}`,
    expect: { streamName: ackStream },
  });
  return `${ackStream}:${pa.seq}`;
}
