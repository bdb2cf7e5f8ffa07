/**
 * `vfun trace import --from csv` (src/paper/trace-import.ts): the CSV of
 * docs/traces.md imports into exactly the calls of its hand-written trace;
 * generated traces exported as CSV import back into the same calls; a
 * generated bad cell is refused naming its line and column; the header row,
 * the flags and the protocol are checked with the same precision; times are
 * exact to the nanosecond in any unit.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importTraceFile } from '../../src/cli/trace.js';
import { formatReplay, replayTrace } from '../../src/paper/replay-trace.js';
import { fc, test } from '@fast-check/vitest';
import { parse } from 'csv-parse/sync';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import { toCsv as csvDocument } from '../../src/paper/csv.js';
import { toCsv } from '../../src/paper/trace-export.js';
import { MAX_CALL_BYTES, type TraceV1Call } from '../../src/paper/trace-format.js';
import { columnRole, decimalToNs, importCsv, traceText, type CsvImportOptions } from '../../src/paper/trace-import.js';
import { parseTrace, type ReadTrace } from '../../src/paper/trace-read.js';

const DOCS = readFileSync(new URL('../../docs/traces.md', import.meta.url), 'utf8');
const DOC_TRACE = /```jsonl\n([\s\S]*?)```/.exec(DOCS)![1]!;
const DOC_CSV = /```csv\n([\s\S]*?)```/.exec(DOCS)![1]!;
/** The command docs/traces.md gives for its CSV. */
const DOC_COMMAND = /`(vfun trace import calls\.csv [^`]*)`/.exec(DOCS)![1]!;

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return (e as Error).message;
  }
  throw new Error('not refused');
};
const imp = (text: string, o: Partial<CsvImportOptions> = {}) => importCsv(text, { source: 'log.csv', ...o });

/** Valid traces: calls one at a time, the service's times inside each, all recorded or none. */
const traceArb = fc
  .record({
    fn: fc.constantFrom('sha256', 'crc32', 'factorial'),
    timed: fc.boolean(),
    calls: fc.array(
      fc.record({
        gap: fc.nat(1_000_000),
        toBusy: fc.nat(5_000),
        compute: fc.nat(1_000_000),
        toGet: fc.nat(5_000),
        fn: fc.option(fc.constantFrom('crc32', 'fibonacci', 'my fn, "quoted"'), { nil: undefined }),
        in_bytes: fc.nat(MAX_CALL_BYTES),
        out_bytes: fc.nat(MAX_CALL_BYTES),
        error: fc.option(fc.constantFrom('BAD_ARG', 'TIMEOUT', ''), { nil: undefined }),
        work: fc.option(fc.oneof(fc.nat(1e12), fc.double({ min: 0, max: 1e6, noNaN: true }).map(Math.abs)), { nil: undefined }),
      }),
      { maxLength: 25 },
    ),
  })
  .map(({ fn, timed, calls }): ReadTrace => {
    let t = 0;
    const out = calls.map((x, i): TraceV1Call => {
      const set = t + x.gap;
      const busy = set + x.toBusy;
      const done = busy + x.compute;
      const get = done + x.toGet;
      t = get;
      return {
        i,
        set_ns: set,
        busy_ns: timed ? busy : null,
        done_ns: timed ? done : null,
        get_ns: get,
        ...(x.fn !== undefined && x.fn !== fn && { fn: x.fn }),
        in_bytes: x.in_bytes,
        out_bytes: x.out_bytes,
        status: x.error === undefined ? 'DONE' : 'ERROR',
        ...(x.error !== undefined && x.error !== '' && { error: x.error }),
        ...(x.work !== undefined && { work: x.work }),
      };
    });
    const header = { format: 'virtfun-trace', version: 1, fn, kind: 'imported', clock: 'unspecified', t0_ns: '0', calls: out.length } as const;
    return { version: 1, header, calls: out };
  });

describe('trace import from CSV', () => {
  it('imports the CSV of docs/traces.md, with the flags the docs give, into exactly the calls of its hand-written trace', () => {
    expect(DOC_COMMAND).toBe('vfun trace import calls.csv --from csv --clock CLOCK_REALTIME -o trace.jsonl');
    const t = imp(DOC_CSV, { source: 'calls.csv', clock: 'CLOCK_REALTIME' });
    expect(t.calls).toEqual(parseTrace(DOC_TRACE, 'docs').calls);
    expect(t.header).toMatchObject({ fn: 'sha256', kind: 'imported', clock: 'CLOCK_REALTIME', t0_ns: '1733616000000000000', calls: 3, source: 'imported from calls.csv (vfun trace import)' });
    // What is written validates as a file does.
    expect(parseTrace(traceText(t, 'trace.jsonl').text, 'trace.jsonl').calls).toEqual(t.calls);
  });

  test.prop([traceArb])('export --format csv, then import: the same calls', (trace) => {
    const back = imp(toCsv(trace), { fn: trace.header.fn, t0Ns: 0n });
    expect(back.calls).toEqual(trace.calls);
    expect(back.header).toMatchObject({ fn: trace.header.fn, calls: trace.calls.length, t0_ns: '0' });
  });

  test.prop([traceArb])('without --t0-ns, the trace counts from the earliest time', (trace) => {
    const back = imp(toCsv(trace), { fn: trace.header.fn });
    const t0 = trace.calls[0]?.set_ns ?? 0;
    expect(back.header.t0_ns).toBe(String(t0));
    expect(back.calls.map((c) => c.set_ns + t0)).toEqual(trace.calls.map((c) => c.set_ns));
  });

  /** A cell no column accepts, per column of the export. */
  const BAD: Readonly<Record<string, fc.Arbitrary<string>>> = {
    set_ns: fc.constantFrom('-1', 'abc', '1,5', '12:00', '0x10', '--'),
    get_ns: fc.constantFrom('-7', 'soon', '1e', 'NaN'),
    in_bytes: fc.constantFrom('-1', '1.5', String(MAX_CALL_BYTES + 1), 'eight'),
    out_bytes: fc.constantFrom('-2', '3.25', '1e3', 'x'),
    status: fc.constantFrom('OK', 'FAILED', 'maybe', '0'),
    work: fc.constantFrom('-1', 'lots', '1e19', 'Infinity'),
    i: fc.constantFrom('-1', 'first', '1000000'),
  };
  const badCell = fc.constantFrom(...Object.keys(BAD)).chain((col) => BAD[col]!.map((cell) => ({ col, cell })));
  test.prop([traceArb.filter((t) => t.calls.length > 0), fc.nat(), badCell])('a bad cell is refused naming its line and its column', (trace, pick, { col, cell }) => {
    const [head, ...rows] = parse(toCsv(trace)) as string[][];
    const k = pick % rows.length;
    rows[k]![head!.indexOf(col)] = cell;
    expect(refusal(() => imp(csvDocument(head!, rows), { fn: trace.header.fn, t0Ns: 0n }))).toContain(`csv: log.csv: line ${k + 2}: ${col}: `);
  });

  it('refuses a bad header row naming line 1 and the column', () => {
    expect(refusal(() => imp('set,get,colour\n1,2,red\n', { fn: 'x' }))).toContain("log.csv: line 1: colour: not a column the importer reads (it reads set|start");
    expect(imp('set,get,colour\n1,2,red\n', { fn: 'x', ignoreUnknown: true }).calls).toHaveLength(1);
    expect(refusal(() => imp('set,start,get\n1,1,2\n', { fn: 'x' }))).toContain("line 1: start: gives set, as column 'set' does already");
    expect(refusal(() => imp('get,in_bytes\n1,2\n', { fn: 'x' }))).toContain('line 1: no set column');
    expect(refusal(() => imp('set,in_bytes\n1,2\n', { fn: 'x' }))).toContain('line 1: neither a get column');
    expect(refusal(() => imp('set,get,busy\n1,2,1\n', { fn: 'x' }))).toContain('line 1: a busy column without a done column');
    expect(refusal(() => imp('set,get\n1,2\n'))).toContain('--fn: log.csv has no fn column');
    expect(refusal(() => imp('set,get,fn\n1,2,\n'))).toContain("--fn: log.csv: the first row's fn is empty");
    expect(refusal(() => imp(''))).toContain('log.csv: empty: a header row naming the columns');
  });

  it('refuses bad rows naming the line and the column', () => {
    expect(refusal(() => imp('set,get\n5,9\n10,7\n', { fn: 'x' }))).toContain('log.csv: line 3: get: 7 is before set 10 (get before set)');
    expect(refusal(() => imp('set,get\n5,9\n10\n', { fn: 'x' }))).toContain('log.csv: line 3: 1 cells, the header row has 2');
    expect(refusal(() => imp('set,get,busy,done\n0,9,5,\n', { fn: 'x' }))).toContain('line 2: done: empty while busy is not');
    expect(refusal(() => imp('set,get,busy,done\n0,9,5,4\n', { fn: 'x' }))).toContain('line 2: done: 4 is before busy 5 (done before busy)');
    expect(refusal(() => imp('set,get,latency\n0,9,8\n', { fn: 'x' }))).toContain('line 2: latency: 8 is not get - set (9 ns)');
    expect(refusal(() => imp('set,latency,compute\n0,9,10\n', { fn: 'x' }))).toContain('line 2: compute: 10 is longer than the round trip (9 ns)');
    expect(refusal(() => imp('set,get,status,error\n0,9,DONE,BAD_ARG\n', { fn: 'x' }))).toContain("line 2: error: 'BAD_ARG' on a DONE call");
    expect(refusal(() => imp('set,get\n"0,9\n', { fn: 'x' }))).toContain('log.csv: line 2: Quote Not Closed');
    expect(refusal(() => imp('set,get\n100,200\n', { fn: 'x', t0Ns: 150n }))).toContain('line 2: set: 100 ns is before --t0-ns 150');
    expect(refusal(() => imp('set_s,get_s\n0,200000000\n', { fn: 'x' }))).toContain('line 2: get_s: 200000000000000000 ns after t0 is beyond 2^53 ns');
    // Across rows, the protocol check names the call and its line.
    expect(refusal(() => imp('set,get\n0,10\n\n5,20\n', { fn: 'x' }))).toContain('log.csv: line 4: call 1 breaks the computation protocol: sent (set_us 0.005) before the answer to call 0 was collected');
  });

  it('refuses a flag the trace header cannot hold naming the flag', () => {
    expect(refusal(() => imp('set,get\n0,1\n', { fn: 'x', instance: 'y'.repeat(201) }))).toContain('--instance: ');
    expect(refusal(() => imp('set,get\n0,1\n', { fn: 'x', work: -1 }))).toContain('--work: ');
    expect(refusal(() => imp('set,get\n0,1\n', { fn: 'x', t0Ns: 10n ** 20n }))).toContain('--t0-ns: ');
  });

  it('reads start + latency (+ compute, placed mid-way), units per column, case-insensitive names and another delimiter', () => {
    const t = imp('Start_MS;Latency_us;COMPUTE;status\n1.5;10;4000;error\n1.6;2.5;;Error\n', { fn: 'crc32', delimiter: ';', work: 64 });
    expect(t.header).toMatchObject({ t0_ns: '1500000', work: 64 });
    expect(t.calls).toEqual([
      { i: 0, set_ns: 0, busy_ns: 3000, done_ns: 7000, get_ns: 10000, in_bytes: 0, out_bytes: 0, status: 'ERROR' },
      { i: 1, set_ns: 100000, busy_ns: null, done_ns: null, get_ns: 102500, in_bytes: 0, out_bytes: 0, status: 'ERROR' },
    ]);
    expect(columnRole('round_trip_ns', 'us')).toEqual({ role: 'round_trip', unit: 'ns' });
    expect(columnRole('end', 'ms')).toEqual({ role: 'get', unit: 'ms' });
    expect(columnRole('set_minutes', 'ns')).toBeNull();
  });

  it('converts decimal times exactly, past 2^53', () => {
    expect(decimalToNs('1733616000000000.8', 'us')).toBe(1733616000000000800n);
    expect(decimalToNs('1.0000005', 'ms')).toBe(1000001n); // 1000000.5 ns rounds up
    expect(decimalToNs('2.5e3', 'ns')).toBe(2500n);
    expect(decimalToNs('.5', 's')).toBe(500000000n);
    expect(decimalToNs('0.4', 'ns')).toBe(0n);
    for (const bad of ['', '.', '-1', '+1', '1e', 'e5', '1.2.3', ' 1', '1_000']) expect(decimalToNs(bad, 'ns'), bad).toBeNull();
  });

  test.prop([fc.bigInt({ min: 0n, max: 10n ** 22n }), fc.constantFrom('ns', 'us', 'ms', 's' as const)])('any integer ns written in any unit reads back', (ns, unit) => {
    const digits = { ns: 0, us: 3, ms: 6, s: 9 }[unit];
    const s = ns.toString().padStart(digits + 1, '0');
    const text = digits === 0 ? s : `${s.slice(0, s.length - digits)}.${s.slice(s.length - digits)}`;
    expect(decimalToNs(text, unit)).toBe(ns);
  });
});

describe('trace import and replay: what a researcher would lose or misread', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vfun-import-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses to write the trace over the CSV being imported, and a CSV with no calls', () => {
    const csv = join(dir, 'log.csv');
    writeFileSync(csv, 'start_us,end_us\n0,5\n');
    expect(refusal(() => importTraceFile(csv, { from: 'csv', timeUnit: 'ns', fn: 'crc32', output: csv }))).toMatch(/--output.*is the CSV being imported/);
    expect(readFileSync(csv, 'utf8')).toBe('start_us,end_us\n0,5\n');
    const empty = join(dir, 'empty.csv');
    writeFileSync(empty, 'start_us,end_us\n');
    expect(refusal(() => importTraceFile(empty, { from: 'csv', timeUnit: 'ns', fn: 'crc32' }))).toMatch(/no calls: nothing to import/);
  });

  it('replays calls without service times, saying how many and what it means for their prediction', async () => {
    const csv = join(dir, 'untimed.csv');
    writeFileSync(csv, 'start_us,end_us,in_bytes,out_bytes\n0,5,64,4\n10,16,64,4\n');
    const trace = join(dir, 'untimed.jsonl');
    writeFileSync(trace, importTraceFile(csv, { from: 'csv', timeUnit: 'ns', fn: 'crc32' }).text);
    const r = await replayTrace({ trace, device: 'alveo-u250', out: dir });
    expect(r.untimed).toBe(2);
    expect(formatReplay(r)).toMatch(/warning: 2 of 2 calls have no service times \(busy\/done\)/);
    const json = JSON.parse(readFileSync(r.files.json, 'utf8')) as { files: Record<string, string | null> };
    expect(json.files.csv).toBe(r.files.csv.split('/').pop()); // relative to the JSON's own folder
  });

  it('refuses to replay a trace with no calls', async () => {
    const trace = join(dir, 'none.jsonl');
    writeFileSync(trace, JSON.stringify({ format: 'virtfun-trace', version: 1, fn: 'crc32', kind: 'imported', clock: 'unspecified', t0_ns: '0', calls: 0 }) + '\n');
    await expect(replayTrace({ trace, device: 'alveo-u250', out: dir })).rejects.toThrow(/has no calls: nothing to replay/);
  });
});
