/**
 * The trace format, version 1 (docs/traces.md): a JSON-lines file whose first
 * line is a header and every other line one call. Times are integer
 * nanoseconds relative to the header's `t0_ns`, an absolute time on the
 * header's `clock` (CLOCK_MONOTONIC for traces VirtFun records: the clock every
 * process of the host shares, `process.hrtime.bigint()` on Linux).
 *
 * The zod schemas below are the one source of truth: the JSON Schema shipped
 * in the package (schemas/trace-v1.schema.json) is generated from them
 * (`traceJsonSchema()`, `npm run schemas`), and a test checks that the two
 * accept and refuse the same lines. What a line-by-line schema cannot say
 * (get not before set, call numbers in order, the header's count) is checked
 * by trace-read.ts after it.
 */
import { z } from 'zod';

/** The header's `format`. */
export const TRACE_FORMAT = 'virtfun-trace';
/** The version this module reads and writes. */
export const TRACE_VERSION = 1;
/** The largest `in_bytes` / `out_bytes` a call may carry (1 GiB: far above any region's capacity). */
export const MAX_CALL_BYTES = 2 ** 30;
/** The clocks a trace's times may come from. */
export const TRACE_CLOCKS = ['CLOCK_MONOTONIC', 'CLOCK_REALTIME', 'unspecified'] as const;
/** What the calls went through (`imported`: a log from another system). */
export const TRACE_KINDS = ['guest-host', 'host-host', 'guest-net', 'simulated', 'imported'] as const;
/** A call's outcome: DONE (the answer came back) or ERROR (the service answered with an error). */
export const TRACE_STATUSES = ['DONE', 'ERROR'] as const;

const name = z.string().min(1).max(200);
const ns = z.int().min(0).describe('integer nanoseconds after t0_ns');
const bytes = z.int().min(0).max(MAX_CALL_BYTES);
const work = z.number().min(0).max(1e18).describe("the call's work in the device function's unit (bytes, items or operations: docs/simulator.md)");

/** Line 1 of a version 1 trace. */
export const traceHeaderSchema = z
  .strictObject({
    format: z.literal(TRACE_FORMAT),
    version: z.literal(TRACE_VERSION),
    fn: name.describe('the function of the calls (a call may name another in its own fn)'),
    kind: z.enum(TRACE_KINDS),
    clock: z.enum(TRACE_CLOCKS),
    t0_ns: z.string().regex(/^[0-9]{1,20}$/).describe('absolute time of 0 on the clock, decimal nanoseconds (a string: it may exceed 2^53)'),
    calls: z.int().min(0).describe('how many call lines follow'),
    n: z.int().min(0).optional().describe("the function's argument, when every call has the same (the paper's n)"),
    reps: z.int().min(1).optional().describe('how many times each call computes fn(n) (the paper: reps * n items per call)'),
    work: work.optional().describe("each call's work when the call line does not say"),
    instance: name.optional().describe('a label of the run (the paper: "250K x 2k")'),
    driver: name.optional(),
    device: name.optional().describe('the device profile the calls ran on, if a simulated one'),
    source: z.string().max(2000).optional().describe('free text: what recorded the trace, or where it was imported from'),
  })
  .describe('VirtFun trace, version 1: the header line');

/** Lines 2 and after of a version 1 trace: one call each. */
export const traceCallSchema = z
  .strictObject({
    i: z.int().min(0).describe('the call number: 0, 1, 2, ... in file order'),
    set_ns: ns.describe('the guest wrote the request'),
    busy_ns: ns.nullable().describe('the service started computing (null: not recorded)'),
    done_ns: ns.nullable().describe('the service finished (null: not recorded)'),
    get_ns: ns.describe('the guest collected the answer'),
    fn: name.optional().describe("this call's function, if not the header's"),
    in_bytes: bytes,
    out_bytes: bytes,
    status: z.enum(TRACE_STATUSES),
    error: name.optional().describe('for an ERROR call: the error code'),
    work: work.optional(),
  })
  .describe('VirtFun trace, version 1: one call line');

/** Line 1 of a version 1 trace. */
export type TraceV1Header = z.infer<typeof traceHeaderSchema>;
/** One call line of a version 1 trace. */
export type TraceV1Call = z.infer<typeof traceCallSchema>;

/** A version 1 trace in memory. */
export interface TraceV1 {
  readonly header: TraceV1Header;
  readonly calls: readonly TraceV1Call[];
}

/** The JSON Schema (draft 2020-12) of a trace's lines: `header` for line 1, `call` for the others. */
export function traceJsonSchema(): Record<string, unknown> {
  const header = z.toJSONSchema(traceHeaderSchema, { target: 'draft-2020-12' }) as Record<string, unknown>;
  const call = z.toJSONSchema(traceCallSchema, { target: 'draft-2020-12' }) as Record<string, unknown>;
  const strip = (s: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(s).filter(([k]) => k !== '$schema'));
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://virtfun.dev/schemas/trace-v1.schema.json',
    title: 'VirtFun trace, version 1 (JSON lines)',
    description: 'Line 1 of a trace file is a header ($defs.header), every other line a call ($defs.call). Generated from src/paper/trace-format.ts; see docs/traces.md.',
    oneOf: [{ $ref: '#/$defs/header' }, { $ref: '#/$defs/call' }],
    $defs: { header: strip(header), call: strip(call) },
  };
}

/** The text of schemas/trace-v1.schema.json. */
export function traceJsonSchemaText(): string {
  return JSON.stringify(traceJsonSchema(), null, 2) + '\n';
}

/** One line of a version 1 trace file. */
export function formatTraceLine(line: TraceV1Header | TraceV1Call): string {
  return JSON.stringify(line);
}
