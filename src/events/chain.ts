/**
 * The hash chain: sealing pending events into envelopes and verifying a
 * sequence of envelopes (docs/events.md, "Hash chain").
 *
 * Every envelope carries `seq` (1, 2, 3, … without gaps), `prevHash` (the
 * previous envelope's `hash`, GENESIS_HASH for seq 1) and `hash`, the SHA-256
 * of the canonical JSON of all its other fields. Changing any byte of any
 * event breaks the chain at that event.
 *
 * Pure: no node:* imports, no I/O.
 */
import { ConcurrencyError, JournalCorruptError, ValidationError, messageOf } from '../errors.js';
import { encodeEnvelope, encodingOfText, sha256Hex, type EnvelopeEncoding } from './canonical.js';
import { isEventType, SCHEMA_VERSION } from './catalogue.js';
import { GENESIS_HASH, type Envelope, type PendingEvent } from './envelope.js';
import type { JournalHead } from './journal.js';

/** Where verification stopped, and why. */
export interface ChainFault {
  /** The bad envelope's own seq when it has a usable one, else the seq expected at that position. */
  readonly seq: number;
  /** The bad envelope's id, or null when it has none (e.g. an unparsable file line). */
  readonly id: string | null;
  readonly reason: string;
  /** 1-based line number, when verifying a file. */
  readonly line?: number;
}

/**
 * What `verifyChain` found: every envelope verified (how many, and the head), or the first bad one and how many verified before it.
 */
export type ChainReport =
  | { readonly ok: true; readonly count: number; readonly head: JournalHead | null }
  | {
      readonly ok: false;
      /** Envelopes that verified before the bad one. */
      readonly count: number;
      readonly firstBad: ChainFault;
    };

/** Options of `verifyChain`: the hash implementation, and whether the schema is checked too. */
export interface ChainCheckOptions {
  /**
   * SHA-256 hex of a string's UTF-8 bytes. Defaults to the portable
   * implementation; adapters may pass a native one (same result, faster).
   */
  readonly hash?: (text: string) => string;
  /**
   * Also require a known `type` and a supported `v` (default true). The
   * journal adapters check integrity only and leave the schema to readers.
   */
  readonly schema?: boolean;
}

