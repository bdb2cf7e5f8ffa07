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

/** `text[a0, a1) < text[b0, b1)` comparing UTF-16 code units. */
function rangeLess(text: string, a0: number, a1: number, b0: number, b1: number): boolean {
  const la = a1 - a0;
  const lb = b1 - b0;
  const m = la < lb ? la : lb;
  for (let k = 0; k < m; k++) {
    const x = text.charCodeAt(a0 + k);
    const y = text.charCodeAt(b0 + k);
    if (x !== y) return x < y;
  }
  return la < lb;
}

/** Where the top-level `hash` member sits in a canonical text: remove `[start, end)` to get the hash input. */
interface HashMemberRange {
  readonly start: number;
  readonly end: number;
}

const NOT_JUDGED = null;

/** What a string may hold that the scanner must look at character by character. */
const STRING_SPECIALS = /[\\\u0000-\u001f\ud800-\udfff]/;

/**
 * A one-pass, conservative check that `text`, which the caller has already
 * parsed as JSON, is in canonical form. It judges the common case only: no
 * whitespace outside strings; strings whose only escapes are `\"` and `\\`
 * (keys: none) and without surrogates; numbers that are integers of at most
 * 15 digits; object keys strictly increasing in code unit order (so no
 * duplicates). Under those conditions the text is exactly the canonical
 * encoding of what it parses to. Anything else returns NOT_JUDGED and the
 * caller falls back to the exact (slower) comparison.
 *
 * Returns the range of the top-level `hash` member with its separating
 * comma, `{ start: -1, end: -1 }` when there is none.
 */
function scanCanonical(text: string): HashMemberRange | typeof NOT_JUDGED {
  const n = text.length;
  if (n === 0 || text.charCodeAt(0) !== 0x7b) return NOT_JUDGED;
  // Without any backslash, control character or surrogate (the usual line), a string ends at the
  // next '"': found by indexOf instead of a loop over its characters.
  const plain = !STRING_SPECIALS.test(text);
  // Per open container: is it an object, and the previous key's range in it.
  const isObject: boolean[] = [];
  const prevKeyStart: number[] = [];
  const prevKeyEnd: number[] = [];
  let depth = 0;
  let expectKey = false;
  let memberStart = -1; // top level: index of the ',' before the current member, or of its '"' when first
  let hashStart = -1;
  let hashEnd = -1;
  let inHash = false;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i + 1;
      let j = plain ? text.indexOf('"', start) : start;
      if (j < 0) return NOT_JUDGED;
      for (;;) {
        if (j >= n) return NOT_JUDGED;
        const d = text.charCodeAt(j);
        if (d === 0x22) break;
        if (d === 0x5c) {
          const e = text.charCodeAt(j + 1);
          if (expectKey || (e !== 0x22 && e !== 0x5c)) return NOT_JUDGED;
          j += 2;
          continue;
        }
        if (d < 0x20 || (d >= 0xd800 && d <= 0xdfff)) return NOT_JUDGED;
        j++;
      }
      if (expectKey) {
        const top = depth - 1;
        const ps = prevKeyStart[top] as number;
        if (ps >= 0 && !rangeLess(text, ps, prevKeyEnd[top] as number, start, j)) return NOT_JUDGED;
        prevKeyStart[top] = start;
        prevKeyEnd[top] = j;
        if (depth === 1 && j - start === 4 && text.startsWith('hash', start)) {
          inHash = true;
          hashStart = memberStart;
        }
        expectKey = false;
      }
      i = j + 1;
      continue;
    }
    switch (c) {
      case 0x7b: // {
      case 0x5b: // [
        isObject[depth] = c === 0x7b;
        prevKeyStart[depth] = -1;
        prevKeyEnd[depth] = -1;
        depth++;
        expectKey = c === 0x7b;
        if (depth === 1) memberStart = i + 1;
        i++;
        continue;
      case 0x7d: // }
      case 0x5d: // ]
        if (depth === 1 && inHash) {
          hashEnd = i;
          inHash = false;
        }
        depth--;
        expectKey = false;
        i++;
        continue;
      case 0x2c: // ,
        if (depth === 1 && inHash) {
          hashEnd = i;
          inHash = false;
        }
        expectKey = isObject[depth - 1] === true;
        if (depth === 1) memberStart = i;
        i++;
        continue;
      case 0x3a: // :
        i++;
        continue;
      case 0x74: // true
      case 0x6e: // null
        i += 4;
        continue;
      case 0x66: // false
        i += 5;
        continue;
      default: {
        // a number: judge short integers only
        let j = i;
        if (c === 0x2d) j++;
        const first = j;
        while (j < n) {
          const d = text.charCodeAt(j);
          if (d < 0x30 || d > 0x39) break;
          j++;
        }
        const digits = j - first;
        if (digits === 0 || digits > 15) return NOT_JUDGED;
        if (text.charCodeAt(first) === 0x30 && (digits > 1 || first > i)) return NOT_JUDGED; // 01, -0
        const next = text.charCodeAt(j);
        if (next === 0x2e || next === 0x65 || next === 0x45) return NOT_JUDGED; // . e E
        i = j;
        continue;
      }
    }
  }
  if (depth !== 0) return NOT_JUDGED;
  if (hashStart < 0 || hashEnd < 0) return { start: -1, end: -1 };
  // First member: take the comma after it instead of the one before.
  if (text.charCodeAt(hashStart) !== 0x2c && text.charCodeAt(hashEnd) === 0x2c) return { start: hashStart, end: hashEnd + 1 };
  return { start: hashStart, end: hashEnd };
}

/**
 * For `value = JSON.parse(text)`: its encodings when `text` is exactly its
 * canonical JSON, null when it is not (or cannot be encoded). Same answer as
 * comparing `encodeEnvelope(value).canonical` with `text`, but for the usual
 * line it only scans the text once (no re-serialization). Used by readers of
 * stored lines.
 */
export function encodingOfText(text: string, value: object): EnvelopeEncoding | null {
  const range = scanCanonical(text);
  if (range !== NOT_JUDGED) {
    return {
      canonical: text,
      hashInput: range.start < 0 ? text : text.slice(0, range.start) + text.slice(range.end),
    };
  }
  let encoding: EnvelopeEncoding;
  try {
    encoding = encodeEnvelope(value);
  } catch {
    return null;
  }
  return encoding.canonical === text ? encoding : null;
}
