/**
 * A trace from another system's log (docs/traces.md, "Importing"): a CSV
 * file, a header row naming the columns, then one row per call, into a
 * version 1 trace (trace-format.ts). Pure: text in, trace out; `vfun trace
 * import` (src/cli/trace.ts) reads and writes the files.
 *
 * Columns (names case-insensitive, in any order):
 * - times: `set` (or `start`), and `get` (or `end`) or `round_trip` (or
 *   `latency`); optionally `busy` and `done` (the service's), or `compute`
 *   (its duration: placed in the middle of the round trip when a row has no
 *   busy/done). A time column may end in its unit (`_ns`, `_us`, `_ms`, `_s`);
 *   one without takes `timeUnit` (default ns). Times are absolute on some
 *   clock; the trace counts from `t0Ns` (default: the earliest time of the
 *   file) in integer nanoseconds.
 * - `i`, `fn`, `in_bytes`, `out_bytes`, `status` (DONE or ERROR), `error`,
 *   `work`: as in a trace's call line; an empty cell is the default (the
 *   header's fn, 0 bytes, DONE, none).
 *
 * Every refusal is a ValidationError naming the file, the CSV line and the
 * column: `log.csv: line 7: get_us: 12.5 is before set_us 13 (get before
 * set)`. The trace is checked as `vfun trace validate` checks a file (the
 * calls against the computation protocol too), so what comes out validates
 * and replays.
 */
import { parse } from 'csv-parse/sync';
import { ValidationError } from '../errors.js';
import { checkCallLine, parseTrace, type ReadTrace } from './trace-read.js';
import { checkTrace } from './trace-check.js';
import { checkView } from './traces.js';
import { formatTraceLine, MAX_CALL_BYTES, TRACE_FORMAT, TRACE_VERSION, traceHeaderSchema, type TraceV1, type TraceV1Call, type TraceV1Header } from './trace-format.js';

/** The formats `vfun trace import --from` reads. */
export const IMPORT_FORMATS = ['csv'] as const;
/** The units of a time column. */
export const TIME_UNITS = ['ns', 'us', 'ms', 's'] as const;
/** One of TIME_UNITS. */
export type TimeUnit = (typeof TIME_UNITS)[number];

/** Powers of ten from each unit to nanoseconds. */
const UNIT_EXPONENT: Readonly<Record<TimeUnit, number>> = { ns: 0, us: 3, ms: 6, s: 9 };
/** The largest t0_ns a header holds (20 digits). */
const MAX_T0 = 10n ** 20n - 1n;
/** The largest time of a call, ns after t0 (the schema's: a safe integer). */
const MAX_REL = BigInt(Number.MAX_SAFE_INTEGER);

/** What a time column gives. */
type TimeRole = 'set' | 'busy' | 'done' | 'get' | 'round_trip' | 'compute';
/** What any column gives. */
type Role = TimeRole | 'i' | 'fn' | 'in_bytes' | 'out_bytes' | 'status' | 'error' | 'work';

/** Time column names (before an optional unit suffix) and what they give. */
const TIME_NAMES: Readonly<Record<string, TimeRole>> = { set: 'set', start: 'set', busy: 'busy', done: 'done', get: 'get', end: 'get', round_trip: 'round_trip', latency: 'round_trip', compute: 'compute' };
const OTHER_NAMES: readonly Role[] = ['i', 'fn', 'in_bytes', 'out_bytes', 'status', 'error', 'work'];

/** The columns the importer reads, for messages and docs. */
export const IMPORT_COLUMNS =
  'set|start, get|end or round_trip|latency, busy and done, compute (each optionally suffixed _ns, _us, _ms or _s), i, fn, in_bytes, out_bytes, status, error, work';

