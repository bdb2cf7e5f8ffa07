/**
 * `vfun trace export`: a valid trace as Chrome trace-event JSON (what the
 * Perfetto UI opens) and as CSV, one row per call. The hand-written trace of
 * docs/traces.md exports with every call on the guest's track, the recorded
 * computations on the service's, ERROR calls marked; generated traces export
 * one CSV row per call whose times subtract to the round trip.
 */
import { readFileSync } from 'node:fs';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { CSV_COLUMNS, exportTrace, toCsv, toTraceEvents } from '../../src/paper/trace-export.js';
import { parseTrace } from '../../src/paper/trace-read.js';

const DOC_TRACE = /```jsonl\n([\s\S]*?)```/.exec(readFileSync(new URL('../../docs/traces.md', import.meta.url), 'utf8'))![1]!;

interface TraceEvent {
  name: string;
  ph: string;
  tid: number;
  ts: number;
  dur: number;
  cat?: string;
  args: Record<string, unknown>;
}

describe('trace export', () => {
  const doc = parseTrace(DOC_TRACE, 'docs/traces.md');

  it('perfetto: one complete event per call on the guest track (set to get), one per recorded computation on the service track', () => {
    const out = JSON.parse(toTraceEvents(doc)) as { traceEvents: TraceEvent[]; metadata: { calls: number } };
    const complete = out.traceEvents.filter((e) => e.ph === 'X');
    const guest = complete.filter((e) => e.tid === 1);
    expect(guest).toHaveLength(doc.calls.length);
    for (const [k, c] of doc.calls.entries()) {
      expect(guest[k]!.ts).toBeCloseTo(c.set_ns / 1000, 6);
      expect(guest[k]!.dur).toBeCloseTo((c.get_ns - c.set_ns) / 1000, 6);
      expect(guest[k]!.args).toMatchObject({ i: c.i, in_bytes: c.in_bytes, status: c.status });
      expect(guest[k]!.cat).toBe(c.status === 'ERROR' ? 'call,error' : 'call');
    }
    expect(complete.filter((e) => e.tid === 2)).toHaveLength(doc.calls.filter((c) => c.busy_ns !== null && c.done_ns !== null).length);
    expect(out.metadata.calls).toBe(doc.calls.length);
    expect(exportTrace(doc, 'perfetto').endsWith('\n')).toBe(true);
  });

  it('csv: the columns, then a row per call', () => {
    const lines = toCsv(doc).trimEnd().split('\n');
    expect(lines[0]).toBe(CSV_COLUMNS.join(','));
    expect(lines).toHaveLength(doc.calls.length + 1);
    const err = doc.calls.findIndex((c) => c.status === 'ERROR');
    expect(lines[err + 1]).toContain(',ERROR,');
  });

  const callArb = fc.record({ gap: fc.nat(1_000_000), rtt: fc.nat(1_000_000), inB: fc.nat(1 << 20), outB: fc.nat(1 << 20), err: fc.boolean() });
  test.prop([fc.array(callArb, { maxLength: 20 })])('csv of generated traces: one row per call, round trip = get - set', (calls) => {
    let t = 0;
    const lines = [JSON.stringify({ format: 'virtfun-trace', version: 1, fn: 'sha256', kind: 'imported', clock: 'unspecified', t0_ns: '0', calls: calls.length })];
    calls.forEach((c, i) => {
      t += c.gap;
      lines.push(JSON.stringify({ i, set_ns: t, busy_ns: null, done_ns: null, get_ns: t + c.rtt, in_bytes: c.inB, out_bytes: c.outB, status: c.err ? 'ERROR' : 'DONE' }));
      t += c.rtt;
    });
    const csv = toCsv(parseTrace(lines.join('\n') + '\n', 'generated')).trimEnd().split('\n');
    expect(csv).toHaveLength(calls.length + 1);
    csv.slice(1).forEach((row, i) => {
      const cells = row.split(',');
      const col = (name: (typeof CSV_COLUMNS)[number]): string => cells[CSV_COLUMNS.indexOf(name)]!;
      expect(Number(col('get_ns')) - Number(col('set_ns'))).toBe(calls[i]!.rtt);
      expect(Number(col('round_trip_ns'))).toBe(calls[i]!.rtt);
      expect(col('status')).toBe(calls[i]!.err ? 'ERROR' : 'DONE');
    });
  });
});
