/**
 * `vfun audit --follow`: what matches now (every filter, `--tail n`), then
 * each new event that matches as it is journaled, until SIGINT or SIGTERM
 * (exit 0). The file journal is followed through its active file and the
 * segments it closes (events/adapters/file/follow.ts), JetStream through an
 * ordered consumer from the next seq (events/adapters/jetstream/follow.ts).
 * Rows are printed as they come: the table's layout never changes
 * (audit-table.ts), `--format json` and `ndjson` print one event a line. The
 * reads go through the same checks as `vfun audit` (hash chain, signed
 * checkpoints, hosts), as one stream. Events still waiting in a NATS outbox
 * are not listed: they are printed once they reach the journal.
 */
import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { Envelope } from '../events/envelope.js';
import type { Journal, JournalHead } from '../events/journal.js';
import { journalPath } from '../events/adapters/open-journal.js';
import { followFileJournal, type FollowWait } from '../events/adapters/file/follow.js';
import { ValidationError, VirtFunError } from '../errors.js';
import type { AuditFormat } from './audit.js';
import type { Sink, Window } from './audit-stream.js';
import { tableHead, tableRow, type TableStyle } from './audit-table.js';

/** How often the file journal is looked at when no change was seen (a change wakes it at once). */
export const FOLLOW_POLL_MS = 250;
/** Rows gathered into one write before following starts. */
const BATCH_BYTES = 1 << 16;

/** The signals that end `--follow` (exit 0). */
export const FOLLOW_STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** `--follow` prints every match as it comes: `--limit` (stop after n) contradicts it. */
export function checkFollowWindow(w: Window): void {
  if (w.kind === 'limit') throw new ValidationError('--limit', '--follow prints every event that matches as it comes: give --tail n (the last n first) or neither');
}

/**
 * An AbortSignal aborted by SIGINT or SIGTERM, and the undo of its handlers.
 * While it is in force those signals end following instead of the process.
 */
export function abortOnSignals(): { readonly signal: AbortSignal; readonly undo: () => void } {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  for (const s of FOLLOW_STOP_SIGNALS) process.on(s, stop);
  return { signal: ac.signal, undo: () => FOLLOW_STOP_SIGNALS.forEach((s) => process.off(s, stop)) };
}

/** A FollowWait over a directory: a change in it, or FOLLOW_POLL_MS, whichever first; false once `signal` aborts. */
export function directoryWait(dir: string, signal: AbortSignal, pollMs = FOLLOW_POLL_MS): { readonly wait: FollowWait; readonly close: () => void } {
  let wake: ((more: boolean) => void) | null = null;
  const fire = (more: boolean): void => {
    const w = wake;
    wake = null;
    w?.(more);
  };
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(dir, { persistent: false }, () => fire(true));
    watcher.on('error', () => undefined); // polling goes on
  } catch {
    watcher = null; // no inotify here: polling alone
  }
  const onAbort = (): void => fire(false);
  signal.addEventListener('abort', onAbort, { once: true });
  return {
    wait: () =>
      signal.aborted
        ? Promise.resolve(false)
        : new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => fire(true), pollMs);
            wake = (more) => {
              clearTimeout(timer);
              resolve(more);
            };
          }),
    close: () => {
      signal.removeEventListener('abort', onAbort);
      watcher?.close();
      fire(false);
    },
  };
}

/** What follows a journal from a given event: its new events as they come, until `signal` aborts. */
export type Follower = (after: JournalHead | null) => AsyncIterable<Envelope>;