/** How to fill what a CSV does not say. */
export interface CsvImportOptions {
  /** Names the file in refusals. */
  readonly source: string;
  /** The header's fn (default: the first row's fn cell). Calls whose fn cell differs keep their own. */
  readonly fn?: string;
  /** Unit of the time columns whose name has no unit suffix (default ns). */
  readonly timeUnit?: TimeUnit;
  /** The time, on the CSV's clock in ns, that becomes the trace's 0 (default: the earliest time in the file). */
  readonly t0Ns?: bigint;
  /** The header's clock (default `unspecified`). */
  readonly clock?: TraceV1Header['clock'];
  /** The header's instance label. */
  readonly instance?: string;
  /** The header's work: each call's whose work cell is empty. */
  readonly work?: number;
  /** The header's source (default: `imported from <source> (vfun trace import)`). */
  readonly note?: string;
  /** The field delimiter (default `,`). */
  readonly delimiter?: string;
  /** Skip columns the importer does not know instead of refusing them. */
  readonly ignoreUnknown?: boolean;
}

/** A column the importer reads: where it is, what it is called, and for a time its unit. */
interface Column {
  readonly index: number;
  readonly name: string;
  readonly unit: TimeUnit;
}

/**
 * A non-negative decimal (digits, an optional fraction, an optional exponent)
 * in `unit`, as integer nanoseconds rounded to the nearest; null when `text`
 * is no such number. Exact for any number of digits (BigInt).
 */
export function decimalToNs(text: string, unit: TimeUnit): bigint | null {
  return readDecimalNs(text, unit)?.ns ?? null;
}

/** decimalToNs, and whether the value was a whole number of nanoseconds (not rounded). */
function readDecimalNs(text: string, unit: TimeUnit): { ns: bigint; exact: boolean } | null {
  const m = /^(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,3}))?$/.exec(text);
  if (m === null) return null;
  const whole = m[1] ?? '';
  const frac = m[2] ?? '';
  if (whole === '' && frac === '') return null;
  const digits = BigInt(whole + frac);
  const exponent = Number(m[3] ?? '0') + UNIT_EXPONENT[unit] - frac.length;
  if (exponent >= 0) return { ns: digits * 10n ** BigInt(exponent), exact: true };
  const d = 10n ** BigInt(-exponent);
  return { ns: (digits + d / 2n) / d, exact: digits % d === 0n };
}

/** The role and unit a column name gives, or null for a column the importer does not know. */
export function columnRole(name: string, timeUnit: TimeUnit): { role: Role; unit: TimeUnit } | null {
  const n = name.trim().toLowerCase();
  if ((OTHER_NAMES as readonly string[]).includes(n)) return { role: n as Role, unit: timeUnit };
  const m = /^([a-z_]+?)(?:_(ns|us|ms|s))?$/.exec(n);
  const role = m === null ? undefined : TIME_NAMES[m[1]!];
  return role === undefined ? null : { role, unit: (m?.[2] as TimeUnit | undefined) ?? timeUnit };
}

/** The refusal at `line` of `source`, in `column` ('' for the whole line). */
function csvError(source: string, line: number, column: string, what: string): ValidationError {
  return new ValidationError('csv', `${source}: line ${line}: ${column === '' ? '' : `${column}: `}${what}`);
}

/** Map the header row's names to the columns the importer reads. */
function layout(names: readonly string[], o: CsvImportOptions): Map<Role, Column> {
  const cols = new Map<Role, Column>();
  names.forEach((name, index) => {
    const r = columnRole(name, o.timeUnit ?? 'ns');
    if (r === null) {
      if (o.ignoreUnknown === true) return;
      throw csvError(o.source, 1, name, `not a column the importer reads (it reads ${IMPORT_COLUMNS}; --ignore-unknown skips others)`);
    }
    const seen = cols.get(r.role);
    if (seen !== undefined) throw csvError(o.source, 1, name, `gives ${r.role}, as column '${seen.name}' does already`);
    cols.set(r.role, { index, name, unit: r.unit });
  });
  if (!cols.has('set')) throw csvError(o.source, 1, '', 'no set column (set or start, e.g. set_ns): every call needs the time it was sent');
  if (!cols.has('get') && !cols.has('round_trip')) throw csvError(o.source, 1, '', 'neither a get column (get or end) nor a round_trip column (round_trip or latency): every call needs the time it was answered');
  if (cols.has('busy') !== cols.has('done')) throw csvError(o.source, 1, '', `a ${cols.has('busy') ? 'busy' : 'done'} column without a ${cols.has('busy') ? 'done' : 'busy'} column: the service's times come in pairs`);
  if (!cols.has('fn') && o.fn === undefined) throw new ValidationError('--fn', `${o.source} has no fn column: name the calls' function with --fn`);
  return cols;
}

