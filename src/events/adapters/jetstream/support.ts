/**
 * Small helpers shared by the JetStream adapter's modules: SHA-256 with
 * node:crypto (subject tokens, the hash check of appends and reads), the text
 * of an error for logs, and a promise of a pause.
 */
import * as crypto from 'node:crypto';

/** Hex SHA-256 of a string (UTF-8), with node:crypto's one-shot hash where Node has it. */
export const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

/** `Name: message` of an error, or the value as a string. */
export function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** Resolves after `ms` milliseconds. */
export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
