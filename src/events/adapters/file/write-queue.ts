/**
 * The file journal's write queue (docs/events.md, "File journal") as pure
 * decisions: what append() may still take (the sticky failure, fail-fast
 * appends during an outage, the bound on waiting bytes), when the flush loop
 * stops, backs off, gathers a group or writes, and what a group write, a cut,
 * a probe, a failed write or another writer's bytes change: appends resolve
 * once their bytes are durable, fail-fast appends are withdrawn once their
 * bytes are cut, the outage is reported once when it starts and once when it
 * ends, the retry delay doubles from 50 ms to 1 s.
 *
 * `step(state, input)` returns the next state and the effects to carry
 * out, in order. It does no I/O, reads no clock (times come with the inputs)
 * and never changes the state it is given. The journal (journal.ts) does the
 * writes, cuts, fdatasyncs, probes and timers, and feeds their outcomes back.
 */
import { JournalUnavailableError } from '../../../errors.js';
import type { JournalAvailability, JournalHead } from '../../journal.js';

/** Backoff between attempts while writes fail: doubles from the first to the last. */
export const RETRY_FIRST_MS = 50;
export const RETRY_MAX_MS = 1000;
/** Smallest probe written while nothing waits (the probe is as large as the last failed write otherwise). */
export const PROBE_MIN_BYTES = 4096;
/** What appenders are told while the journal cannot write: never a host path (it may reach a tenant). */
export const UNAVAILABLE = 'the journal cannot write right now';
/** Withdrawn entries at the front of the log's buffer past which it is copied down. */
const COMPACT_AFTER = 1024;

/** One line of an append: its byte length (newline included) and the head after it. */
export interface AppendLine {
  readonly bytes: number;
  readonly head: JournalHead;
  /** The line is a checkpoint: a segment may close after it (segments.ts). */
  readonly checkpoint?: true;
}

/** One append accepted and not yet durable. `P` is how the journal settles it (its promise's callbacks). */
export interface QueuedAppend<P> {
  /** The lines, each canonical JSON then '\n'. */
  readonly text: string;
  /** UTF-8 bytes of `text`. */
  readonly bytes: number;
  readonly failFast: boolean;
  readonly lines: readonly AppendLine[];
  readonly payload: P;
}

/** What the queue is told once, when the journal opens (options.ts checks it). */
export interface WriteQueueConfig {
  /** Extra time (ms) to wait for more appends before each group write. */
  readonly groupCommitMs: number;
  /** Bound on bytes accepted and not yet written. */
  readonly maxWaitingBytes: number;
}

/** Writes fail: since when (ms since the epoch), and the last error's text. */
export interface Outage {
  readonly since: number;
  readonly reason: string;
}

/**
 * The queued appends, `buf[start, end)`. Past a state's `end` nobody reads the
 * buffer, so an append pushes in place unless a later state already did.
 */
export interface AppendLog<P> {
  readonly buf: QueuedAppend<P>[];
  readonly start: number;
  readonly end: number;
}

/** The write queue. Changed only by admit() and step(). */
export interface WriteQueueState<P> {
  /** Appends accepted and not yet durable, in order. Removed only once written (or withdrawn). */
  readonly log: AppendLog<P>;
  /** Bytes of the queued appends. */
  readonly waitingBytes: number;
  /** Bytes durably written (fdatasync'd); reads stop here. */
  readonly size: number;
  /** Head of the durable file. */
  readonly durable: JournalHead | null;
  /** Head including appends accepted but not yet durable: new appends chain on it. */
  readonly tail: JournalHead | null;
  /** Set when the file can no longer be trusted for appends (sticky). */
  readonly failure: Error | null;
  /** Set while writes fail. */
  readonly outage: Outage | null;
  /** The file may hold bytes past `size` (a write that failed half-way): cut them before anything else. */
  readonly dirty: boolean;
  /** The next backoff pause (ms). */
  readonly retryDelay: number;
  /** Size of the last write that failed: what a probe must be able to write. */
  readonly failedBytes: number;
  /** close() was called: appends are refused, a probe with nothing queued stops. */
  readonly closing: boolean;
  /** Group writes (one write + one fdatasync each) done so far. */
  readonly groupCommits: number;
}