/** The follower of `journal` (opened for reading): file: or nats:; other journals cannot be followed (VirtFunError). */
export async function followerOf(journal: Journal, signal: AbortSignal): Promise<{ readonly follow: Follower; readonly close: () => void }> {
  const path = journalPath(journal.url);
  if (path !== null) {
    const { wait, close } = directoryWait(dirname(path), signal);
    return { follow: (after) => followFileJournal(path, after, wait), close };
  }
  const js = journal as Partial<{ connection: unknown; stream: string }>;
  if (journal.url.startsWith('nats://') && js.connection !== undefined && typeof js.stream === 'string') {
    const { followJetStream } = await import('../events/adapters/jetstream/follow.js');
    const source = { nc: js.connection as Parameters<typeof followJetStream>[0]['nc'], stream: js.stream, url: journal.url };
    return { follow: (after) => followJetStream(source, after, signal), close: () => undefined };
  }
  throw new VirtFunError('JOURNAL_URL', `--follow follows a file: or nats: journal, not ${journal.url}`);
}

/** A one-way switch: `open()` it once; `opened` and `reached` tell when it was. */
export interface Latch {
  open(): void;
  readonly opened: boolean;
  readonly reached: Promise<void>;
}

/** A latch not yet opened. */
export function latch(): Latch {
  let resolve: () => void = () => undefined;
  const reached = new Promise<void>((r) => (resolve = r));
  let opened = false;
  return {
    open: () => {
      opened = true;
      resolve();
    },
    get opened() {
      return opened;
    },
    reached,
  };
}

/**
 * The journal's events from its first, then what `follow` gives after the
 * last of them; `caughtUp()` is called in between (before the first followed
 * event is asked for).
 */
export async function* readThenFollow(journal: Journal, follow: Follower, caughtUp: () => void): AsyncGenerator<Envelope> {
  let last: JournalHead | null = null;
  for await (const e of journal.read()) {
    last = { seq: e.seq, hash: e.hash };
    yield e;
  }
  caughtUp();
  yield* follow(last);
}

/**
 * Prints the events of `source` that match: those before `caughtUp` opens
 * gathered (only the last n with `--tail n`) and written as soon as it opens,
 * then each one alone as it comes. `onLive` runs when the first part is out.
 * Table: its head, the rows, and a foot counting them when `source` ends;
 * json and ndjson: one event a line. Returns how many were printed.
 */
export async function printFollowing(
  source: AsyncIterable<Envelope>,
  caughtUp: Latch,
  match: (e: Envelope) => boolean,
  format: AuditFormat,
  w: Window,
  sink: Sink,
  style: TableStyle = 'fit',
  onLive: () => void = () => undefined,
): Promise<number> {
  checkFollowWindow(w);
  const row = (e: Envelope): string => (format === 'table' ? tableRow(e, style) : `${JSON.stringify(e)}\n`);
  const tail = w.kind === 'tail' ? w.n : Infinity;
  const ring: Envelope[] = [];
  let out = format === 'table' ? tableHead(style) : '';
  let shown = 0;
  let live = false;
  const goLive = async (): Promise<void> => {
    live = true;
    for (const e of ring) out += row(e);
    shown += ring.length;
    ring.length = 0;
    await sink(out);
    out = '';
    onLive();
  };
  const it = source[Symbol.asyncIterator]();
  const reached = caughtUp.reached.then(() => null);
  for (;;) {
    const next = it.next();
    // Until then, the first part is written as soon as the journal is caught up, not when the next event comes.
    let r = live ? await next : await Promise.race([next, reached]);
    if (r === null) {
      await goLive();
      r = await next;
    }
    if (r.done === true) break;
    const e = r.value;
    // Opened before a followed event is asked for: an event that comes after it is a new one.
    if (!live && caughtUp.opened) await goLive();
    if (!match(e)) continue;
    if (live) {
      await sink(row(e));
      shown++;
    } else if (tail !== Infinity) {
      ring.push(e);
      if (ring.length > tail) ring.shift();
    } else {
      out += row(e);
      shown++;
      if (out.length >= BATCH_BYTES) {
        await sink(out);
        out = '';
      }
    }
  }
  if (!live) await goLive();
  if (format === 'table') await sink(`${shown} event${shown === 1 ? '' : 's'}\n`);
  return shown;
}
