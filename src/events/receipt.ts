/**
 * Receipts (docs/proofs.md, "Receipts"): what vFunD recorded about one event,
 * provable to anyone holding vFunD's public key. A receipt carries the
 * envelope, its leaf index (seq - 1), the first signed checkpoint that covers
 * it, and the inclusion proof of its leaf in that checkpoint's tree.
 *
 * Pure: the Ed25519 primitive is injected.
 */
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { messageOf, ValidationError } from '../errors.js';
import { hashEnvelope } from './canonical.js';
import { journalOrigin, verifyCheckpoint } from './checkpoint.js';
import type { Envelope } from './envelope.js';
import { eventLeafHash, inclusionProof, verifyInclusion } from './merkle.js';
import type { Ed25519Verify, NoteVerifier } from './signed-note.js';

/** The receipt format's name and version (`format` member). */
export const RECEIPT_FORMAT = 'vfun-receipt/1';

/** A receipt, as JSON. */
export interface Receipt {
  readonly format: typeof RECEIPT_FORMAT;
  /** The event, exactly as journaled. */
  readonly envelope: Envelope;
  /** Its leaf in the tree: seq - 1. */
  readonly leafIndex: number;
  /** The signed checkpoint (a signed note) of a tree that contains it. */
  readonly checkpoint: string;
  /** The inclusion proof (RFC 9162 audit path), leaf side first, hex. */
  readonly inclusion: readonly string[];
}

/** What `checkReceipt` found. */
export type ReceiptCheck =
  | { readonly ok: true; readonly seq: number; readonly treeSize: number; readonly origin: string; readonly time: string }
  | { readonly ok: false; readonly reason: string };

/**
 * The receipt of the event whose seq or id is `which`, from a whole journal
 * (`envelopes` in seq order). Null with a reason when the event is not in the
 * journal or no checkpoint covers it yet.
 */
export async function makeReceipt(
  envelopes: AsyncIterable<Envelope> | Iterable<Envelope>,
  which: { readonly seq: number } | { readonly id: string },
): Promise<{ ok: true; receipt: Receipt } | { ok: false; reason: string }> {
  const leaves: Uint8Array[] = [];
  let target: Envelope | null = null;
  for await (const env of envelopes) {
    leaves.push(eventLeafHash(env.hash));
    if (target === null && ('seq' in which ? env.seq === which.seq : env.id === which.id)) target = env;
    // The first checkpoint that covers it (size >= seq): its tree is the leaves before it.
    if (target !== null && env.type === 'journal.checkpoint' && env.data.size >= target.seq) {
      const size = env.data.size;
      const inclusion = inclusionProof(leaves, target.seq - 1, size).map((h) => bytesToHex(h));
      return { ok: true, receipt: { format: RECEIPT_FORMAT, envelope: target, leafIndex: target.seq - 1, checkpoint: env.data.note, inclusion } };
    }
  }
  const name = 'seq' in which ? `seq ${which.seq}` : `event ${which.id}`;
  if (target === null) return { ok: false, reason: `${name} is not in the journal (${leaves.length} events)` };
  return { ok: false, reason: `${name} is not covered by a checkpoint yet (the journal has ${leaves.length} events; vFunD checkpoints every N events, every T seconds and at stop)` };
}

/** Reads a receipt's JSON; ValidationError naming what is missing. */
export function parseReceipt(text: string): Receipt {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ValidationError('receipt', `not JSON: ${messageOf(err)}`);
  }
  const r = value as Partial<Receipt> | null;
  if (typeof r !== 'object' || r === null || r.format !== RECEIPT_FORMAT) throw new ValidationError('receipt', `expected an object with "format": "${RECEIPT_FORMAT}"`);
  if (typeof r.envelope !== 'object' || r.envelope === null) throw new ValidationError('receipt.envelope', 'expected an object');
  if (!Number.isSafeInteger(r.leafIndex)) throw new ValidationError('receipt.leafIndex', 'expected an integer');
  if (typeof r.checkpoint !== 'string') throw new ValidationError('receipt.checkpoint', 'expected a signed note');
  if (!Array.isArray(r.inclusion) || r.inclusion.some((h) => typeof h !== 'string' || !/^[0-9a-f]{64}$/.test(h))) {
    throw new ValidationError('receipt.inclusion', 'expected an array of 64-hex-digit hashes');
  }
  return r as Receipt;
}

/**
 * Verifies a receipt offline with the log key: (1) the envelope's hash
 * recomputes from its canonical encoding, (2) its leaf index is seq - 1,
 * (3) the checkpoint is signed by the key, its origin is the envelope's host's
 * log, (4) the inclusion proof leads from the leaf to the checkpoint's root.
 */
export function checkReceipt(receipt: Receipt, key: NoteVerifier, verify: Ed25519Verify): ReceiptCheck {
  const env = receipt.envelope;
  const { hash, ...rest } = env;
  let recomputed: string;
  try {
    recomputed = hashEnvelope(rest);
  } catch (err) {
    return { ok: false, reason: `the envelope cannot be encoded: ${messageOf(err)}` };
  }
  if (recomputed !== hash) return { ok: false, reason: `the envelope's hash ${String(hash)} is not that of its content (${recomputed}): the event was changed` };
  if (receipt.leafIndex !== env.seq - 1) return { ok: false, reason: `leaf index ${receipt.leafIndex} is not seq ${env.seq} - 1` };
  const cp = verifyCheckpoint(receipt.checkpoint, key, verify);
  if (!cp.ok) return { ok: false, reason: `checkpoint: ${cp.reason}` };
  const { checkpoint } = cp;
  if (checkpoint.origin !== journalOrigin(env.host)) return { ok: false, reason: `the checkpoint is of ${checkpoint.origin}, the event of host ${env.host}` };
  const check = verifyInclusion(eventLeafHash(hash), receipt.leafIndex, checkpoint.size, receipt.inclusion.map((h) => hexToBytes(h)), checkpoint.root);
  if (!check.ok) return { ok: false, reason: `inclusion proof: ${check.reason}` };
  return { ok: true, seq: env.seq, treeSize: checkpoint.size, origin: checkpoint.origin, time: checkpoint.time };
}
