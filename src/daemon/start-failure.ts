/**
 * A start that fails, as vFunD's log says it: one error record with the
 * error's code and message (a VirtFunError's code, an errno name such as
 * EADDRINUSE, or INTERNAL), never a raw stack trace; the stack follows at
 * debug level, for whoever asks for it (`--log-level debug`).
 */
import { messageOf } from '../errors.js';
import { rec, type LogRecord } from './log.js';

/** The code of an error: its `code` when it is a string (VirtFunError, errno), else INTERNAL. */
export function codeOf(err: unknown): string {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code !== '' ? code : 'INTERNAL';
}

/** The records of a failed start: the error (code, message), then its stack at debug when it has one. */
export function startFailureRecords(err: unknown): LogRecord[] {
  const message = messageOf(err);
  const code = codeOf(err);
  const out = [rec('error', `vFunD did not start: ${message}`, { event: 'vfund.start-failed', err: { code, message } })];
  const stack = err instanceof Error ? err.stack : undefined;
  if (stack !== undefined) out.push(rec('debug', 'the failed start, where it failed', { event: 'vfund.start-failed', err: { code, stack } }));
  return out;
}