/** What happened, as the journal tells the queue. `now` is the wall clock (ms since the epoch). */
export type WriteInput =
  /** close() was called. */
  | { readonly type: 'close' }
  /** A backoff pause begins (nextMove said so): the next one is twice as long. */
  | { readonly type: 'backoff' }
  /** The bytes past `size` that a failed write left were cut and fdatasync'd. */
  | { readonly type: 'cut' }
  /** A group write begins: until it ends the file may hold bytes past `size`. */
  | { readonly type: 'writing' }
  /** The first `count` queued appends, `bytes` in all, were written and fdatasync'd. */
  | { readonly type: 'written'; readonly count: number; readonly bytes: number; readonly now: number }
  /** A probe with nothing queued went through: the file system takes writes again. */
  | { readonly type: 'probed'; readonly now: number }
  /** A cut, a write, an fdatasync or a probe failed; `cut`: the file holds no bytes past `size` now. */
  | { readonly type: 'failed'; readonly error: unknown; readonly bytes: number; readonly cut: boolean; readonly now: number }
  /** The file cannot be trusted for appends any more (another writer changed it). */
  | { readonly type: 'fence'; readonly error: Error }
  /** The durable file was closed as a segment and a new, empty one took its place (segments.ts): writes go on at offset 0. */
  | { readonly type: 'rotated' };

/** What the journal carries out, in order. */
export type WriteEffect<P> =
  /** Lines became durable from file offset `offset` on (the reader's index follows them). */
  | { readonly type: 'committed'; readonly offset: number; readonly lines: readonly AppendLine[] }
  | { readonly type: 'resolve'; readonly appends: readonly QueuedAppend<P>[] }
  | { readonly type: 'reject'; readonly appends: readonly QueuedAppend<P>[]; readonly error: unknown }
  /** Tell the availability listeners. */
  | { readonly type: 'notify'; readonly change: JournalAvailability };

export interface WriteStep<P> {
  readonly state: WriteQueueState<P>;
  readonly effects: readonly WriteEffect<P>[];
}

/** What the flush loop does next (see nextMove). */
export type WriteMove =
  /** Nothing to do: the loop ends (an append or close() starts it again). */
  | { readonly type: 'stop' }
  /** Writes fail: pause `ms`, then try again; `holdsProcess` false when only probing (the timer keeps no process alive). */
  | { readonly type: 'backoff'; readonly ms: number; readonly holdsProcess: boolean }
  /** Wait `ms` for more appends to share the write. */
  | { readonly type: 'gather'; readonly ms: number }
  /** Write now. */
  | { readonly type: 'write' };

/** One attempt, once any bytes a failed write left are cut: the queued appends, or a probe when none is queued. */
export type WritePlan = { readonly type: 'write'; readonly count: number; readonly text: string } | { readonly type: 'probe'; readonly bytes: number };

/** The queue of a file whose `size` bytes are durable and end with `head`. */
export function initialWriteState<P>(size: number, head: JournalHead | null): WriteQueueState<P> {
  return {
    log: { buf: [], start: 0, end: 0 },
    waitingBytes: 0,
    size,
    durable: head,
    tail: head,
    failure: null,
    outage: null,
    dirty: false,
    retryDelay: RETRY_FIRST_MS,
    failedBytes: 0,
    closing: false,
    groupCommits: 0,
  };
}

// -- queries ---------------------------------------------------------------------

/** The queued appends, oldest first. */
export function queued<P>(state: WriteQueueState<P>): readonly QueuedAppend<P>[] {
  return state.log.buf.slice(state.log.start, state.log.end);
}

/** Envelopes accepted and not yet written. */
export function waitingEvents<P>(state: WriteQueueState<P>): number {
  let n = 0;
  for (let i = state.log.start; i < state.log.end; i++) n += (state.log.buf[i] as QueuedAppend<P>).lines.length;
  return n;
}

/** Whether new work may be taken on: not while writes fail, not after a failure, not once closing. */
export function isAvailable<P>(state: WriteQueueState<P>): boolean {
  return state.failure === null && state.outage === null && !state.closing;
}

