/**
 * SHA-256 hex of a string's UTF-8 bytes with node:crypto: the same digest as
 * canonical.ts's `sha256Hex` (pure, @noble/hashes), several times faster on
 * long lines. The adapters that re-check a chain as they read it use this one.
 */
import * as crypto from 'node:crypto';
import { loadShm } from '../../native/shm.js';

/** SHA-256 hex of `text`'s UTF-8 bytes (`crypto.hash` where Node has it, else `createHash`). */
export const nativeSha256Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * The native addon's one-pass check of a stored record's bytes: true when they
 * are, by a conservative scan, an envelope's canonical JSON whose `hash`
 * member recomputes (`hash` and `prevHash`: 64 lowercase hex digits); false for anything it does not judge (the caller then
 * checks the slow way). Null without the addon.
 */
export function nativeStoredSealed(): ((bytes: Uint8Array) => boolean) | null {
  return loadShm()?.storedSealed ?? null;
}
