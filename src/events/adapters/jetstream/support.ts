/**
 * Small helpers shared by the JetStream adapter's modules: the text of an
 * error for logs, a promise of a pause, the SHA-256 of a message's bytes.
 */
import { createHash } from 'node:crypto';

/** `Name: message` of an error, or the value as a string. */
export function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** Resolves after `ms` milliseconds. */
export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** SHA-256 hex of a message's raw bytes (damaged messages only). */
export function rawSha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