/**
 * Why an append cannot be taken at all, checked before it is encoded (null: it
 * may be): the sticky failure, or a fail-fast append during an outage.
 */
export function refusal<P>(state: WriteQueueState<P>, failFast: boolean): Error | null {
  if (state.failure !== null) return state.failure;
  if (failFast && state.outage !== null) return new JournalUnavailableError(UNAVAILABLE);
  return null;
}

/**
 * Queues an encoded append (at least one line), chaining the tail on it, or
 * refuses it when it would pass the bound on waiting bytes (nothing stored).
 */
export function admit<P>(
  state: WriteQueueState<P>,
  config: WriteQueueConfig,
  append: QueuedAppend<P>,
): { readonly ok: true; readonly state: WriteQueueState<P> } | { readonly ok: false; readonly error: JournalUnavailableError } {
  if (state.waitingBytes + append.bytes > config.maxWaitingBytes) {
    const error = new JournalUnavailableError(`${UNAVAILABLE}: ${state.waitingBytes} bytes already wait to be written (at most ${config.maxWaitingBytes})`);
    return { ok: false, error };
  }
  const last = append.lines.at(-1);
  if (last === undefined) throw new RangeError('an append has at least one line');
  return { ok: true, state: { ...state, log: pushLog(state.log, append), waitingBytes: state.waitingBytes + append.bytes, tail: last.head } };
}

/** Whether the flush loop has nothing to do: after a failure, or with nothing queued and nothing to probe (or closing). */
export function isIdle<P>(state: WriteQueueState<P>): boolean {
  return state.failure !== null || (state.log.end === state.log.start && (state.outage === null || state.closing));
}

/** What the flush loop does next. After a pause it asks isIdle() again before it writes. */
export function nextMove<P>(state: WriteQueueState<P>, config: WriteQueueConfig): WriteMove {
  if (isIdle(state)) return { type: 'stop' };
  if (state.outage !== null) return { type: 'backoff', ms: state.retryDelay, holdsProcess: state.log.end > state.log.start };
  if (config.groupCommitMs > 0) return { type: 'gather', ms: config.groupCommitMs };
  return { type: 'write' };
}

/** What to write, once the file holds no bytes past `size`. */
export function writePlan<P>(state: WriteQueueState<P>): WritePlan {
  const group = queued(state);
  if (group.length === 0) return { type: 'probe', bytes: Math.max(PROBE_MIN_BYTES, state.failedBytes) };
  return { type: 'write', count: group.length, text: group.map((g) => g.text).join('') };
}

/** The text of an error for operators' logs: `CODE: message` for a system error. */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    return code !== undefined && !err.message.startsWith(String(code)) ? `${String(code)}: ${err.message}` : err.message;
  }
  return String(err);
}

// -- the transition --------------------------------------------------------------

type Draft<P> = { -readonly [K in keyof WriteQueueState<P>]: WriteQueueState<P>[K] };

/** The next state and the effects to carry out, in order, for one input. */
export function step<P>(state: WriteQueueState<P>, input: WriteInput): WriteStep<P> {
  const d: Draft<P> = { ...state };
  const fx: WriteEffect<P>[] = [];
  switch (input.type) {
    case 'close':
      d.closing = true;
      break;
    case 'backoff':
      d.retryDelay = Math.min(d.retryDelay * 2, RETRY_MAX_MS);
      break;
    case 'cut':
      d.dirty = false;
      // Fail-fast appends whose bytes could not be cut at once were kept back: now they can be refused.
      if (d.outage !== null) withdrawFailFast(d, fx, new Error(d.outage.reason));
      break;
    case 'writing':
      d.dirty = true;
      break;
    case 'written':
      written(d, fx, input.count, input.bytes);
      recovered(d, fx, input.now);
      break;
    case 'probed':
      recovered(d, fx, input.now);
      break;
    case 'failed':
      d.dirty = !input.cut;
      d.failedBytes = Math.max(input.bytes, d.failedBytes);
      // A fail-fast append is refused only once its bytes are cut: never refuse what a crash could leave in the file.
      if (input.cut) withdrawFailFast(d, fx, input.error);
      unavailable(d, fx, input.error, input.now);
      break;
    case 'fence':
      fence(d, fx, input.error);
      break;
    case 'rotated':
      d.size = 0;
      break;
  }
  return { state: d, effects: fx };
}

