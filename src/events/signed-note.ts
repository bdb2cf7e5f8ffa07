/**
 * Signed notes (c2sp.org/signed-note, the format of Go's sumdb/note) with
 * Ed25519 signatures: a text signed by one or more keys, the envelope of the
 * journal's checkpoints (docs/events.md, "Merkle tree and checkpoints").
 *
 * A signed note is the text (ending in a newline), a blank line, then one line
 * per signature: `— <key name> <base64(key ID || signature)>\n`. The key ID is
 * the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || public key), and
 * the signature is Ed25519 (RFC 8032) over the UTF-8 bytes of the text,
 * final newline included.
 *
 * The Ed25519 primitive is injected (`NoteSigner`, `Ed25519Verify`): this
 * module is pure (no node:* imports); src/events/adapters/checkpoint-key.ts provides
 * both with node:crypto.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { ValidationError } from '../errors.js';

/** Signature type byte of Ed25519 in key IDs and verifier keys. */
export const ED25519_TYPE = 0x01;
/** Bytes of an Ed25519 public key and of a signature. */
export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;
/** Signature lines `openNote` reads at most (the format asks for at least 16). */
export const MAX_NOTE_SIGNATURES = 64;
/** Characters `openNote` reads at most. */
export const MAX_NOTE_LENGTH = 1 << 20;

/** Signs with an Ed25519 key (private side kept by the implementation). */
export interface NoteSigner {
  /** Key name: non-empty, no Unicode spaces, no `+`. For a journal's log key, the checkpoint origin. */
  readonly name: string;
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** The 64-byte Ed25519 signature of `message`. */
  sign(message: Uint8Array): Uint8Array;
}

/** A trusted Ed25519 key: its name and raw 32-byte public key. */
export interface NoteVerifier {
  readonly name: string;
  readonly publicKey: Uint8Array;
}

/** Ed25519 verification (RFC 8032): true when `signature` is `publicKey`'s over `message`. */
export type Ed25519Verify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

/** What `openNote` found: the text and the trusted keys whose signatures verified, or why not. */
export type NoteOpen =
  | { readonly ok: true; readonly text: string; readonly verified: readonly NoteVerifier[] }
  | { readonly ok: false; readonly reason: string };

/** Standard base64 (RFC 4648 §4) with padding. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes standard padded base64, or null when `text` is anything else (including non-canonical trailing bits). */
export function decodeBase64(text: string): Uint8Array | null {
  if (!BASE64.test(text)) return null;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return encodeBase64(bytes) === text ? bytes : null;
}

