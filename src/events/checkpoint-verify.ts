/**
 * Checking a journal against its checkpoints and its witnesses (docs/proofs.md,
 * "Verifying a journal"), for `vfun audit verify`. Run after the hash chain
 * verified: this adds what the chain alone cannot tell, that nobody without
 * vFunD's private key rewrote the journal.
 *
 * 1. Every `journal.checkpoint` event at seq s covers size s - 1; its root is
 *    the Merkle root of the events before it; its frontier is that tree's;
 *    its note is a checkpoint of that size and root, signed by the log key.
 * 2. Every checkpoint a witness holds for this log verifies with the log key,
 *    covers no more events than the journal has, and the journal's tree is
 *    consistent with it (a consistency proof from its size to the journal's
 *    length, checked against its root and the journal's).
 * 3. Reported, not failures: events after the last checkpoint, journal
 *    checkpoints a witness lacks, notes of other logs in a shared witness.
 *
 * Pure: the Ed25519 primitive is injected; the witnesses' notes are passed in.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { JournalCorruptError, messageOf } from '../errors.js';
import { journalOrigin, parseCheckpoint, verifyCheckpoint, type Checkpoint } from './checkpoint.js';
import type { Envelope } from './envelope.js';
import { builderFromCheckpoint } from './checkpointer.js';
import { consistencyProof, eventLeafHash, MerkleBuilder, verifyConsistency } from './merkle.js';
import type { Ed25519Verify, NoteVerifier } from './signed-note.js';

/** The notes read from one witness (or why it could not be read). */
export interface WitnessNotes {
  readonly url: string;
  readonly notes: readonly string[];
  /** Set when the witness could not be read: a failure. */
  readonly error?: string;
}

/** Options of `verifyCheckpoints`: the log's public key, the witnesses' notes, and the Ed25519 verifier to use. */
export interface CheckpointVerifyOptions {
  /** The log key; null: signatures are not checked (said in the report). */
  readonly key: NoteVerifier | null;
  /** Notes read from witnesses, each checked against the journal's checkpoints. */
  readonly witnesses: readonly WitnessNotes[];
  /** Ed25519 verification: `ed25519Verify` (node:crypto), or one of your own. */
  readonly verify: Ed25519Verify;
}

/**
 * What `verifyCheckpoints` found: ok only without problems; counts of events, checkpoints and what the last checkpoint covers.
 */
export interface CheckpointReport {
  /** True when `problems` is empty. */
  readonly ok: boolean;
  /** Each failure, naming the seq or size and what is wrong. */
  readonly problems: readonly string[];
  /** Things worth knowing that are not failures. */
  readonly notes: readonly string[];
  /** Envelopes read. */
  readonly events: number;
  /** `journal.checkpoint` events among them. */
  readonly checkpoints: number;
  /** Events covered by the last checkpoint (0: none). */
  readonly covered: number;
  /** Events after the last checkpoint, not counting that checkpoint itself. */
  readonly uncovered: number;
  /** Witnessed checkpoints of this log that were checked. */
  readonly witnessed: number;
  /** False when no key was given (`key: null`): signatures were not checked. */
  readonly signaturesChecked: boolean;
}

/** The origin a note's text names, without checking its signature (null: not a checkpoint note). */
function noteCheckpoint(note: string): Checkpoint | null {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) return null;
  try {
    return parseCheckpoint(note.slice(0, split + 1));
  } catch {
    return null;
  }
}

/** Checks every checkpoint in `envelopes` (a journal whose chain verified) and every witnessed one. */
export async function verifyCheckpoints(envelopes: AsyncIterable<Envelope> | Iterable<Envelope>, opts: CheckpointVerifyOptions): Promise<CheckpointReport> {
  const problems: string[] = [];
  const notes: string[] = [];
  const leaves: Uint8Array[] = [];
  const builder = new MerkleBuilder();
  const sizes = new Set<number>();
  let origin: string | null = opts.key?.name ?? null;
  let checkpoints = 0;
  let covered = 0;
  let lastSeq = 0;
  for await (const env of envelopes) {
    if (env.type === 'journal.checkpoint') {
      checkpoints++;
      const fault = checkpointEventFault(env, builder, opts);
      if (fault !== null) problems.push(`checkpoint at seq ${env.seq} (size ${env.seq - 1}): ${fault}`);
      sizes.add(env.seq - 1);
      covered = env.seq - 1;
      lastSeq = env.seq;
      origin ??= journalOrigin(env.host);
    }
    const leaf = eventLeafHash(env.hash);
    leaves.push(leaf);
    builder.append(leaf);
  }
  const events = leaves.length;
  const uncovered = events - covered - (lastSeq === events && lastSeq > 0 ? 1 : 0);
  let witnessed = 0;
  const journalRoot = builder.root();
  for (const w of opts.witnesses) {
    if (w.error !== undefined) {
      problems.push(`witness ${w.url}: cannot be read: ${w.error}`);
      continue;
    }
    const mine = w.notes.map((note) => ({ note, cp: noteCheckpoint(note) })).filter((x) => origin === null || x.cp?.origin === origin);
    const others = w.notes.length - mine.length;
    if (others > 0) notes.push(`witness ${w.url}: ${others} note(s) of other logs ignored`);
    if (mine.length === 0) {
      problems.push(`witness ${w.url}: holds no checkpoint of ${origin ?? 'this journal'}`);
      continue;
    }
    const seen = new Set<number>();
    for (const { note, cp: parsed } of mine) {
      const fault = witnessedFault(note, parsed, leaves, journalRoot, opts);
      const size = parsed?.size ?? -1;
      if (fault !== null) problems.push(`witness ${w.url}: checkpoint of size ${size}: ${fault}`);
      else witnessed++;
      seen.add(size);
    }
    const missing = [...sizes].filter((s) => !seen.has(s));
    if (missing.length > 0) notes.push(`witness ${w.url}: lacks ${missing.length} of the journal's ${sizes.size} checkpoints (sizes ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', …' : ''})`);
  }
  return { ok: problems.length === 0, problems, notes, events, checkpoints, covered, uncovered, witnessed, signaturesChecked: opts.key !== null };
}

