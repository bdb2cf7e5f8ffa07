/**
 * The trace format, version 1 (src/paper/trace-format.ts, trace-read.ts): the
 * shipped JSON Schema is the one generated from the zod schemas and accepts
 * exactly the lines they accept; generated valid traces round-trip through the
 * reader; each kind of bad line is refused naming the line and the field; the
 * trace printed in docs/traces.md reads.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { MAX_CALL_BYTES, TRACE_STATUSES, traceCallSchema, traceHeaderSchema, traceJsonSchema, traceJsonSchemaText, type TraceV1Call, type TraceV1Header } from '../../src/paper/trace-format.js';
import { parseTrace } from '../../src/paper/trace-read.js';
import { ValidationError } from '../../src/errors.js';

const SCHEMA_FILE = new URL('../../schemas/trace-v1.schema.json', import.meta.url);
const ajv = new Ajv2020({ allErrors: false, strict: false });
const validateLine = ajv.compile(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as object);

/** Both validators on one line: zod (header or call) and the shipped JSON Schema. */
const zodAccepts = (x: unknown): boolean => traceHeaderSchema.safeParse(x).success || traceCallSchema.safeParse(x).success;

const headerArb = (calls: number): fc.Arbitrary<TraceV1Header> =>
  fc.record(
    {
      format: fc.constant('virtfun-trace' as const),
      version: fc.constant(1 as const),
      fn: fc.constantFrom('factorial', 'sha256', 'crc32'),
      kind: fc.constantFrom('guest-host', 'host-host', 'guest-net', 'simulated', 'imported'),
      clock: fc.constantFrom('CLOCK_MONOTONIC', 'CLOCK_REALTIME', 'unspecified'),
      t0_ns: fc.bigInt({ min: 0n, max: 10n ** 19n }).map(String),
      calls: fc.constant(calls),
      n: fc.nat(1000),
      reps: fc.integer({ min: 1, max: 10_000 }),
      work: fc.nat(1e9),
      instance: fc.string({ minLength: 1, maxLength: 20 }),
    },
    { requiredKeys: ['format', 'version', 'fn', 'kind', 'clock', 't0_ns', 'calls'] },
  );

/** Valid calls: each sent after the previous one was collected, service times inside. */
const callsArb = fc
  .array(
    fc.record({
      gap: fc.nat(10_000),
      toBusy: fc.nat(5_000),
      compute: fc.nat(1_000_000),
      toGet: fc.nat(5_000),
      timed: fc.boolean(),
      in_bytes: fc.nat(MAX_CALL_BYTES),
      out_bytes: fc.nat(MAX_CALL_BYTES),
      status: fc.constantFrom(...TRACE_STATUSES),
      work: fc.option(fc.nat(1e12), { nil: undefined }),
    }),
    { maxLength: 30 },
  )
  .map((xs) => {
    let t = 0;
    return xs.map((x, i): TraceV1Call => {
      const set = t + x.gap;
      const busy = set + x.toBusy;
      const done = busy + x.compute;
      const get = done + x.toGet;
      t = get;
      return {
        i,
        set_ns: set,
        busy_ns: x.timed ? busy : null,
        done_ns: x.timed ? done : null,
        get_ns: get,
        in_bytes: x.in_bytes,
        out_bytes: x.out_bytes,
        status: x.status,
        ...(x.work !== undefined && { work: x.work }),
      };
    });
  });

const traceArb = callsArb.chain((calls) => headerArb(calls.length).map((header) => ({ header, calls })));
const text = (lines: readonly unknown[]): string => lines.map((l) => JSON.stringify(l)).join('\n') + '\n';

function refusal(t: string): string {
  try {
    parseTrace(t, 'x.jsonl');
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return (e as Error).message;
  }
  throw new Error('the trace was accepted');
}

