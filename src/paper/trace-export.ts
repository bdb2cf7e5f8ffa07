/**
 * A trace in other tools' formats (docs/traces.md, "Exporting"): Chrome's
 * trace-event JSON, which the Perfetto UI (ui.perfetto.dev) and
 * chrome://tracing open, and CSV, one row per call. Pure: a ReadTrace in,
 * text out.
 *
 * Trace events: each call is a complete event ("X") on the guest's track,
 * from set to get (the round trip), and, where the service's times were
 * recorded, one on the service's track from busy to done (the computation).
 * Timestamps are µs from the trace's start (the format's unit), with
 * nanosecond digits kept as decimals.
 */
import { toCsv as csvDocument } from './csv.js';
import type { TraceV1Call } from './trace-format.js';
import type { ReadTrace } from './trace-read.js';

/** The formats `vfun trace export` writes. */
export const EXPORT_FORMATS = ['perfetto', 'csv'] as const;
/** One of EXPORT_FORMATS. */
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Track (thread) ids of the trace-event export. */
const GUEST_TID = 1;
const SERVICE_TID = 2;

const us = (ns: number): number => ns / 1000;

function callArgs(c: TraceV1Call): Record<string, unknown> {
  return { i: c.i, in_bytes: c.in_bytes, out_bytes: c.out_bytes, status: c.status, ...(c.error !== undefined && { error: c.error }), ...(c.work !== undefined && { work: c.work }) };
}

/** Chrome trace-event JSON (the "JSON Object Format") of a trace. */
export function toTraceEvents(t: ReadTrace): string {
  const h = t.header;
  const label = `${h.fn} (${h.kind}${h.instance !== undefined ? `, ${h.instance}` : ''})`;
  const meta = [
    { name: 'process_name', ph: 'M', pid: 1, tid: GUEST_TID, args: { name: label } },
    { name: 'thread_name', ph: 'M', pid: 1, tid: GUEST_TID, args: { name: 'guest: set → get' } },
    { name: 'thread_name', ph: 'M', pid: 1, tid: SERVICE_TID, args: { name: 'service: busy → done' } },
  ];
  const events = t.calls.flatMap((c) => {
    const name = c.fn ?? h.fn;
    const guest = { name, cat: c.status === 'ERROR' ? 'call,error' : 'call', ph: 'X', pid: 1, tid: GUEST_TID, ts: us(c.set_ns), dur: us(c.get_ns - c.set_ns), args: callArgs(c) };
    if (c.busy_ns === null || c.done_ns === null) return [guest];
    return [guest, { name, cat: 'compute', ph: 'X', pid: 1, tid: SERVICE_TID, ts: us(c.busy_ns), dur: us(c.done_ns - c.busy_ns), args: { i: c.i } }];
  });
  return JSON.stringify({
    displayTimeUnit: 'ns',
    metadata: { format: h.format, version: h.version, clock: h.clock, t0_ns: h.t0_ns, fn: h.fn, kind: h.kind, calls: h.calls },
    traceEvents: [...meta, ...events],
  });
}

/** The CSV columns, in order. */
export const CSV_COLUMNS = ['i', 'fn', 'set_ns', 'busy_ns', 'done_ns', 'get_ns', 'round_trip_ns', 'compute_ns', 'in_bytes', 'out_bytes', 'status', 'error', 'work'] as const;

/** CSV of a trace: a header row (CSV_COLUMNS), then one row per call; times in ns from the trace's start. */
export function toCsv(t: ReadTrace): string {
  return csvDocument(
    CSV_COLUMNS,
    t.calls.map((c) => [
      c.i,
      c.fn ?? t.header.fn,
      c.set_ns,
      c.busy_ns,
      c.done_ns,
      c.get_ns,
      c.get_ns - c.set_ns,
      c.busy_ns !== null && c.done_ns !== null ? c.done_ns - c.busy_ns : null,
      c.in_bytes,
      c.out_bytes,
      c.status,
      c.error,
      c.work,
    ]),
  );
}

/** The export of `t` in `format`. */
export function exportTrace(t: ReadTrace, format: ExportFormat): string {
  return format === 'perfetto' ? toTraceEvents(t) + '\n' : toCsv(t);
}
