/**
 * What a journal stream must look like (docs/jetstream.md, "Stream check at
 * open"), as pure functions over what JetStream reports: its configuration
 * (subjects, storage, retention, no limits, deny flags, no rollups, no sources),
 * its state (first sequence 1, no gaps) and its identity (the creation time
 * its messages recorded when they were published). vFunD and every reader refuse a stream that fails any of them,
 * with an error naming each field, the value expected and the value found.
 */
import { VirtFunError } from '../../../errors.js';

/** One field of a stream that is not what a journal needs. */
export interface StreamFault {
  readonly field: string;
  readonly expected: string;
  readonly actual: string;
}

/** The configuration fields checked (a subset of JetStream's StreamConfig, as reported). */
export interface CheckedStreamConfig {
  readonly subjects?: readonly string[];
  readonly storage?: string;
  readonly retention?: string;
  readonly discard?: string;
  readonly max_msgs?: number;
  readonly max_bytes?: number;
  readonly max_age?: number;
  readonly max_msgs_per_subject?: number;
  readonly deny_delete?: boolean;
  readonly deny_purge?: boolean;
  readonly allow_rollup_hdrs?: boolean;
  readonly sealed?: boolean;
  readonly mirror?: unknown;
  readonly sources?: readonly unknown[];
  readonly first_seq?: number;
}

/** A stream that is not (or no longer) a journal stream: `faults` names every field. */
export class StreamConfigError extends VirtFunError {
  override readonly name = 'StreamConfigError';
  readonly stream: string;
  readonly faults: readonly StreamFault[];
  constructor(stream: string, faults: readonly StreamFault[], hint = '') {
    super('CONFIG', `stream ${stream} is not a journal stream as vFunD made it: ${faults.map(describeFault).join('; ')}${hint}`);
    this.stream = stream;
    this.faults = faults;
  }
}

/** `field: expected E, found A`. */
export function describeFault(f: StreamFault): string {
  return `${f.field}: expected ${f.expected}, found ${f.actual}`;
}

const show = (v: unknown): string => (v === undefined ? 'unset' : JSON.stringify(v));
const UNLIMITED = '-1 (unlimited)';
/** JetStream reports "no limit" as -1 (or 0 for max_age and per-subject limits on some versions). */
const unlimited = (v: number | undefined): boolean => v === undefined || v <= 0;

/**
 * Every field of `config` that differs from a journal stream capturing
 * exactly `subject`: file storage, limits retention, discard old, no limit of
 * any kind, deny_delete and deny_purge, no rollup headers, not sealed, no
 * mirror or sources, no first sequence other than 1. Empty when it is one.
 */
export function journalStreamFaults(config: CheckedStreamConfig, subject: string): StreamFault[] {
  const faults: StreamFault[] = [];
  const want = (field: string, ok: boolean, expected: string, actual: unknown): void => {
    if (!ok) faults.push({ field, expected, actual: show(actual) });
  };
  const subjects = config.subjects ?? [];
  want('subjects', subjects.length === 1 && subjects[0] === subject, show([subject]), subjects);
  want('storage', config.storage === 'file', '"file"', config.storage);
  want('retention', config.retention === 'limits', '"limits"', config.retention);
  want('discard', config.discard === undefined || config.discard === 'old', '"old"', config.discard);
  want('max_msgs', unlimited(config.max_msgs), UNLIMITED, config.max_msgs);
  want('max_bytes', unlimited(config.max_bytes), UNLIMITED, config.max_bytes);
  want('max_age', unlimited(config.max_age), '0 (unlimited)', config.max_age);
  want('max_msgs_per_subject', unlimited(config.max_msgs_per_subject), UNLIMITED, config.max_msgs_per_subject);
  want('deny_delete', config.deny_delete === true, 'true', config.deny_delete);
  want('deny_purge', config.deny_purge === true, 'true', config.deny_purge);
  want('allow_rollup_hdrs', config.allow_rollup_hdrs !== true, 'false', config.allow_rollup_hdrs);
  want('sealed', config.sealed !== true, 'false', config.sealed);
  want('mirror', config.mirror === undefined || config.mirror === null, 'none', config.mirror);
  want('sources', (config.sources ?? []).length === 0, 'none', config.sources);
  want('first_seq', config.first_seq === undefined || config.first_seq <= 1, '1', config.first_seq);
  return faults;
}

/** The stream state fields checked. */
export interface CheckedStreamState {
  readonly messages: number;
  readonly first_seq: number;
  readonly last_seq: number;
}

/**
 * A journal stream holds seq 1 to last_seq, every one: first_seq 1 (or the
 * empty stream's 0/1) and messages = last_seq. Faults otherwise.
 */
export function journalStateFaults(state: CheckedStreamState): StreamFault[] {
  if (state.last_seq === 0) return [];
  const faults: StreamFault[] = [];
  if (state.first_seq !== 1) faults.push({ field: 'state.first_seq', expected: '1', actual: String(state.first_seq) });
  if (state.messages !== state.last_seq) faults.push({ field: 'state.messages', expected: `${state.last_seq} (= last_seq, no gaps)`, actual: String(state.messages) });
  return faults;
}

/** The header every event message carries: the `created` time of the stream vFunD opened. */
export const STREAM_CREATED_HEADER = 'Vfun-Stream-Created';

/**
 * A message recorded that it was published into a stream created at
 * `recorded` (its STREAM_CREATED_HEADER); the stream now says `created`. A
 * difference means the stream was deleted and re-created and the message
 * copied into the new one: the fault, or null. A message without the header
 * (written before the header existed) cannot tell.
 */
export function recreatedFault(created: string, recorded: string | null, seq: number): StreamFault | null {
  if (recorded === null || recorded === created) return null;
  return {
    field: 'created',
    expected: `${recorded} (recorded by message ${seq} when it was published)`,
    actual: `${created}: the stream was re-created and its messages copied into it`,
  };
}
