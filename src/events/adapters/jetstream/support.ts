/**
 * Small helpers shared by the JetStream adapter's modules: the text of an
 * error for logs, and a promise of a pause.
 */

/** `Name: message` of an error, or the value as a string. */
export function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** Resolves after `ms` milliseconds. */
export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