/** Control characters (newline aside), lone surrogates: what a note never holds. */
const NOTE_FORBIDDEN = /[\u0000-\u0009\u000b-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** Unicode spaces (Go's unicode.IsSpace, plus U+FEFF), `+`, control characters, lone surrogates. */
const KEY_NAME_FORBIDDEN = /[\s\u0085+\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why `name` cannot be a key name (or a checkpoint origin), or null when it can. */
export function keyNameFault(name: string): string | null {
  if (name === '') return 'must not be empty';
  if (KEY_NAME_FORBIDDEN.test(name)) return 'must not contain spaces, "+", control characters or lone surrogates';
  return null;
}

/** Why `text` cannot be a note's text, or null when it can. */
export function noteTextFault(text: string): string | null {
  if (!text.endsWith('\n')) return 'must end with a newline';
  if (NOTE_FORBIDDEN.test(text)) return 'must not contain control characters other than newline, or lone surrogates';
  return null;
}

function checkPublicKey(publicKey: Uint8Array): void {
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new ValidationError('publicKey', `expected ${ED25519_PUBLIC_KEY_BYTES} bytes, got ${publicKey.length}`);
  }
}

/** The key ID of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || publicKey)[:4], big-endian. */
export function keyId(name: string, publicKey: Uint8Array): number {
  checkPublicKey(publicKey);
  const nameBytes = utf8ToBytes(name);
  const input = new Uint8Array(nameBytes.length + 2 + publicKey.length);
  input.set(nameBytes, 0);
  input[nameBytes.length] = 0x0a;
  input[nameBytes.length + 1] = ED25519_TYPE;
  input.set(publicKey, nameBytes.length + 2);
  const h = sha256(input);
  return (((h[0] as number) << 24) | ((h[1] as number) << 16) | ((h[2] as number) << 8) | (h[3] as number)) >>> 0;
}

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');

/** The verifier key text `<name>+<key ID, 8 hex>+<base64(0x01 || public key)>` (Go's sumdb/note). */
export function encodeVerifierKey(key: NoteVerifier): string {
  const fault = keyNameFault(key.name);
  if (fault !== null) throw new ValidationError('name', fault);
  const typed = new Uint8Array(1 + ED25519_PUBLIC_KEY_BYTES);
  typed[0] = ED25519_TYPE;
  typed.set(key.publicKey, 1);
  return `${key.name}+${hex8(keyId(key.name, key.publicKey))}+${encodeBase64(typed)}`;
}

/** Parses a verifier key text; ValidationError when it is malformed or its key ID does not match. */
export function parseVerifierKey(text: string): NoteVerifier {
  const m = /^([^+]*)\+([0-9a-f]{8})\+(.*)$/s.exec(text);
  if (m === null) throw new ValidationError('verifier key', 'expected <name>+<8 hex digits>+<base64 key>');
  const [, name, id, key] = m as unknown as [string, string, string, string];
  const fault = keyNameFault(name);
  if (fault !== null) throw new ValidationError('verifier key', `name ${fault}`);
  const typed = decodeBase64(key);
  if (typed === null || typed.length !== 1 + ED25519_PUBLIC_KEY_BYTES || typed[0] !== ED25519_TYPE) {
    throw new ValidationError('verifier key', 'expected the base64 of 0x01 and a 32-byte Ed25519 public key');
  }
  const publicKey = typed.slice(1);
  if (hex8(keyId(name, publicKey)) !== id) throw new ValidationError('verifier key', `key ID ${id} does not match the name and key`);
  return { name, publicKey };
}

/** Signs `text` (ends with a newline) with each signer: the signed note. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  const textFault = noteTextFault(text);
  if (textFault !== null) throw new ValidationError('text', textFault);
  if (signers.length === 0) throw new ValidationError('signers', 'at least one signer is needed');
  const message = utf8ToBytes(text);
  let lines = '';
  for (const signer of signers) {
    const fault = keyNameFault(signer.name);
    if (fault !== null) throw new ValidationError('signer.name', fault);
    const id = keyId(signer.name, signer.publicKey);
    const signature = signer.sign(message);
    if (signature.length !== ED25519_SIGNATURE_BYTES) {
      throw new ValidationError('signature', `expected ${ED25519_SIGNATURE_BYTES} bytes, got ${signature.length}`);
    }
    const blob = new Uint8Array(4 + signature.length);
    new DataView(blob.buffer).setUint32(0, id);
    blob.set(signature, 4);
    lines += `\u2014 ${signer.name} ${encodeBase64(blob)}\n`;
  }
  return `${text}\n${lines}`;
}

const fail = (reason: string): NoteOpen => ({ ok: false, reason });

/**
 * Opens a signed note: splits the text from its signatures at the last blank
 * line, checks each signature by a key of `verifiers` (same name and key ID)
 * with `verify` and ignores the others (a witness's cosignature, another key).
 * Fails when the note is malformed, when a signature by a trusted key does not
 * verify, or when none does.
 */
export function openNote(note: string, verifiers: readonly NoteVerifier[], verify: Ed25519Verify): NoteOpen {
  if (note.length > MAX_NOTE_LENGTH) return fail(`the note is longer than ${MAX_NOTE_LENGTH} characters`);
  const fault = noteTextFault(note);
  if (fault !== null) return fail(`the note ${fault}`);
  const split = note.lastIndexOf('\n\n');
  if (split < 0) return fail('the note has no blank line before its signatures');
  if (split + 2 === note.length) return fail('the note has no signatures');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) return fail(`the note has more than ${MAX_NOTE_SIGNATURES} signatures`);
  const known = verifiers.map((v) => ({ v, id: keyId(v.name, v.publicKey) }));
  const verified: NoteVerifier[] = [];
  const message = utf8ToBytes(text);
  for (const line of lines) {
    const m = /^\u2014 ([^ ]+) ([^ ]+)$/.exec(line);
    if (m === null) return fail(`malformed signature line ${JSON.stringify(line)}`);
    const [, name, b64] = m as unknown as [string, string, string];
    if (keyNameFault(name) !== null) return fail(`malformed key name in signature line ${JSON.stringify(line)}`);
    const blob = decodeBase64(b64);
    if (blob === null || blob.length < 5) return fail(`malformed signature by ${name}`);
    const id = new DataView(blob.buffer, blob.byteOffset).getUint32(0);
    for (const { v } of known.filter((k) => k.v.name === name && k.id === id)) {
      const signature = blob.subarray(4);
      if (signature.length !== ED25519_SIGNATURE_BYTES || !verify(v.publicKey, message, signature)) {
        return fail(`the signature by ${name} (key ID ${hex8(id)}) does not verify`);
      }
      if (!verified.includes(v)) verified.push(v);
    }
  }
  if (verified.length === 0) return fail('no signature by a trusted key');
  return { ok: true, text, verified };
}