/** Why a checkpoint event does not hold against the events before it (in `builder`), or null. */
function checkpointEventFault(env: Envelope & { type: 'journal.checkpoint' }, builder: MerkleBuilder, opts: CheckpointVerifyOptions): string | null {
  const d = env.data;
  const shape = checkpointDataFault(d);
  if (shape !== null) return shape;
  if (d.size !== env.seq - 1) return `covers ${d.size} events, but ${env.seq - 1} precede it`;
  const root = bytesToHex(builder.root());
  if (d.root !== root) return `its root ${d.root} is not the tree of the events before it (${root})`;
  const frontier = builder.frontier().nodes.map((h) => bytesToHex(h));
  if (d.frontier.length !== frontier.length || d.frontier.some((h, i) => h !== frontier[i])) return 'its frontier is not that of the tree of the events before it';
  const parsed = noteCheckpoint(d.note);
  if (parsed === null) return 'its note is not a checkpoint';
  if (parsed.size !== d.size || bytesToHex(parsed.root) !== d.root) return `its note covers size ${parsed.size} root ${bytesToHex(parsed.root)}, not the event's`;
  if (parsed.origin !== journalOrigin(env.host)) return `its note's origin ${parsed.origin} is not ${journalOrigin(env.host)}`;
  if (opts.key === null) return null;
  const check = verifyCheckpoint(d.note, opts.key, opts.verify);
  return check.ok ? null : `signature: ${check.reason}`;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Why a checkpoint event's data is not of the catalogue's shape (a forged or damaged one), or null. */
function checkpointDataFault(d: unknown): string | null {
  if (typeof d !== 'object' || d === null) return 'its data is not an object';
  const { size, root, note, frontier } = d as Record<string, unknown>;
  if (!Number.isSafeInteger(size)) return 'its size is not an integer';
  if (typeof root !== 'string' || !HEX64.test(root)) return 'its root is not 64 hex digits';
  if (typeof note !== 'string') return 'its note is not a string';
  if (!Array.isArray(frontier) || frontier.some((h) => typeof h !== 'string' || !HEX64.test(h))) return 'its frontier is not a list of 64-hex-digit hashes';
  return null;
}

/** Why a witnessed checkpoint is not one the journal (its `leaves`) is consistent with, or null. */
function witnessedFault(note: string, parsed: Checkpoint | null, leaves: readonly Uint8Array[], journalRoot: Uint8Array, opts: CheckpointVerifyOptions): string | null {
  let cp = parsed;
  if (opts.key !== null) {
    const check = verifyCheckpoint(note, opts.key, opts.verify);
    if (!check.ok) return `signature: ${check.reason}`;
    cp = check.checkpoint;
  }
  if (cp === null) return 'not a checkpoint note';
  if (cp.size > leaves.length) return `the journal has only ${leaves.length} events (events were removed)`;
  try {
    const n = leaves.length;
    const proof = consistencyProof(leaves, cp.size, n);
    const check = verifyConsistency(cp.size, n, cp.root, journalRoot, proof);
    if (!check.ok) return `the journal is not consistent with it: ${check.reason} (the journal's first ${cp.size} events were changed)`;
  } catch (err) {
    return messageOf(err);
  }
  return null;
}

/**
 * `envelopes`, checked against their checkpoints as they pass: at every
 * `journal.checkpoint` the tree of the events before it must have that root
 * and frontier, and, with a key, the note must be signed by it. For the
 * commands that read a journal to show it (audit, summary, replay): a
 * journal rewritten with recomputed hashes is refused there too, not only by
 * `audit verify`. Throws JournalCorruptError naming the checkpoint's seq at the
 * first one that does not hold; what came before it was already yielded.
 * Witnesses and stripped checkpoints are `audit verify`'s (it needs them all).
 */
export async function* checkedAgainstCheckpoints(
  envelopes: AsyncIterable<Envelope>,
  opts: { readonly key: NoteVerifier | null; readonly verify: Ed25519Verify; readonly location: string },
): AsyncGenerator<Envelope> {
  let builder = new MerkleBuilder();
  for await (const env of envelopes) {
    if (env.type === 'journal.checkpoint') {
      // A read that starts after seq 1 (from a snapshot, after archived segments) cannot rebuild the tree
      // before it: the first checkpoint it meets is resumed from its frontier; the later ones are checked.
      if (builder.size !== env.seq - 1) builder = builderFromCheckpoint(env.data) ?? builder;
      const fault = builder.size === env.seq - 1 ? checkpointEventFault(env, builder, { ...opts, witnesses: [] }) : null;
      if (fault !== null) {
        throw new JournalCorruptError(
          opts.location,
          `the checkpoint at seq ${env.seq} (size ${env.seq - 1}) does not hold: ${fault}. The journal was changed after vFunD signed it; run \`vfun audit verify\``,
        );
      }
    }
    if (builder.size === env.seq - 1) builder.append(eventLeafHash(env.hash));
    yield env;
  }
}
