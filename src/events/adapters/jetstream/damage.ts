/**
 * Damaged messages in a journal stream, and the way out that leaves evidence
 * (docs/jetstream.md, "Damaged messages"). Pure.
 *
 * A message that is not an envelope, or whose hash, seq or prevHash is wrong,
 * stops vFunD and every reader with DamagedMessageError, which names the
 * message (stream sequence, what is wrong, SHA-256 of its bytes) and the
 * command that acknowledges it. An operator with admin credentials who knows
 * why it is there runs that command: it publishes an acknowledgement record
 * (DamageAck) on `vfun.ack.<host>` in a stream of its own. From then on the
 * message stays where it is, untouched, and readers put in its place the
 * event `journal.damage-acknowledged`, built from the acknowledgement alone
 * (its prevHash is the chain before the damage, so its hash is fixed by the
 * record); the chain continues from that event's hash, and vFunD appends
 * after it. The acknowledgement holds only for those exact bytes.
 */
import { JournalCorruptError } from '../../../errors.js';
import { encodeEnvelope, sha256Hex } from '../../canonical.js';
import { isHash } from '../../chain.js';
import type { Envelope } from '../../envelope.js';

/** An acknowledgement record, as published on `vfun.ack.<host>` (canonical JSON). */
export interface DamageAck {
  readonly v: 1;
  readonly kind: 'damage-acknowledged';
  readonly host: string;
  readonly stream: string;
  readonly seq: number;
  /** SHA-256 (hex) of the damaged message's raw bytes. */
  readonly sha256: string;
  /** What the reader found wrong with it. */
  readonly fault: string;
  /** The hash of the chain before it (event seq - 1, GENESIS for seq 1): the acknowledged event's prevHash. */
  readonly prevHash: string;
  readonly reason: string;
  /** The NATS user that acknowledged it. */
  readonly by: string;
  /** ISO-8601 time of the acknowledgement. */
  readonly at: string;
}

/** An acknowledgement as readers use it: the record, where it is, and the event that stands for the message. */
export interface AcknowledgedDamage {
  readonly ack: DamageAck;
  /** `<ack stream>:<seq>`. */
  readonly ref: string;
  readonly event: Envelope;
}

/** A damaged message: where, what is wrong, the SHA-256 of its bytes, and the chain before it. */
export class DamagedMessageError extends JournalCorruptError {
  constructor(
    readonly stream: string,
    readonly seq: number,
    readonly fault: string,
    readonly sha256: string,
    /** The hash of the chain before it (null when reading started after it and it is unknown). */
    readonly prevHash: string | null,
    url: string,
    note = '',
  ) {
    super(`${stream}:${seq}`, damageMessage(seq, fault, sha256, url, note));
  }
}

/** The text of a damaged message's error: what is wrong, then the way out. */
export function damageMessage(seq: number, fault: string, sha256: string, url: string, note = ''): string {
  return (
    `stream message ${seq} ${fault} (sha256 of its bytes ${sha256})${note}. vFunD and every reader stop here. ` +
    `If you know why it is there, an operator with admin credentials can acknowledge it (it stays in the stream, and readers report it): ` +
    `vfun audit acknowledge --journal '${url}' --seq ${seq} --reason '<why>' (docs/jetstream.md, "Damaged messages")`
  );
}

const isString = (v: unknown): v is string => typeof v === 'string';

/** The acknowledgement in `text`, or why it is not one. */
export function parseDamageAck(text: string): { ok: true; ack: DamageAck } | { ok: false; reason: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'is not JSON' };
  }
  if (typeof v !== 'object' || v === null) return { ok: false, reason: 'is not an object' };
  const a = v as Record<string, unknown>;
  if (a['v'] !== 1 || a['kind'] !== 'damage-acknowledged') return { ok: false, reason: 'is not a damage acknowledgement (v 1)' };
  for (const k of ['host', 'stream', 'fault', 'reason', 'by', 'at'] as const) if (!isString(a[k])) return { ok: false, reason: `field ${k}: expected a string` };
  const seq = a['seq'];
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return { ok: false, reason: 'field seq: expected a positive integer' };
  if (!isHash(a['sha256'])) return { ok: false, reason: 'field sha256: expected 64 lowercase hex digits' };
  if (!isHash(a['prevHash'])) return { ok: false, reason: 'field prevHash: expected 64 lowercase hex digits' };
  return { ok: true, ack: v as DamageAck };
}

/**
 * The event that stands for an acknowledged message: `journal.damage-acknowledged`
 * at its seq, chained on `ack.prevHash`, with schema version 1 whatever the
 * build's (its hash must never change).
 */
export function acknowledgedEvent(ack: DamageAck, ref: string): Envelope {
  const unsealed = {
    id: `damage-${ack.stream}-${ack.seq}`,
    type: 'journal.damage-acknowledged',
    v: 1,
    at: ack.at,
    host: ack.host,
    tenant: null,
    app: null,
    fn: null,
    instance: null,
    seq: ack.seq,
    causationId: null,
    correlationId: null,
    prevHash: ack.prevHash,
    data: { stream: ack.stream, sha256: ack.sha256, fault: ack.fault, reason: ack.reason, by: ack.by, ack: ref },
  };
  const { hashInput } = encodeEnvelope(unsealed);
  return Object.freeze({ ...unsealed, hash: sha256Hex(hashInput) }) as unknown as Envelope;
}

/**
 * The acknowledgements that apply to `stream`, by seq: the first record for a
 * seq wins (a later one is ignored; both stay in the acknowledgement stream).
 */
export function acknowledgementsOf(records: readonly { readonly text: string; readonly ref: string }[], stream: string, host: string): Map<number, AcknowledgedDamage> {
  const out = new Map<number, AcknowledgedDamage>();
  for (const r of records) {
    const p = parseDamageAck(r.text);
    if (!p.ok || p.ack.stream !== stream || p.ack.host !== host || out.has(p.ack.seq)) continue;
    out.set(p.ack.seq, { ack: p.ack, ref: r.ref, event: acknowledgedEvent(p.ack, r.ref) });
  }
  return out;
}

/**
 * What to do with a damaged message: stand in its acknowledged event, or
 * why the acknowledgement (if any) does not apply. `prevHash`: the chain
 * before it, when known.
 */
export function judgeDamage(
  acked: AcknowledgedDamage | undefined,
  sha256: string,
  prevHash: string | null,
): { ok: true; event: Envelope } | { ok: false; note: string } {
  if (acked === undefined) return { ok: false, note: '' };
  if (acked.ack.sha256 !== sha256) {
    return { ok: false, note: `; the acknowledgement ${acked.ref} names other bytes (sha256 ${acked.ack.sha256}): the message changed since` };
  }
  if (prevHash !== null && acked.ack.prevHash !== prevHash) {
    return { ok: false, note: `; the acknowledgement ${acked.ref} chains on ${acked.ack.prevHash}, the journal before it ends in ${prevHash}` };
  }
  return { ok: true, event: acked.event };
}
