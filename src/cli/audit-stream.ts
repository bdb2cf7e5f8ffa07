/**
 * `vfun audit` streamed: events are printed as they are read, never gathered
 * first. The table's rows are laid out one at a time (audit-table.ts: within
 * 120 columns, or every column in full with --wide).
 * `--limit n` stops reading after the first n events that match; `--tail n`
 * keeps the last n in a ring of n and prints them at the end.
 */
import type { Envelope } from '../events/envelope.js';
import { ValidationError } from '../errors.js';
import type { AuditFormat } from './audit.js';
import { tableHead, tableRow, type TableStyle } from './audit-table.js';

// The table's rows live in audit-table.ts; named here too for the modules that print them from this one.
export { tableHead, tableRow, wrap } from './audit-table.js';
import { isPending } from './read-journal.js';

/** Where the rows go: one string at a time, awaited (backpressure). */
export type Sink = (text: string) => Promise<void>;

/** Which of the matching events are printed. */
export type Window = { readonly kind: 'all' } | { readonly kind: 'limit'; readonly n: number } | { readonly kind: 'tail'; readonly n: number };

/** The window of `--limit` / `--tail` (not both); ValidationError on a bad count. */
export function windowOf(o: { readonly limit?: string; readonly tail?: string }): Window {
  if (o.limit !== undefined && o.tail !== undefined) throw new ValidationError('--limit', 'give --limit or --tail, not both');
  const count = (flag: string, v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new ValidationError(flag, `expected a positive integer, got '${v}'`);
    return n;
  };
  if (o.limit !== undefined) return { kind: 'limit', n: count('--limit', o.limit) };
  if (o.tail !== undefined) return { kind: 'tail', n: count('--tail', o.tail) };
  return { kind: 'all' };
}

/** The events of `source` that match, in the window: streamed for all and limit, from a ring of n for tail. */
export async function* windowed(source: AsyncIterable<Envelope>, match: (e: Envelope) => boolean, w: Window): AsyncGenerator<Envelope, number> {
  let matched = 0;
  if (w.kind === 'tail') {
    const ring: Envelope[] = new Array<Envelope>(w.n);
    for await (const e of source) if (match(e)) ring[matched++ % w.n] = e;
    const kept = Math.min(matched, w.n);
    for (let i = matched - kept; i < matched; i++) yield ring[i % w.n]!;
    return matched;
  }
  for await (const e of source) {
    if (!match(e)) continue;
    matched++;
    yield e;
    if (w.kind === 'limit' && matched >= w.n) break; // stops reading the journal
  }
  return matched;
}

/** The last line of the table: how many events, and what the window left out. */
export function tableFoot(shown: number, matched: number, w: Window): string {
  const events = `${shown} event${shown === 1 ? '' : 's'}`;
  if (w.kind === 'tail' && matched > shown) return `${events} (the last ${shown} of ${matched} that match)\n`;
  if (w.kind === 'limit' && shown === w.n) return `${events} (--limit ${w.n}: reading stopped there)\n`;
  return `${events}\n`;
}

/** The table's line under the foot when events of the outbox were listed (marked `*` after their seq); empty otherwise. */
export function pendingFoot(waiting: number): string {
  return waiting === 0 ? '' : `${waiting} of them pending (seq*: in the outbox, not yet in the journal)\n`;
}

/** JSON.stringify(value, null, 2) as an element of a pretty-printed array. */
const jsonElement = (e: Envelope): string => `  ${JSON.stringify(e, null, 2).replace(/\n/g, '\n  ')}`;

/**
 * Prints the events of `source` that match, in the window, in `format`:
 * `table` and `ndjson` row by row, `json` as one array written element by
 * element (the same text as JSON.stringify(array, null, 2)). Output is
 * gathered into writes of about 64 KiB. `host`: the table has a host column
 * first (several hosts' events merged).
 */
export async function printAudit(source: AsyncIterable<Envelope>, match: (e: Envelope) => boolean, format: AuditFormat, w: Window, sink: Sink, style: TableStyle = 'fit', host = false): Promise<void> {
  let pending = '';
  const put = async (text: string): Promise<void> => {
    pending += text;
    if (pending.length >= 1 << 16) {
      const out = pending;
      pending = '';
      await sink(out);
    }
  };
  const events = windowed(source, match, w);
  let shown = 0;
  let waiting = 0;
  if (format === 'table') await put(tableHead(style, host));
  let r = await events.next();
  if (format === 'json') await put(r.done === true ? '[]' : '[\n');
  for (; r.done !== true; r = await events.next()) {
    const e = r.value;
    if (isPending(e)) waiting++;
    if (format === 'table') await put(tableRow(e, style, host));
    else if (format === 'ndjson') await put(`${shown > 0 ? '\n' : ''}${JSON.stringify(e)}`);
    else await put(`${shown > 0 ? ',\n' : ''}${jsonElement(e)}`);
    shown++;
  }
  const matched = r.value;
  if (format === 'json' && shown > 0) await put('\n]');
  if (format === 'table') await put(tableFoot(shown, matched, w) + pendingFoot(waiting));
  else await put('\n');
  await sink(pending);
}

/** A sink writing to a stream, waiting for it to drain when its buffer is full. */
export function streamSink(stream: NodeJS.WritableStream): Sink {
  return (text) =>
    new Promise<void>((resolve) => {
      if (text === '' || stream.write(text)) resolve();
      else stream.once('drain', resolve);
    });
}
