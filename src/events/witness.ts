/**
 * Witnesses: places outside the journal, chosen by the operator, where vFunD
 * also puts every checkpoint it signs (`--witness <path|nats-url>`), so that a
 * journal rewritten or stripped of its checkpoints no longer matches what was
 * witnessed (docs/proofs.md, "Witnesses").
 *
 * - a directory (an existing one, or a path ending in `/`): one file per
 *   checkpoint, `<origin-safe>-<size>.checkpoint`, holding the signed note
 *   exactly (origin-safe: the origin with every character outside
 *   [A-Za-z0-9._-] replaced by `_`);
 * - any other path: a file of NDJSON lines `{"size":<n>,"note":"<signed note>"}`
 *   appended one per checkpoint (0600);
 * - `nats://…`: a JetStream key-value bucket (adapters/witness-kv.ts).
 *
 * The stores are in adapters/witness-files.ts and adapters/witness-kv.ts.
 */

/** Where checkpoints are witnessed: put one, read them all back. */
export interface Witness {
  /** What it is, for messages: `dir:<path>`, `file:<path>`, `nats://…`. */
  readonly url: string;
  /** Stores one signed checkpoint of `origin` covering `size` events. */
  put(origin: string, size: number, note: string): Promise<void>;
  /** Every signed checkpoint it holds (any origin), oldest first where it knows the order. */
  notes(): Promise<string[]>;
  close(): Promise<void>;
}

/** The origin as a file name part: every character outside [A-Za-z0-9._-] becomes `_`. */
export function originSafe(origin: string): string {
  return origin.replace(/[^A-Za-z0-9._-]/g, '_');
}
