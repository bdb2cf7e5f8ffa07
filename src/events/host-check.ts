/**
 * Which host wrote a journal (docs/events.md, "Hosts"): every envelope names
 * the vFunD host that sealed it (`host`), and a journal has one writer, so
 * its envelopes name one host, or two when the host was renamed once
 * (the old name, then the new one).
 *
 * A writer refuses a journal whose last envelope names another host, unless
 * it is told the host was renamed from that one (`previousHost`). A reader
 * told the host (a journal URL's `host=`) reports the first envelope of any
 * other host, naming its seq. Pure, and shared by every adapter: the file
 * journal uses it; a remote adapter may (see JetStream's `host=`).
 */
import { JournalHostError } from '../errors.js';
import type { Envelope } from './envelope.js';

/** The host a journal belongs to, and the name it had before a rename, if it was renamed. */
export interface HostPolicy {
  readonly host: string;
  /** The host's name before it was renamed: envelopes of it may come before the first one of `host`. */
  readonly previousHost?: string;
}

/** The envelope's fields the checks read. */
type Stamped = Pick<Envelope, 'seq' | 'id' | 'host'>;

/**
 * The writer's check of the journal's last envelope (null: an empty journal).
 * Returns the refusal, or null when the journal may be appended to.
 */
export function writerHostFault(last: Stamped | null, policy: HostPolicy): JournalHostError | null {
  if (last === null || last.host === policy.host || (policy.previousHost !== undefined && last.host === policy.previousHost)) return null;
  const renamed = policy.previousHost === undefined ? '' : ` (nor '${policy.previousHost}', its name before)`;
  return new JournalHostError(
    last.seq,
    `refusing to write to the journal: its last event, seq ${last.seq} (event ${last.id}), was written by host '${last.host}', not this host '${policy.host}'${renamed}. ` +
      `One journal belongs to one host: give this vFunD its own journal, or, if this host was renamed from '${last.host}', ` +
      `say so with previousHost=${last.host} in the journal URL (docs/operator-guide.md, "A journal of another host")`,
  );
}

/** Where a reader's host check stands: whether an envelope of `host` was seen (after it, the previous name is no longer accepted). */
export interface HostCheckState {
  readonly seenHost: boolean;
}

export const initialHostCheck: HostCheckState = { seenHost: false };

/** One envelope through the reader's host check: the next state, or the error naming its seq. */
export function stepHostCheck(state: HostCheckState, env: Stamped, policy: HostPolicy): { readonly state: HostCheckState; readonly error: JournalHostError | null } {
  if (env.host === policy.host) return { state: state.seenHost ? state : { seenHost: true }, error: null };
  if (!state.seenHost && policy.previousHost !== undefined && env.host === policy.previousHost) return { state, error: null };
  const why = state.seenHost && env.host === policy.previousHost ? ` (its name before the rename, after events of '${policy.host}')` : '';
  return {
    state,
    error: new JournalHostError(env.seq, `seq ${env.seq} (event ${env.id}) was written by host '${env.host}'${why}, not '${policy.host}' (the journal URL's host=)`),
  };
}

/** The envelopes of `source`, checked against `policy`: throws JournalHostError at the first envelope of another host. */
export async function* checkHosts(source: AsyncIterable<Envelope>, policy: HostPolicy): AsyncGenerator<Envelope> {
  let state = initialHostCheck;
  for await (const env of source) {
    const step = stepHostCheck(state, env, policy);
    if (step.error !== null) throw step.error;
    state = step.state;
    yield env;
  }
}