/** 64 lowercase hex digits (a loop: faster than a regular expression on the read path). */
export function isHash(value: unknown): value is string {
  if (typeof value !== 'string' || value.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = value.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

function isNullableString(value: unknown): boolean {
  return value === null || typeof value === 'string';
}

/**
 * Why `value` is not shaped like an envelope, or null when it is. With
 * `hashesChecked`, `hash` and `prevHash` are known to be 64 lowercase hex
 * digits when they are strings (the caller checked them in the text it
 * parsed), and only their type is checked here.
 */
export function envelopeShapeFault(value: unknown, hashesChecked = false): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const e = value as { readonly [K in keyof Envelope]?: unknown };
  if (typeof e.id !== 'string' || e.id === '') return 'field id: expected a non-empty string';
  if (typeof e.type !== 'string') return 'field type: expected a string';
  if (typeof e.v !== 'number' || !Number.isSafeInteger(e.v)) return 'field v: expected an integer';
  if (typeof e.at !== 'string') return 'field at: expected a string';
  if (typeof e.host !== 'string') return 'field host: expected a string';
  if (!isNullableString(e.tenant)) return 'field tenant: expected a string or null';
  if (!isNullableString(e.app)) return 'field app: expected a string or null';
  if (!isNullableString(e.fn)) return 'field fn: expected a string or null';
  if (!isNullableString(e.instance)) return 'field instance: expected a string or null';
  if (!isNullableString(e.causationId)) return 'field causationId: expected a string or null';
  if (!isNullableString(e.correlationId)) return 'field correlationId: expected a string or null';
  const seq = e.seq;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return 'field seq: expected a positive integer';
  if (!(hashesChecked ? typeof e.prevHash === 'string' : isHash(e.prevHash))) return 'field prevHash: expected 64 lowercase hex digits';
  if (!(hashesChecked ? typeof e.hash === 'string' : isHash(e.hash))) return 'field hash: expected 64 lowercase hex digits';
  const data = e.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return 'field data: expected an object';
  return null;
}

/**
 * Why `value` cannot follow `prev` (null: the start of a journal), or null
 * when it can. Checks, in order: shape, seq = prev.seq + 1 (1 first), prevHash
 * = prev.hash (GENESIS_HASH first), hash recomputes, and with `schema` a known
 * type and a supported v. Pass `encoding` when it is already computed.
 */
export function chainFault(
  value: unknown,
  prev: JournalHead | null,
  options: ChainCheckOptions & { readonly encoding?: EnvelopeEncoding; readonly shapeChecked?: boolean } = {},
): string | null {
  if (options.shapeChecked !== true) {
    const shape = envelopeShapeFault(value);
    if (shape !== null) return shape;
  }
  const e = value as Envelope;
  const expectedSeq = prev === null ? 1 : prev.seq + 1;
  if (e.seq !== expectedSeq) return `seq ${e.seq} where ${expectedSeq} was expected`;
  const expectedPrev = prev === null ? GENESIS_HASH : prev.hash;
  if (e.prevHash !== expectedPrev) {
    return `prevHash ${e.prevHash} does not match the hash of ${prev === null ? 'genesis' : `seq ${prev.seq}`} (${expectedPrev})`;
  }
  let hashInput: string;
  try {
    hashInput = (options.encoding ?? encodeEnvelope(e)).hashInput;
  } catch (err) {
    return `cannot be encoded: ${messageOf(err)}`;
  }
  const computed = (options.hash ?? sha256Hex)(hashInput);
  if (computed !== e.hash) return `hash ${e.hash} does not match its content (recomputed ${computed})`;
  if (options.schema !== false) {
    if (!isEventType(e.type)) return `unknown event type ${JSON.stringify(e.type)}`;
    if (e.v < 1 || e.v > SCHEMA_VERSION) return `unsupported schema version v=${e.v} (this build reads 1..${SCHEMA_VERSION})`;
  }
  return null;
}

/** The fault for a (possibly malformed) record: its own seq and id when it has them; with `line`, the reason names it. */
export function faultOf(value: unknown, expectedSeq: number, reason: string, line?: number): ChainFault {
  const e = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  const seq = e['seq'];
  const id = e['id'];
  return {
    seq: typeof seq === 'number' && Number.isSafeInteger(seq) ? seq : expectedSeq,
    id: typeof id === 'string' ? id : null,
    reason: line === undefined ? reason : `line ${line} ${reason}`,
    ...(line !== undefined && { line }),
  };
}

/**
 * Verifies a whole sequence of envelopes (an array, or a journal's `read()`).
 * Stops at the first bad envelope. A JournalCorruptError thrown by the source
 * (a damaged file line) is reported as the first bad event, not rethrown;
 * other errors propagate.
 */
export async function verifyChain(
  envelopes: Iterable<Envelope> | AsyncIterable<Envelope>,
  options: ChainCheckOptions = {},
): Promise<ChainReport> {
  let head: JournalHead | null = null;
  let count = 0;
  try {
    for await (const value of envelopes) {
      const reason = chainFault(value, head, options);
      if (reason !== null) return { ok: false, count, firstBad: faultOf(value, count + 1, reason) };
      head = { seq: value.seq, hash: value.hash };
      count++;
    }
  } catch (err) {
    if (err instanceof JournalCorruptError) {
      return { ok: false, count, firstBad: { seq: count + 1, id: null, reason: err.message } };
    }
    throw err;
  }
  return { ok: true, count, head };
}

/** Where a pending event goes: stamped by the recorder. */
export interface SealContext {
  readonly seq: number;
  readonly prevHash: string;
  readonly id: string;
  /** ISO-8601 UTC timestamp. */
  readonly at: string;
  readonly host: string;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

/**
 * Stamps and seals a pending event: the envelope gets schema version
 * SCHEMA_VERSION and its hash. `data` is copied through its canonical JSON,
 * so the envelope is exactly what any journal gives back (members set to
 * undefined are gone) and later changes to the caller's objects cannot break
 * the hash. The envelope is deeply frozen. Throws ValidationError when the
 * event cannot be encoded (a non-finite number, a Date, …).
 */
export function sealEnvelope(pending: PendingEvent, ctx: SealContext): Envelope {
  if (!Number.isSafeInteger(ctx.seq) || ctx.seq < 1) throw new ValidationError('seq', `expected a positive integer, got ${ctx.seq}`);
  if (!isHash(ctx.prevHash)) throw new ValidationError('prevHash', 'expected 64 lowercase hex digits');
  if (ctx.id === '') throw new ValidationError('id', 'must not be empty');
  const { event, scope } = pending;
  const unsealed = {
    id: ctx.id,
    type: event.type,
    v: SCHEMA_VERSION,
    at: ctx.at,
    host: ctx.host,
    tenant: scope.tenant,
    app: scope.app,
    fn: scope.fn,
    instance: scope.instance,
    seq: ctx.seq,
    causationId: pending.causationId,
    correlationId: pending.correlationId,
    prevHash: ctx.prevHash,
    data: event.data as unknown,
  };
  // Throws ValidationError naming the path ($.data.…) when something cannot be encoded.
  const { hashInput } = encodeEnvelope(unsealed);
  const copy = JSON.parse(hashInput) as { data: unknown };
  return deepFreeze({ ...unsealed, data: copy.data, hash: sha256Hex(hashInput) }) as Envelope;
}

/**
 * Checks that `envelopes` can be stored after `head`: the first has seq
 * head.seq + 1 and prevHash head.hash (ConcurrencyError otherwise: someone
 * else wrote first), and each next one chains on the one before it
 * (ValidationError otherwise). Returns the head after them. Hashes are not
 * recomputed here; adapters that must, do it themselves.
 */
export function checkAppend(head: JournalHead | null, envelopes: readonly Envelope[]): JournalHead | null {
  let tail = head;
  for (let i = 0; i < envelopes.length; i++) {
    const env = envelopes[i] as Envelope;
    const shape = envelopeShapeFault(env);
    if (shape !== null) throw new ValidationError(`envelopes[${i}]`, shape);
    const expectedSeq = tail === null ? 1 : tail.seq + 1;
    const expectedPrev = tail === null ? GENESIS_HASH : tail.hash;
    if (env.seq !== expectedSeq || env.prevHash !== expectedPrev) {
      const what =
        env.seq !== expectedSeq
          ? `seq ${env.seq} where ${expectedSeq} was expected`
          : `prevHash ${env.prevHash} where ${expectedPrev} was expected`;
      if (i === 0) {
        throw new ConcurrencyError(
          `append does not follow the journal head (${head === null ? 'empty journal' : `seq ${head.seq}`}): ${what}`,
        );
      }
      throw new ValidationError(`envelopes[${i}]`, `does not chain on the envelope before it: ${what}`);
    }
    tail = { seq: env.seq, hash: env.hash };
  }
  return tail;
}

/** What decodeStored found: an envelope and its encoding, or why the text is not one. */
export type StoredDecode =
  | { readonly ok: true; readonly env: Envelope; readonly encoding: EnvelopeEncoding }
  | { readonly ok: false; readonly reason: string; readonly value?: unknown };

/**
 * Parse a stored record (a journal line, an outbox line, a JetStream message):
 * it must be an envelope written in canonical form and, with `checkHash`, its
 * hash must recompute. Continuity with other records is not checked here.
 */
export function decodeStored(text: string, checkHash = true): StoredDecode {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'is not valid JSON' };
  }
  const shape = envelopeShapeFault(value);
  if (shape !== null) return { ok: false, reason: `is not an envelope (${shape})`, value };
  const encoding = encodingOfText(text, value as object);
  if (encoding === null) return { ok: false, reason: 'is not in canonical form', value };
  const env = value as Envelope;
  if (checkHash && sha256Hex(encoding.hashInput) !== env.hash) return { ok: false, reason: 'has a hash that does not match its content', value };
  return { ok: true, env, encoding };
}