/** The cells of one row, read and checked column by column. */
class Row {
  constructor(
    private readonly o: CsvImportOptions,
    private readonly cols: ReadonlyMap<Role, Column>,
    private readonly cells: readonly string[],
    readonly line: number,
  ) {}

  /** The cell of `role`, trimmed; '' when the column is absent. */
  cell(role: Role): string {
    const c = this.cols.get(role);
    return c === undefined ? '' : (this.cells[c.index] ?? '').trim();
  }

  has(role: Role): boolean {
    return this.cols.has(role);
  }

  name(role: Role): string {
    return this.cols.get(role)?.name ?? role;
  }

  fail(role: Role, what: string): never {
    throw csvError(this.o.source, this.line, this.name(role), what);
  }

  /** Whether a time of this row was rounded to the nanosecond. */
  rounded = false;

  /** A time or duration in ns; null for an empty cell. */
  time(role: TimeRole): bigint | null {
    const text = this.cell(role);
    if (text === '') return null;
    const r = readDecimalNs(text, this.cols.get(role)!.unit);
    if (r === null) this.fail(role, `'${text}' is not a number >= 0 (a time in ${this.cols.get(role)!.unit})`);
    if (!r.exact) this.rounded = true;
    return r.ns;
  }

  /** An integer in [0, max]; `fallback` for an empty cell. */
  integer(role: Role, max: number, fallback: number): number {
    const text = this.cell(role);
    if (text === '') return fallback;
    const x = Number(text);
    if (!/^\d+$/.test(text) || x > max) this.fail(role, `'${text}' is not an integer from 0 to ${max}`);
    return x;
  }
}

/** A call with its times on the CSV's clock, before they count from t0. */
interface AbsoluteCall {
  readonly line: number;
  readonly index: number;
  readonly set: bigint;
  readonly busy: bigint | null;
  readonly done: bigint | null;
  readonly get: bigint;
  readonly rest: Omit<TraceV1Call, 'i' | 'set_ns' | 'busy_ns' | 'done_ns' | 'get_ns'>;
}

