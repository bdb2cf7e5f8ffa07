/**
 * Following the JetStream journal as vFunD publishes to it (`vfun audit
 * --follow`): an ordered consumer of the journal's stream from the seq after
 * the last event read, each message checked as the reader checks it (its
 * stream sequence is its seq, canonical envelope, hash, prevHash continuity).
 * The ordered consumer is the client's own: it recreates itself from where it
 * stopped when the server restarts or a message is missed, so nothing is
 * skipped or delivered twice. A damaged message stops following with a
 * JournalCorruptError (`vfun audit` without --follow shows it, or its
 * acknowledgement: docs/jetstream.md, "Damaged messages").
 */
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { JournalCorruptError } from '../../../errors.js';
import { chainFault, decodeStored } from '../../chain.js';
import type { Envelope } from '../../envelope.js';
import type { JournalHead } from '../../journal.js';
import { nativeSha256Hex as sha256Hex } from '../native-hash.js';

/** Where to follow: the journal's connection and stream (JetStreamJournal's `connection` and `stream`). */
export interface FollowedStream {
  readonly nc: NatsConnection;
  readonly stream: string;
  /** The journal's URL, for errors. */
  readonly url: string;
}

const decoder = new TextDecoder();

/** The stream's events after `after` (null: from seq 1) as they are published, until `signal` aborts. */
export async function* followJetStream(source: FollowedStream, after: JournalHead | null, signal: AbortSignal): AsyncGenerator<Envelope> {
  if (signal.aborted) return;
  const js = jetstream(source.nc);
  const consumer = await js.consumers.get(source.stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: (after?.seq ?? 0) + 1 });
  const messages = await consumer.consume();
  const stop = (): void => void messages.close().catch(() => undefined);
  signal.addEventListener('abort', stop, { once: true });
  let prev = after;
  try {
    for await (const m of messages) {
      const where = `${source.url} (stream ${source.stream}, seq ${m.seq})`;
      const d = decodeStored(decoder.decode(m.data), false);
      let fault: string | null;
      if (!d.ok) fault = d.reason;
      else if (d.env.seq !== m.seq) fault = `carries seq ${d.env.seq}`;
      else fault = chainFault(d.env, prev, { hash: sha256Hex, encoding: d.encoding, schema: false, shapeChecked: true });
      if (fault !== null || !d.ok) {
        throw new JournalCorruptError(where, `the message does not follow seq ${prev?.seq ?? 0}: ${fault ?? 'is unreadable'}; run \`vfun audit\` without --follow to see it, or \`vfun audit verify\``);
      }
      prev = { seq: d.env.seq, hash: d.env.hash };
      yield d.env;
      if (signal.aborted) return;
    }
  } finally {
    signal.removeEventListener('abort', stop);
    await messages.close().catch(() => undefined);
  }
}
