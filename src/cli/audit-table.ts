/**
 * The table of `vfun audit`, one row at a time (rows are printed as they are
 * read, or as they are journaled with --follow: the layout never depends on
 * what comes later). By default it fits 120 columns: fixed column widths, ids
 * cut with `…`, times to the second, and `what` wrapped onto continuation
 * lines. `--wide` prints every value in full: times to the millisecond,
 * nothing cut, `what` on one line.
 *
 * With `host` (`vfun audit --host`, several hosts merged) a `host` column
 * comes first; in the fitted table its width comes out of `what`'s, so the
 * table still fits 120 columns.
 *
 * Whatever a tenant or a refused request sent is printed as text: control
 * characters, invisible and bidirectional marks and wide characters are shown
 * as `\u{…}` escapes, so a row cannot move the terminal's cursor and its
 * width is its length.
 */
import { eventOf, type Envelope } from '../events/envelope.js';
import { describeEvent } from './audit.js';
import { isPending } from './read-journal.js';

/** `fit`: within 120 columns; `wide`: every column in full. */
export type TableStyle = 'fit' | 'wide';

interface Column {
  readonly head: string;
  readonly width: number;
  readonly right?: true;
  /** Cut a long value at its start (`…-host-07`), keeping its end: where names of one fleet differ. */
  readonly keepEnd?: true;
}

/** The widths of the columns before `what`, per style (in `wide` a minimum: longer values push the row on). */
const COLUMNS: Record<TableStyle, readonly Column[]> = {
  fit: [
    { head: 'seq', width: 7, right: true },
    { head: 'at', width: 20 },
    { head: 'tenant', width: 8 },
    { head: 'app', width: 8 },
    { head: 'fn', width: 9 },
    { head: 'instance', width: 8 },
    { head: 'type', width: 20 },
  ],
  wide: [
    { head: 'seq', width: 8, right: true },
    { head: 'at', width: 24 },
    { head: 'tenant', width: 8 },
    { head: 'app', width: 8 },
    { head: 'fn', width: 8 },
    { head: 'instance', width: 8 },
    { head: 'type', width: 27 },
  ],
};

/** The host column of a merged table (`vfun audit --host`): first, before `seq`; a long name keeps its end. */
const HOST_COLUMN: Column = { head: 'host', width: 10, keepEnd: true };

/** The width the default table fits in. */
export const TABLE_WIDTH = 120;
const columnsOf = (style: TableStyle, host: boolean): readonly Column[] => (host ? [HOST_COLUMN, ...COLUMNS[style]] : COLUMNS[style]);
const leadOf = (style: TableStyle, host = false): number => columnsOf(style, host).reduce((n, c) => n + c.width + 1, 0);

/**
 * Characters printed as they are: printable ASCII, Latin-1 and Latin
 * Extended letters, and general punctuation (`…`, dashes, quotes); each takes
 * one column. Anything else is escaped.
 */
const SHOWN = /[\u0020-\u007e\u00a0-\u02ff\u2010-\u2027\u2030-\u205e]/u;

/** `text` with every character that is not SHOWN written `\u{hex}` (newlines and tabs as a space). */
export function printable(text: string): string {
  let out = '';
  for (const ch of text) {
    if (SHOWN.test(ch)) out += ch;
    else if (ch === '\n' || ch === '\r' || ch === '\t') out += ' ';
    else out += `\\u{${ch.codePointAt(0)!.toString(16)}}`;
  }
  return out;
}

function cell(value: string, c: Column, style: TableStyle): string {
  const cut = style === 'fit' && value.length > c.width;
  const v = !cut ? value : c.keepEnd === true ? `…${value.slice(value.length - c.width + 1)}` : `${value.slice(0, c.width - 1)}…`;
  return c.right === true ? v.padStart(c.width) : v.padEnd(c.width);
}

/** `text` cut into lines of at most `width`, at spaces where it can. */
export function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let rest = text;
  while (rest.length > width) {
    const space = rest.lastIndexOf(' ', width);
    const at = space > 0 ? space : width;
    out.push(rest.slice(0, at));
    rest = rest.slice(space > 0 ? at + 1 : at);
  }
  out.push(rest);
  return out;
}

/** An ISO-8601 time to the second (`2026-03-14T09:30:00Z`): the fitted table's `at`. */
export const toSecond = (iso: string): string => iso.replace(/\.\d+Z$/, 'Z');

/** The table's header (two lines); `host`: with the host column first. */
export function tableHead(style: TableStyle = 'fit', host = false): string {
  const head = columnsOf(style, host).map((c) => cell(c.head, c, style)).join(' ') + ' what';
  return `${head}\n${'-'.repeat(style === 'fit' ? TABLE_WIDTH : leadOf('wide', host) + 4)}\n`;
}

/** One event as table lines: its row, then (fitted) `what`'s continuation lines; `host`: with the host column first. */
export function tableRow(e: Envelope, style: TableStyle = 'fit', host = false): string {
  const at = style === 'fit' ? toSecond(e.at) : e.at;
  const values = [...(host ? [e.host] : []), `${e.seq}${isPending(e) ? '*' : ''}`, at, e.tenant ?? '-', e.app ?? '-', e.fn ?? '-', e.instance ?? '-', e.type].map(printable);
  const lead = columnsOf(style, host).map((c, i) => cell(values[i]!, c, style)).join(' ');
  const what = printable(describeEvent(eventOf(e)));
  if (style === 'wide') return `${lead} ${what}\n`;
  // `what` takes what is left of 120 columns.
  const [first, ...more] = wrap(what, TABLE_WIDTH - leadOf('fit', host));
  let out = `${lead} ${first}\n`;
  for (const line of more) out += `${' '.repeat(leadOf('fit', host))}${line}\n`;
  return out;
}
