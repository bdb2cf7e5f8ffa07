/**
 * Canonical JSON and the envelope hash (docs/events.md, "Canonical encoding").
 *
 * The canonical encoding is plain JSON with no whitespace, object keys sorted
 * by UTF-16 code unit order at every level, arrays in order, strings and
 * numbers written as `JSON.stringify` writes them. It is what the hash chain
 * is computed over and what the file journal stores, one envelope a line.
 *
 * Pure: no node:* imports, no I/O.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { ValidationError } from '../errors.js';

const MAX_DEPTH = 256;

/** Internal: a value that cannot be encoded; `path` is filled in while unwinding. */
class EncodeFault {
  readonly path: (string | number)[] = [];
  constructor(readonly reason: string) {}
}

function faultToError(fault: EncodeFault): ValidationError {
  let where = '$';
  for (const part of fault.path) where += typeof part === 'number' ? `[${part}]` : `.${part}`;
  return new ValidationError(where, fault.reason);
}

/** Characters JSON.stringify escapes (or may: any surrogate) in a string. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function encodeString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"';
}

function encodeMember(key: string | number, value: unknown, depth: number): string {
  try {
    return encode(value, depth);
  } catch (err) {
    if (err instanceof EncodeFault) err.path.unshift(key);
    throw err;
  }
}

function encode(value: unknown, depth: number): string {
  switch (typeof value) {
    case 'string':
      return encodeString(value);
    case 'number':
      if (!Number.isFinite(value)) throw new EncodeFault(`${String(value)} cannot be encoded: only finite numbers are allowed`);
      // String() and JSON.stringify agree for finite numbers; both write -0 as "0".
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (depth >= MAX_DEPTH) throw new EncodeFault(`nested deeper than ${MAX_DEPTH} levels (a cycle?)`);
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (item === undefined) {
            const fault = new EncodeFault('undefined is not allowed in arrays');
            fault.path.push(i);
            throw fault;
          }
          out += (i > 0 ? ',' : '') + encodeMember(i, item, depth + 1);
        }
        return out + ']';
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        const ctor = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
        throw new EncodeFault(`a ${ctor} cannot be encoded: only plain objects, arrays and primitives`);
      }
      const record = value as Record<string, unknown>;
      const keys = sortedKeys(record);
      let out = '{';
      let first = true;
      for (const key of keys) {
        const member = record[key];
        if (member === undefined) continue; // omitted, as JSON.stringify does
        out += (first ? '' : ',') + encodeString(key) + ':' + encodeMember(key, member, depth + 1);
        first = false;
      }
      return out + '}';
    }
    case 'undefined':
      throw new EncodeFault('undefined cannot be encoded');
    default:
      throw new EncodeFault(`a ${typeof value} cannot be encoded`);
  }
}

/**
 * Own enumerable keys in UTF-16 code unit order (what the default sort and the
 * `<` operator on strings compare). Keys parsed from canonical text are
 * already in order, so check before sorting.
 */
function sortedKeys(record: object): string[] {
  const keys = Object.keys(record);
  for (let i = 1; i < keys.length; i++) {
    if ((keys[i - 1] as string) > (keys[i] as string)) return keys.sort();
  }
  return keys;
}

/**
 * Deterministic JSON: keys sorted by code unit order (recursively), no
 * whitespace. Object members whose value is `undefined` are omitted; anything
 * JSON cannot represent faithfully (non-finite numbers, bigint, functions,
 * symbols, `undefined` in arrays or at the top, class instances such as Date
 * or Map, cycles) throws a ValidationError naming the path (`$.data.x`).
 */
export function canonicalJson(value: unknown): string {
  try {
    return encode(value, 0);
  } catch (err) {
    throw err instanceof EncodeFault ? faultToError(err) : err;
  }
}

/** SHA-256 of the UTF-8 bytes of `text`, as 64 lowercase hex digits. */
export function sha256Hex(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text)));
}

/** The two encodings of an envelope, computed in one pass. */
export interface EnvelopeEncoding {
  /** Canonical JSON of the whole envelope, `hash` included: the file journal line. */
  readonly canonical: string;
  /** Canonical JSON of every field except `hash`: what `hash` is the SHA-256 of. */
  readonly hashInput: string;
}

/**
 * Encodes an envelope (or anything shaped like one) both with and without its
 * `hash` member. Sorting puts `hash` at the same place in both, so the second
 * string is the first with the `"hash":"…"` member left out.
 */
export function encodeEnvelope(envelope: object): EnvelopeEncoding {
  if (typeof envelope !== 'object' || envelope === null || Array.isArray(envelope)) {
    throw new ValidationError('$', 'an envelope must be a plain object');
  }
  const record = envelope as Record<string, unknown>;
  const keys = sortedKeys(record);
  let canonical = '{';
  let hashInput = '{';
  let firstAll = true;
  let firstInput = true;
  for (const key of keys) {
    const member = record[key];
    if (member === undefined) continue;
    let part: string;
    try {
      part = encodeString(key) + ':' + encodeMember(key, member, 1);
    } catch (err) {
      throw err instanceof EncodeFault ? faultToError(err) : err;
    }
    canonical += (firstAll ? '' : ',') + part;
    firstAll = false;
    if (key !== 'hash') {
      hashInput += (firstInput ? '' : ',') + part;
      firstInput = false;
    }
  }
  return { canonical: canonical + '}', hashInput: hashInput + '}' };
}

/**
 * The hash of an envelope: SHA-256 (hex) of the canonical JSON of the
 * envelope object with every field except `hash` (a `hash` member, if present,
 * is ignored).
 */
export function hashEnvelope(envelope: object): string {
  return sha256Hex(encodeEnvelope(envelope).hashInput);
}