/** One row as a call: each cell read, then the relations between them (get after set, durations against times). */
function readCall(r: Row, index: number, headerFn: string): AbsoluteCall {
  const iText = r.cell('i');
  if (iText !== '' && iText !== String(index)) r.fail('i', `'${iText}', expected ${index} (calls in order, from 0)`);
  const set = r.time('set');
  if (set === null) r.fail('set', 'empty: every call needs the time it was sent');
  const getCell = r.time('get');
  const roundTrip = r.time('round_trip');
  if (getCell === null && roundTrip === null) r.fail(r.has('get') ? 'get' : 'round_trip', 'empty: every call needs the time it was answered');
  let busy = r.time('busy');
  let done = r.time('done');
  const compute = r.time('compute');
  if ((busy === null) !== (done === null)) r.fail(busy === null ? 'busy' : 'done', `empty while ${busy === null ? r.name('done') : r.name('busy')} is not: the service records both or neither`);
  // A duration and the difference of two times agree exactly, or to 1 ns when the row's times were rounded to the ns.
  const near = (a: bigint, b: bigint): boolean => (a > b ? a - b : b - a) <= (r.rounded ? 1n : 0n);
  const get = getCell ?? set + roundTrip!;
  if (get < set) r.fail('get', `${r.cell('get')} is before ${r.name('set')} ${r.cell('set')} (get before set)`);
  if (getCell !== null && roundTrip !== null && !near(roundTrip, getCell - set)) r.fail('round_trip', `${r.cell('round_trip')} is not ${r.name('get')} - ${r.name('set')} (${getCell - set} ns)`);
  if (busy !== null && done !== null && done < busy) r.fail('done', `${r.cell('done')} is before ${r.name('busy')} ${r.cell('busy')} (done before busy)`);
  if (compute !== null) {
    if (compute > get - set) r.fail('compute', `${r.cell('compute')} is longer than the round trip (${get - set} ns)`);
    if (busy !== null && done !== null && !near(compute, done - busy)) r.fail('compute', `${r.cell('compute')} is not ${r.name('done')} - ${r.name('busy')} (${done - busy} ns)`);
    if (busy === null) {
      // Where the computation fell within the round trip is not known: replay uses only its length.
      busy = set + (get - set - compute) / 2n;
      done = busy + compute;
    }
  }
  const fnCell = r.cell('fn');
  if (fnCell.length > 200) r.fail('fn', `${fnCell.length} characters, at most 200`);
  const fn = fnCell === '' || fnCell === headerFn ? undefined : fnCell;
  const statusText = r.cell('status').toUpperCase();
  if (statusText !== '' && statusText !== 'DONE' && statusText !== 'ERROR') r.fail('status', `'${r.cell('status')}' is not DONE or ERROR`);
  const status = statusText === 'ERROR' ? 'ERROR' : 'DONE';
  const error = r.cell('error');
  if (error !== '' && status !== 'ERROR') r.fail('error', `'${error}' on a DONE call (only ERROR calls carry an error code)`);
  if (error.length > 200) r.fail('error', `${error.length} characters, at most 200`);
  const workText = r.cell('work');
  const work = workText === '' ? undefined : Number(workText);
  if (work !== undefined && (!/^[0-9.eE+-]+$/.test(workText) || !Number.isFinite(work) || work < 0 || work > 1e18)) r.fail('work', `'${workText}' is not a number from 0 to 1e18`);
  const rest = {
    ...(fn !== undefined && { fn }),
    in_bytes: r.integer('in_bytes', MAX_CALL_BYTES, 0),
    out_bytes: r.integer('out_bytes', MAX_CALL_BYTES, 0),
    status,
    ...(error !== '' && { error }),
    ...(work !== undefined && { work }),
  } as const;
  return { line: r.line, index, set, busy, done, get, rest };
}

/** The records of a CSV text with the line each ends on (csv-parse), or a refusal naming the line. */
function records(text: string, o: CsvImportOptions): { cells: string[]; line: number }[] {
  try {
    const rows = parse(text, { delimiter: o.delimiter ?? ',', bom: true, skip_empty_lines: true, relax_column_count: true, info: true }) as unknown as { record: string[]; info: { lines: number } }[];
    return rows.map((r) => ({ cells: r.record, line: r.info.lines }));
  } catch (e) {
    const lines = (e as { lines?: unknown }).lines;
    throw new ValidationError('csv', `${o.source}: ${typeof lines === 'number' ? `line ${lines}: ` : ''}${(e as Error).message}`, { cause: e });
  }
}

/** The header of the imported trace; a flag's value the format refuses is refused naming the flag. */
function importedHeader(o: CsvImportOptions, fn: string, t0: bigint, calls: number): TraceV1Header {
  const header = {
    format: TRACE_FORMAT,
    version: TRACE_VERSION,
    fn,
    kind: 'imported',
    clock: o.clock ?? 'unspecified',
    t0_ns: t0.toString(),
    calls,
    ...(o.work !== undefined && { work: o.work }),
    ...(o.instance !== undefined && { instance: o.instance }),
    source: o.note ?? `imported from ${o.source} (vfun trace import)`,
  };
  const r = traceHeaderSchema.safeParse(header);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    throw new ValidationError(key === 'source' ? '--note' : `--${key}`, `${JSON.stringify((header as Record<string, unknown>)[key])}: ${issue.message}`);
  }
  return r.data;
}

