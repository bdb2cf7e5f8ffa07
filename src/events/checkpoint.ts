/**
 * Checkpoints: signed tree heads of a journal's Merkle tree (docs/events.md,
 * "Merkle tree and checkpoints"), in the C2SP tlog-checkpoint format so that
 * transparency-log witnesses and tools can read and cosign them.
 *
 * The signed text is four lines, each ending in `\n` (0x0A), UTF-8:
 *
 *     <origin>                      the log's identity: `<host>/vfund` for vFunD's journal
 *     <size>                        leaves in the tree (= events in the journal), decimal
 *     <root>                        the tree head, 32 bytes in standard base64 (44 characters)
 *     time <ISO-8601 UTC, ms>       when it was signed, as envelopes write `at`
 *
 * and a checkpoint is that text signed as a note (signed-note.ts) by the log's
 * Ed25519 key, whose key name is the origin.
 *
 * Pure: no node:* imports; the Ed25519 primitive is injected.
 */
import { messageOf, ValidationError } from '../errors.js';
import { HASH_BYTES } from './merkle.js';
import {
  decodeBase64,
  encodeBase64,
  keyNameFault,
  openNote,
  signNote,
  type Ed25519Verify,
  type NoteSigner,
  type NoteVerifier,
} from './signed-note.js';

/** A tree head to sign: which log, how many leaves, its root, and when. */
export interface Checkpoint {
  /** The log's identity (the key name of its signature): `journalOrigin(host)` for vFunD. */
  readonly origin: string;
  /** Leaves in the tree: the journal's events up to seq `size`. */
  readonly size: number;
  /** The tree head: `treeHead` of the first `size` leaves, 32 bytes. */
  readonly root: Uint8Array;
  /** When it was signed: ISO-8601 UTC with milliseconds (`2026-03-14T09:30:00.000Z`). */
  readonly time: string;
}

/** What `verifyCheckpoint` found: the checkpoint, or why the note is not one signed by the log. */
export type CheckpointCheck = { readonly ok: true; readonly checkpoint: Checkpoint } | { readonly ok: false; readonly reason: string };

/** The origin (and log key name) of the journal vFunD keeps on `host`. */
export function journalOrigin(host: string): string {
  return `${host}/vfund`;
}

const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const SIZE = /^(?:0|[1-9][0-9]*)$/;

function isTime(text: string): boolean {
  if (!TIME.test(text)) return false;
  const t = Date.parse(text);
  return Number.isFinite(t) && new Date(t).toISOString() === text;
}

/** Why `cp` cannot be encoded, or null when it can. */
function checkpointFault(cp: Checkpoint): { field: string; reason: string } | null {
  const origin = keyNameFault(cp.origin);
  if (origin !== null) return { field: 'origin', reason: origin };
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) return { field: 'size', reason: `expected a non-negative integer, got ${cp.size}` };
  if (cp.root.length !== HASH_BYTES) return { field: 'root', reason: `expected ${HASH_BYTES} bytes, got ${cp.root.length}` };
  if (!isTime(cp.time)) return { field: 'time', reason: `expected ISO-8601 UTC with milliseconds, got ${JSON.stringify(cp.time)}` };
  return null;
}

/** The checkpoint's text: the exact bytes (as UTF-8) its signature covers. */
export function encodeCheckpoint(cp: Checkpoint): string {
  const fault = checkpointFault(cp);
  if (fault !== null) throw new ValidationError(fault.field, fault.reason);
  return `${cp.origin}\n${cp.size}\n${encodeBase64(cp.root)}\ntime ${cp.time}\n`;
}

/**
 * Parses a checkpoint's text (not the signed note: `verifyCheckpoint` opens
 * that). Only the exact encoding is accepted: four lines, no other extension
 * line, no leading zeros, canonical base64. ValidationError otherwise.
 */
export function parseCheckpoint(text: string): Checkpoint {
  const lines = text.split('\n');
  if (lines.length !== 5 || lines[4] !== '') throw new ValidationError('checkpoint', 'expected four lines, each ending in a newline');
  const [origin, sizeText, rootText, timeLine] = lines as [string, string, string, string];
  if (!SIZE.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    throw new ValidationError('size', `expected a decimal integer without leading zeros, got ${JSON.stringify(sizeText)}`);
  }
  const root = decodeBase64(rootText);
  if (root === null) throw new ValidationError('root', `expected standard base64, got ${JSON.stringify(rootText)}`);
  if (!timeLine.startsWith('time ')) throw new ValidationError('time', `expected a line "time <ISO-8601>", got ${JSON.stringify(timeLine)}`);
  const cp: Checkpoint = { origin, size: Number(sizeText), root, time: timeLine.slice('time '.length) };
  const fault = checkpointFault(cp);
  if (fault !== null) throw new ValidationError(fault.field, fault.reason);
  return cp;
}

/** The signed checkpoint (a signed note) of `cp`, by the log key `signer`, whose name must be the origin. */
export function signCheckpoint(cp: Checkpoint, signer: NoteSigner): string {
  if (signer.name !== cp.origin) throw new ValidationError('signer.name', `the log key is named ${JSON.stringify(signer.name)}, the checkpoint's origin is ${JSON.stringify(cp.origin)}`);
  return signNote(encodeCheckpoint(cp), [signer]);
}

/**
 * Verifies a signed checkpoint against the log's key `log` (its name is the
 * origin): the note opens with a valid signature by that key, and its text is
 * a checkpoint of that origin. Other signatures (witnesses) are ignored here.
 */
export function verifyCheckpoint(note: string, log: NoteVerifier, verify: Ed25519Verify): CheckpointCheck {
  const opened = openNote(note, [log], verify);
  if (!opened.ok) return opened;
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpoint(opened.text);
  } catch (err) {
    return { ok: false, reason: `not a checkpoint: ${messageOf(err)}` };
  }
  if (checkpoint.origin !== log.name) {
    return { ok: false, reason: `the checkpoint's origin ${JSON.stringify(checkpoint.origin)} is not the log ${JSON.stringify(log.name)}` };
  }
  return { ok: true, checkpoint };
}
