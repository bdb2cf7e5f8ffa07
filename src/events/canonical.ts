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

function pathOf(path: readonly (string | number)[]): string {
  let out = '$';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `.${part}`;
  return out;
}

function encode(value: unknown, path: (string | number)[], depth: number): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) {
        throw new ValidationError(pathOf(path), `${String(value)} cannot be encoded: only finite numbers are allowed`);
      }
      // String() and JSON.stringify agree for finite numbers; both write -0 as "0".
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (depth >= MAX_DEPTH) {
        throw new ValidationError(pathOf(path), `nested deeper than ${MAX_DEPTH} levels (a cycle?)`);
      }
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (item === undefined) {
            path.push(i);
            throw new ValidationError(pathOf(path), 'undefined is not allowed in arrays');
          }
          if (i > 0) out += ',';
          path.push(i);
          out += encode(item, path, depth + 1);
          path.pop();
        }
        return out + ']';
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        const ctor = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
        throw new ValidationError(pathOf(path), `a ${ctor} cannot be encoded: only plain objects, arrays and primitives`);
      }
      const record = value as Record<string, unknown>;
      // Default sort compares UTF-16 code units: exactly the canonical order.
      const keys = Object.keys(record).sort();
      let out = '{';
      let first = true;
      for (const key of keys) {
        const member = record[key];
        if (member === undefined) continue; // omitted, as JSON.stringify does
        path.push(key);
        const encoded = encode(member, path, depth + 1);
        path.pop();
        out += (first ? '' : ',') + JSON.stringify(key) + ':' + encoded;
        first = false;
      }
      return out + '}';
    }
    case 'undefined':
      throw new ValidationError(pathOf(path), 'undefined cannot be encoded');
    default:
      throw new ValidationError(pathOf(path), `a ${typeof value} cannot be encoded`);
  }
}

/**
 * Deterministic JSON: keys sorted by code unit order (recursively), no
 * whitespace. Object members whose value is `undefined` are omitted; anything
 * JSON cannot represent faithfully (non-finite numbers, bigint, functions,
 * symbols, `undefined` in arrays or at the top, class instances such as Date
 * or Map, cycles) throws a ValidationError naming the path (`$.data.x`).
 */
export function canonicalJson(value: unknown): string {
  return encode(value, [], 0);
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
  const keys = Object.keys(record).sort();
  const path: (string | number)[] = [];
  let canonical = '{';
  let hashInput = '{';
  let firstAll = true;
  let firstInput = true;
  for (const key of keys) {
    const member = record[key];
    if (member === undefined) continue;
    path.push(key);
    const part = JSON.stringify(key) + ':' + encode(member, path, 1);
    path.pop();
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
