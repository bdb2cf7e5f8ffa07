/**
 * Reading a trace file (docs/traces.md): version 1 (trace-format.ts) as it is,
 * version 0 (the format of earlier releases: header `type: "virtfun-trace"`,
 * times in µs as floats relative to `t0_ms`, ms since the epoch) converted to
 * version 1. Every refusal is a ValidationError (field `trace`) naming the
 * file, the line and the field: `x.jsonl: line 7: get_ns: 120 is before
 * set_ns 130`.
 *
 * After the schema, each line is checked for what a schema cannot say: call
 * numbers 0, 1, 2, ... in order, get not before set, done not before busy,
 * busy and done both recorded or neither; and the header's count against the
 * file's. The protocol between calls is checked by trace-check.ts.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { TRACE_FORMAT, TRACE_KINDS, TRACE_VERSION, traceCallSchema, traceHeaderSchema, type TraceV1, type TraceV1Call, type TraceV1Header } from './trace-format.js';

/** Which format a file was in (0: converted on read). */
export type TraceVersion = 0 | 1;

/** A trace read from a file, in version 1 form. */
export interface ReadTrace extends TraceV1 {
  /** The version of the file (0 was converted). */
  readonly version: TraceVersion;
  /** Version 0 only: its `t0_ms` (ms since the epoch), whose float precision bounds the times'. */
  readonly t0_ms?: number;
}

/** The refusal of `line` (1-based) of `source`, at `field` (empty: the whole line). */
export function lineError(source: string, line: number, field: string, what: string): ValidationError {
  return new ValidationError('trace', `${source}: line ${line}: ${field === '' ? '' : `${field}: `}${what}`);
}

/** The first issue of a zod error as `field: message`, naming the value found. */
function zodRefusal(source: string, line: number, value: unknown, e: z.ZodError): ValidationError {
  const issue = e.issues[0]!;
  const path = issue.path.map(String);
  let found: unknown = value;
  for (const k of path) found = found !== null && typeof found === 'object' ? (found as Record<string, unknown>)[k] : undefined;
  const field = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : path.join('.');
  const what = issue.code === 'unrecognized_keys' ? `not a field of a version ${TRACE_VERSION} trace line (docs/traces.md)` : found === undefined ? `missing (${issue.message})` : `${JSON.stringify(found)}: ${issue.message}`;
  return lineError(source, line, field, what);
}

function parseJson(source: string, text: string, line: number): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ValidationError('trace', `${source}: line ${line} is not JSON (${(e as Error).message})`);
  }
}

/** Checks of one call beyond its schema: its number, and the order of its own times. */
export function checkCallLine(source: string, line: number, c: TraceV1Call, index: number): void {
  if (c.i !== index) throw lineError(source, line, 'i', `${c.i}, expected ${index} (calls in order, from 0)`);
  if (c.get_ns < c.set_ns) throw lineError(source, line, 'get_ns', `${c.get_ns} is before set_ns ${c.set_ns} (get before set)`);
  if ((c.busy_ns === null) !== (c.done_ns === null)) throw lineError(source, line, c.busy_ns === null ? 'busy_ns' : 'done_ns', `null while ${c.busy_ns === null ? 'done_ns' : 'busy_ns'} is not: the service records both or neither`);
  if (c.busy_ns !== null && c.done_ns !== null && c.done_ns < c.busy_ns) throw lineError(source, line, 'done_ns', `${c.done_ns} is before busy_ns ${c.busy_ns} (done before busy)`);
  if (c.error !== undefined && c.status !== 'ERROR') throw lineError(source, line, 'error', `set on a ${c.status} call (only ERROR calls carry an error code)`);
}

/** Version 0's lines (earlier releases), checked as strictly as version 1's before conversion. */
const v0Header = z.object({
  type: z.literal(TRACE_FORMAT),
  version: z.literal(1),
  fn: z.string().min(1),
  n: z.int().min(0),
  reps: z.int().min(1),
  instance: z.string(),
  domain: z.string(),
  driver: z.string(),
  calls: z.int().min(0),
  t0_ms: z.number().min(0),
});
const usTime = z.number().min(0).refine(Number.isFinite, 'not a finite number');
const v0Call = z.object({
  i: z.int().min(0),
  set_us: usTime,
  busy_us: usTime.nullable(),
  done_us: usTime.nullable(),
  get_us: usTime,
  in_bytes: traceCallSchema.shape.in_bytes,
  out_bytes: traceCallSchema.shape.out_bytes,
  status: traceCallSchema.shape.status,
});