/**
 * Import a CSV text (see the module comment) into a version 1 trace, checked
 * as `vfun trace validate` checks a file; throws a ValidationError naming the
 * line and the column of the first problem.
 */
export function importCsv(text: string, o: CsvImportOptions): TraceV1 {
  const [head, ...rows] = records(text, o);
  if (head === undefined) throw new ValidationError('csv', `${o.source}: empty: a header row naming the columns, then one row per call`);
  const cols = layout(head.cells, o);
  const width = head.cells.length;
  const firstFn = rows[0] === undefined ? '' : new Row(o, cols, rows[0].cells, rows[0].line).cell('fn');
  const fn = o.fn ?? firstFn;
  if (fn === '') throw new ValidationError('--fn', `${o.source}: the first row's fn is empty: name the calls' function with --fn`);
  const calls = rows.map((row, index) => {
    if (row.cells.length !== width) throw csvError(o.source, row.line, '', `${row.cells.length} cells, the header row has ${width}`);
    return readCall(new Row(o, cols, row.cells, row.line), index, fn);
  });
  // The earliest time: a call's set, or its busy when the service's clock runs behind the guest's.
  const starts = calls.flatMap((c) => (c.busy === null ? [c.set] : [c.set, c.busy]));
  const t0 = o.t0Ns ?? starts.reduce((a, x) => (x < a ? x : a), starts[0] ?? 0n);
  if (t0 > MAX_T0) throw new ValidationError('--t0-ns', `${t0} has more than 20 digits`);
  const rel = (c: AbsoluteCall, role: TimeRole, x: bigint): number => {
    const v = x - t0;
    const name = cols.get(role)?.name ?? cols.get(role === 'get' ? 'round_trip' : 'compute')?.name ?? role;
    if (v < 0n) throw csvError(o.source, c.line, name, `${x} ns is before --t0-ns ${t0}`);
    if (v > MAX_REL) throw csvError(o.source, c.line, name, `${v} ns after t0 is beyond 2^53 ns (104 days): give a later --t0-ns`);
    return Number(v);
  };
  const v1: TraceV1Call[] = calls.map((c) => {
    const call: TraceV1Call = {
      i: c.index,
      set_ns: rel(c, 'set', c.set),
      busy_ns: c.busy === null ? null : rel(c, 'busy', c.busy),
      done_ns: c.done === null ? null : rel(c, 'done', c.done),
      get_ns: rel(c, 'get', c.get),
      ...c.rest,
    };
    checkCallLine(o.source, c.line, call, c.index);
    return call;
  });
  const trace: TraceV1 = { header: importedHeader(o, fn, t0, v1.length), calls: v1 };
  checkProtocol(trace, calls.map((c) => c.line), o.source);
  return trace;
}

/** The protocol check of trace-check.ts, its refusal naming the call's CSV line. */
function checkProtocol(t: TraceV1, lines: readonly number[], source: string): void {
  const view = checkView({ ...t, version: 1 });
  try {
    checkTrace(view.header, view.calls, source);
  } catch (e) {
    const m = e instanceof ValidationError ? /: call (\d+): ([\s\S]*)$/.exec(e.message) : null;
    if (m === null) throw e;
    throw new ValidationError('csv', `${source}: line ${lines[Number(m[1])]}: call ${m[1]} ${m[2]}`, { cause: e });
  }
}

/** The JSON-lines text of a trace, read back as `vfun trace validate` reads a file (a guard: what is written validates). */
export function traceText(t: TraceV1, source: string): { text: string; trace: ReadTrace } {
  const text = [formatTraceLine(t.header), ...t.calls.map(formatTraceLine)].join('\n') + '\n';
  return { text, trace: parseTrace(text, source) };
}