function pushLog<P>(log: AppendLog<P>, append: QueuedAppend<P>): AppendLog<P> {
  const buf = log.buf.length === log.end ? log.buf : log.buf.slice(0, log.end);
  buf.push(append);
  return { buf, start: log.start, end: log.end + 1 };
}

/** The log without its first `count` appends (copied down once enough are gone). */
function dropFront<P>(log: AppendLog<P>, count: number): AppendLog<P> {
  const start = log.start + count;
  if (start === log.end) return { buf: [], start: 0, end: 0 };
  if (start >= COMPACT_AFTER && start * 2 >= log.end) return { buf: log.buf.slice(start, log.end), start: 0, end: log.end - start };
  return { buf: log.buf, start, end: log.end };
}

function written<P>(d: Draft<P>, fx: WriteEffect<P>[], count: number, bytes: number): void {
  const group = d.log.buf.slice(d.log.start, d.log.start + count);
  d.dirty = false;
  d.log = dropFront(d.log, count);
  const lines: AppendLine[] = [];
  for (const q of group) {
    d.waitingBytes -= q.bytes;
    for (const line of q.lines) {
      lines.push(line);
      d.durable = line.head;
    }
  }
  fx.push({ type: 'committed', offset: d.size, lines });
  d.size += bytes;
  d.groupCommits++;
  fx.push({ type: 'resolve', appends: group });
}

/**
 * The appends at the end of the queue that asked to fail fast are withdrawn:
 * rejected, never to be written. (One followed by a waiting append stays: the
 * waiting one chains on it.)
 */
function withdrawFailFast<P>(d: Draft<P>, fx: WriteEffect<P>[], err: unknown): void {
  const { buf, start, end } = d.log;
  let keep = end;
  while (keep > start && (buf[keep - 1] as QueuedAppend<P>).failFast) keep--;
  if (keep === end) return;
  const withdrawn = buf.slice(keep, end);
  for (const q of withdrawn) d.waitingBytes -= q.bytes;
  d.log = keep === start ? { buf: [], start: 0, end: 0 } : { buf, start, end: keep };
  d.tail = keep === start ? d.durable : (buf[keep - 1] as QueuedAppend<P>).lines.at(-1)!.head;
  fx.push({ type: 'reject', appends: withdrawn, error: new JournalUnavailableError(UNAVAILABLE, { cause: err }) });
}

function unavailable<P>(d: Draft<P>, fx: WriteEffect<P>[], err: unknown, now: number): void {
  const reason = errorText(err);
  if (d.outage !== null) {
    d.outage = { since: d.outage.since, reason };
    return;
  }
  d.outage = { since: now, reason };
  d.retryDelay = RETRY_FIRST_MS;
  fx.push({ type: 'notify', change: { available: false, reason, waiting: waitingEvents(d) } });
}

function recovered<P>(d: Draft<P>, fx: WriteEffect<P>[], now: number): void {
  if (d.outage === null) return;
  const outageMs = now - d.outage.since;
  d.outage = null;
  d.failedBytes = 0;
  d.retryDelay = RETRY_FIRST_MS;
  fx.push({ type: 'notify', change: { available: true, reason: null, waiting: waitingEvents(d), outageMs } });
}

/** The file can no longer be trusted for appends: every queued append fails, and every later one. */
function fence<P>(d: Draft<P>, fx: WriteEffect<P>[], err: Error): void {
  d.failure = err;
  const doomed = d.log.buf.slice(d.log.start, d.log.end);
  d.log = { buf: [], start: 0, end: 0 };
  d.waitingBytes = 0;
  d.tail = d.durable;
  if (doomed.length > 0) fx.push({ type: 'reject', appends: doomed, error: err });
  d.outage = null;
  fx.push({ type: 'notify', change: { available: false, reason: err.message, waiting: 0 } });
}