const toNs = (us: number): number => Math.round(us * 1000);

function v0HeaderToV1(h: z.infer<typeof v0Header>): TraceV1Header {
  const kind = (TRACE_KINDS as readonly string[]).includes(h.domain) ? (h.domain as TraceV1Header['kind']) : 'imported';
  return {
    format: TRACE_FORMAT,
    version: TRACE_VERSION,
    fn: h.fn,
    kind,
    clock: 'CLOCK_REALTIME',
    t0_ns: BigInt(Math.round(h.t0_ms * 1e3)).toString() + '000',
    calls: h.calls,
    n: h.n,
    reps: h.reps,
    work: h.n * h.reps,
    instance: h.instance,
    driver: h.driver,
    source: 'converted from a version 0 trace (µs, ms since the epoch)',
  };
}

function v0CallToV1(c: z.infer<typeof v0Call>): TraceV1Call {
  return {
    i: c.i,
    set_ns: toNs(c.set_us),
    busy_ns: c.busy_us === null ? null : toNs(c.busy_us),
    done_ns: c.done_us === null ? null : toNs(c.done_us),
    get_ns: toNs(c.get_us),
    in_bytes: c.in_bytes,
    out_bytes: c.out_bytes,
    status: c.status,
  };
}

/** Which version a header line announces; a line that is no trace header, or another version, is refused. */
function headerVersion(source: string, h: unknown): TraceVersion {
  if (h === null || typeof h !== 'object' || Array.isArray(h)) throw lineError(source, 1, '', `not a trace header (a JSON object with format "${TRACE_FORMAT}"; docs/traces.md)`);
  const o = h as Record<string, unknown>;
  if (o.format === undefined && o.type === TRACE_FORMAT) return 0;
  if (o.format !== TRACE_FORMAT) {
    throw lineError(source, 1, 'format', `${o.format === undefined ? 'missing' : JSON.stringify(o.format)}: not a VirtFun trace (the header needs format "${TRACE_FORMAT}"; docs/traces.md)`);
  }
  if (o.version !== TRACE_VERSION) {
    throw lineError(source, 1, 'version', `${JSON.stringify(o.version)}: this vfun reads trace versions ${TRACE_VERSION} and 0, not this one`);
  }
  return 1;
}

/**
 * Parse and check the text of a trace file (version 1 or 0) into version 1;
 * `source` names it in refusals.
 */
export function parseTrace(text: string, source = 'trace'): ReadTrace {
  const lines = text.split('\n');
  const numbered: { line: number; text: string }[] = [];
  lines.forEach((t, k) => {
    if (t.trim() !== '') numbered.push({ line: k + 1, text: t });
  });
  const first = numbered[0];
  if (first === undefined) throw new ValidationError('trace', `${source}: empty trace`);
  const raw = parseJson(source, first.text, first.line);
  const version = headerVersion(source, raw);
  const parse = <S extends z.ZodType>(schema: S, value: unknown, line: number): z.infer<S> => {
    const r = schema.safeParse(value);
    if (!r.success) throw zodRefusal(source, line, value, r.error);
    return r.data;
  };
  const v0 = version === 0 ? parse(v0Header, raw, first.line) : undefined;
  const header: TraceV1Header = v0 !== undefined ? v0HeaderToV1(v0) : parse(traceHeaderSchema, raw, first.line);
  const calls: TraceV1Call[] = numbered.slice(1).map(({ line, text: t }, index) => {
    const value = parseJson(source, t, line);
    const c = version === 0 ? v0CallToV1(parse(v0Call, value, line)) : parse(traceCallSchema, value, line);
    checkCallLine(source, line, c, index);
    return c;
  });
  if (header.calls !== calls.length) throw lineError(source, first.line, 'calls', `the header announces ${header.calls} calls, the file has ${calls.length}`);
  return { version, header, calls, ...(v0 !== undefined && { t0_ms: v0.t0_ms }) };
}

/** Read and check a trace file (parseTrace). */
export function readTraceFile(path: string): ReadTrace {
  return parseTrace(readFileSync(path, 'utf8'), path);
}
