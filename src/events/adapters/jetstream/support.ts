/**
 * Small helpers shared by the JetStream adapter's modules: the text of an
 * error for logs, a promise of a pause, a bounded wait that leaves no timer
 * behind, the SHA-256 of a message's bytes.
 */
import { createHash } from 'node:crypto';

/** `Name: message` of an error, or the value as a string. */
export function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** Resolves after `ms` milliseconds. */
export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits for `promise`, at most `ms` milliseconds: true when it settled in
 * time, false when the time ran out (a rejection passes through). The timer
 * is cleared as soon as either happens: a bound that is not reached leaves
 * nothing pending, so a command that closed its journal exits at once
 * instead of when a forgotten timer fires.
 */
export async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** SHA-256 hex of a message's raw bytes (damaged messages only). */
export function rawSha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
