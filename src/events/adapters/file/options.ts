/**
 * The file journal's open options, checked, and what opening reports when it
 * cut a torn last record.
 */
import { ValidationError } from '../../../errors.js';
import type { HostPolicy } from '../../host-check.js';
import type { LockMechanism } from '../writer-lock.js';
import { DEFAULT_SEGMENT_BYTES } from './segments.js';
import type { WriteQueueConfig } from './write-queue.js';

/** Default bound on bytes accepted and not yet written (see FileJournalOptions.maxWaitingBytes). */
export const MAX_WAITING_BYTES = 16 << 20;

/** Options of `FileJournal.open`: group commit, read-only opening, the waiting bound, the lock, the host check. */
export interface FileJournalOptions {
  /**
   * Extra time (ms) to wait for more appends before each group write. Default
   * 0: write as soon as the previous write + fdatasync is done; appends that
   * arrive meanwhile still share one write.
   */
  readonly groupCommitMs?: number;
  /**
   * Open for reading only (audit, replay, verify): the file is never written,
   * a torn last record is skipped rather than cut, a damaged last line is
   * left for read() to report rather than refused, and append() is refused.
   * Safe while a vFunD is appending to the same file.
   */
  readonly readOnly?: boolean;
  /**
   * Bound on bytes accepted and not yet written while writes fail. An append
   * that would pass it is refused at once (JournalUnavailableError, nothing
   * stored). Default 16 MiB. vFunD never comes near it: its mailbox waits for
   * each decision's append, so at most one decision's events wait.
   */
  readonly maxWaitingBytes?: number;
  /** How the writer lock is held (writer-lock.ts). Default: flock when the native addon has it, else a pid file. */
  readonly lock?: LockMechanism;
  /**
   * The host the journal belongs to (host-check.ts). Writing: opening is
   * refused (JournalHostError) when the last envelope names another host.
   * Read-only: read() throws JournalHostError at the first envelope of
   * another host. Default: no check.
   */
  readonly host?: string;
  /** The host's name before a rename: its envelopes are accepted before the first one of `host`. Only with `host`. */
  readonly previousHost?: string;
  /**
   * Size (bytes) past which the active file is closed as a segment, right
   * after the next append that ends with a checkpoint (segments.ts). Default
   * 64 MiB.
   */
  readonly segmentBytes?: number;
}

/** What `open` cut off the end of the file, when it did. */
export interface FileJournalOpenReport {
  readonly truncatedBytes: number;
  /** Byte offset the file was cut at (its new size). */
  readonly offset: number;
  readonly reason: string;
}

/** The options with their defaults, checked. */
export interface ResolvedOptions {
  readonly queue: WriteQueueConfig;
  readonly readOnly: boolean;
  readonly lock: LockMechanism | undefined;
  /** The host check, or null (no `host`). */
  readonly hosts: HostPolicy | null;
  readonly segmentBytes: number;
}

/** Checks the options and fills in the defaults; ValidationError names a bad one. */
export function resolveOptions(options: FileJournalOptions): ResolvedOptions {
  const groupCommitMs = options.groupCommitMs ?? 0;
  if (!Number.isFinite(groupCommitMs) || groupCommitMs < 0) {
    throw new ValidationError('groupCommitMs', `expected a finite number >= 0, got ${groupCommitMs}`);
  }
  const maxWaitingBytes = options.maxWaitingBytes ?? MAX_WAITING_BYTES;
  if (!Number.isSafeInteger(maxWaitingBytes) || maxWaitingBytes < 1) {
    throw new ValidationError('maxWaitingBytes', `expected a positive integer, got ${maxWaitingBytes}`);
  }
  if (options.previousHost !== undefined && options.host === undefined) throw new ValidationError('previousHost', 'only with host');
  const hosts: HostPolicy | null =
    options.host === undefined ? null : { host: options.host, ...(options.previousHost !== undefined && { previousHost: options.previousHost }) };
  const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 1) {
    throw new ValidationError('segmentBytes', `expected a positive integer, got ${segmentBytes}`);
  }
  return { queue: { groupCommitMs, maxWaitingBytes }, readOnly: options.readOnly === true, lock: options.lock, hosts, segmentBytes };
}