describe('trace format v1', () => {
  it('ships the JSON Schema generated from the zod schemas (npm run schemas rewrites it)', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(traceJsonSchemaText());
    expect(traceJsonSchema().$defs).toHaveProperty('header');
  });

  test.prop([traceArb])('generated valid traces round-trip through the reader, and both validators accept every line', ({ header, calls }) => {
    const read = parseTrace(text([header, ...calls]), 'x.jsonl');
    expect(read.version).toBe(1);
    expect(read.header).toEqual(header);
    expect(read.calls).toEqual(calls);
    for (const line of [header, ...calls]) {
      expect(zodAccepts(line)).toBe(true);
      expect(validateLine(line)).toBe(true);
    }
  });

  /** A valid call line with one field replaced (or removed: undefined). */
  const mutation = fc.oneof(
    fc.record({ field: fc.constantFrom('set_ns', 'get_ns', 'busy_ns', 'in_bytes', 'out_bytes', 'i'), value: fc.oneof(fc.integer({ max: -1 }), fc.double({ min: 0.01, max: 1e6, noInteger: true, noNaN: true }), fc.constant('12'), fc.constant(undefined)) }),
    fc.record({ field: fc.constantFrom('in_bytes', 'out_bytes'), value: fc.integer({ min: MAX_CALL_BYTES + 1 }) }),
    fc.record({ field: fc.constant('status'), value: fc.oneof(fc.constantFrom('OK', 'done', 'FAILED', 'BUSY'), fc.nat()) }),
    fc.record({ field: fc.constantFrom('extra', 'set_us', 'fn_name'), value: fc.nat() }),
  );

  test.prop([callsArb.filter((c) => c.length > 0), fc.nat(), mutation])('a generated bad call line is refused by both validators and by the reader, naming its line and field', (calls, at, m) => {
    const k = at % calls.length;
    const bad: Record<string, unknown> = { ...calls[k] };
    if (m.value === undefined) delete bad[m.field];
    else bad[m.field] = m.value;
    expect(zodAccepts(bad)).toBe(false);
    expect(validateLine(bad)).toBe(false);
    const header: TraceV1Header = { format: 'virtfun-trace', version: 1, fn: 'crc32', kind: 'imported', clock: 'unspecified', t0_ns: '0', calls: calls.length };
    const lines: unknown[] = [header, ...calls];
    lines[k + 1] = bad;
    const said = refusal(text(lines));
    expect(said).toContain(`x.jsonl: line ${k + 2}: ${m.field}`);
  });

  test.prop([fc.constantFrom('format', 'version', 'fn', 'kind', 'clock', 't0_ns', 'calls')])('a header without a required field is refused naming line 1 and the field', (field) => {
    const header: Record<string, unknown> = { format: 'virtfun-trace', version: 1, fn: 'crc32', kind: 'imported', clock: 'unspecified', t0_ns: '0', calls: 0 };
    delete header[field];
    expect(zodAccepts(header)).toBe(false);
    expect(validateLine(header)).toBe(false);
    expect(refusal(text([header]))).toContain(`x.jsonl: line 1: ${field}: `);
  });

  const h = (calls: number): TraceV1Header => ({ format: 'virtfun-trace', version: 1, fn: 'sha256', kind: 'imported', clock: 'unspecified', t0_ns: '0', calls });
  const call = (i: number, change: Partial<TraceV1Call> = {}): TraceV1Call => ({ i, set_ns: i * 1000, busy_ns: i * 1000 + 10, done_ns: i * 1000 + 500, get_ns: i * 1000 + 600, in_bytes: 64, out_bytes: 32, status: 'DONE', ...change });

  it.each([
    ['get before set', [call(0), call(1, { get_ns: 900 })], 'x.jsonl: line 3: get_ns: 900 is before set_ns 1000 (get before set)'],
    ['done before busy', [call(0, { busy_ns: 400, done_ns: 300 })], 'x.jsonl: line 2: done_ns: 300 is before busy_ns 400 (done before busy)'],
    ['busy without done', [call(0, { done_ns: null })], 'x.jsonl: line 2: done_ns: null while busy_ns is not'],
    ['calls out of order', [call(1)], 'x.jsonl: line 2: i: 1, expected 0'],
    ['an error code on a DONE call', [call(0, { error: 'BAD_ARG' })], 'x.jsonl: line 2: error: set on a DONE call'],
  ])('refuses %s naming line and field', (_, calls, message) => {
    expect(refusal(text([h(calls.length), ...calls]))).toContain(message);
  });

  it('refuses headers of another format or version, and counts that disagree', () => {
    expect(refusal(text([{ fn: 'x' }]))).toContain('x.jsonl: line 1: format: missing: not a VirtFun trace');
    expect(refusal(text([{ ...h(0), version: 2 }]))).toContain('x.jsonl: line 1: version: 2: this vfun reads trace versions 1 and 0');
    expect(refusal(text([h(2), call(0)]))).toContain('x.jsonl: line 1: calls: the header announces 2 calls, the file has 1');
    expect(refusal(text([[1, 2]]))).toContain('x.jsonl: line 1: not a trace header');
    expect(refusal('\n\n')).toContain('x.jsonl: empty trace');
  });

  it('reads version 0 (µs, earlier releases) into version 1, refusing a header without n or reps by name', () => {
    const committed = readFileSync(new URL('../fixtures/traces/v0-factorial-250Kx2k.jsonl', import.meta.url), 'utf8');
    const t = parseTrace(committed, 'committed');
    expect(t.version).toBe(0);
    expect(t.header).toMatchObject({ fn: 'factorial', n: 51, reps: 250, work: 12750, clock: 'CLOCK_REALTIME', kind: 'guest-host', calls: 2000 });
    expect(t.calls[1]).toEqual({ i: 1, set_ns: 78857, busy_ns: 79834, done_ns: 160645, get_ns: 160400, in_bytes: 8, out_bytes: 8, status: 'DONE' });
    const v0 = JSON.parse(committed.split('\n')[0]!) as Record<string, unknown>;
    delete v0.reps;
    expect(refusal(JSON.stringify(v0) + '\n')).toContain('x.jsonl: line 1: reps: missing');
  });

  it('reads the hand-written trace of docs/traces.md', () => {
    const doc = readFileSync(new URL('../../docs/traces.md', import.meta.url), 'utf8');
    expect(doc).toContain(traceJsonSchemaText());
    const block = /```jsonl\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(block).toBeDefined();
    const t = parseTrace(block!, 'docs/traces.md');
    expect(t.calls.length).toBeGreaterThanOrEqual(3);
    expect(t.calls.some((c) => c.status === 'ERROR')).toBe(true);
  });
});
