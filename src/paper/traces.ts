/**
 * Per-call traces (`bench paper --trace`). Recording costs a few stores into a
 * preallocated Float64Array per call; records are written to the file in
 * batches of BATCH calls (one write of 64 KiB-ish), never per call.
 *
 * Timestamps are CLOCK_MONOTONIC in integer nanoseconds (the clock every process of the
 * host shares, no per-process origin; read through performance.now(): see nowNs), stored
 * as doubles: exact while the host has been up less than 2^53 ns (104 days),
 * to 2 ns for twice that. A trace stores them relative to its start.
 *
 *   guest side   (binary): per call [set, get, inBytes, outBytes, status] f64
 *                 one clock read per call: a call's get is the next one's set
 *   service side (binary): per call [busy, done] f64, the service loop's own clock readings:
 *                 when it saw the request, just after it published the answer
 *                 (FunctionDriver.traced; done is bounded by the guest's get when merged)
 *
 * mergeTrace() joins both, call by call, into the JSON-lines trace file
 * (format version 1, trace-format.ts and docs/traces.md) that `replay-trace`
 * reads: a header line, then one line per call.
 */
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { formatTraceLine, TRACE_FORMAT, TRACE_VERSION, type TraceV1Call, type TraceV1Header } from './trace-format.js';
import { readTraceFile, type ReadTrace } from './trace-read.js';

export const BATCH = 4096;
export const GUEST_FIELDS = 5;
export const SERVICE_FIELDS = 2;
export const STATUS_DONE = 0;
export const STATUS_ERROR = 1;

/**
 * CLOCK_MONOTONIC in ns at this process's `performance.now()` 0, found once: performance.now()
 * reads the same clock (libuv's hrtime) without allocating a BigInt, so nowNs() is that plus an
 * offset. The offset is taken from the tightest of a few hrtime reads bracketed by two
 * performance.now() reads; its error (well under 1 µs) is the same for every call of the process.
 */
const ORIGIN_NS: number = (() => {
  let best = Infinity;
  let origin = 0;
  for (let i = 0; i < 16; i++) {
    const a = performance.now();
    const h = Number(process.hrtime.bigint());
    const b = performance.now();
    if (b - a < best) {
      best = b - a;
      origin = h - ((a + b) / 2) * 1e6;
    }
  }
  return origin;
})();

/** CLOCK_MONOTONIC now, in nanoseconds (as a double: see the module comment); no allocation. */
export function nowNs(): number {
  return Math.round(ORIGIN_NS + performance.now() * 1e6);
}

/** A `performance.now()` reading of this process (ms) as CLOCK_MONOTONIC nanoseconds, as nowNs() gives them. */
export function nsOf(performanceNowMs: number): number {
  return Math.round(ORIGIN_NS + performanceNowMs * 1e6);
}

class BatchWriter {
  private readonly buf: Float64Array;
  private i = 0;
  private fd: number;
  constructor(path: string, private readonly fields: number) {
    this.buf = new Float64Array(BATCH * fields);
    this.fd = openSync(path, 'w');
  }
  protected push(a: number, b: number, c?: number, d?: number, e?: number): void {
    const buf = this.buf;
    let i = this.i;
    buf[i++] = a;
    buf[i++] = b;
    if (this.fields === GUEST_FIELDS) {
      buf[i++] = c!;
      buf[i++] = d!;
      buf[i++] = e!;
    }
    this.i = i;
    if (i === buf.length) this.flush();
  }
  flush(): void {
    if (this.i === 0 || this.fd < 0) return;
    writeSync(this.fd, new Uint8Array(this.buf.buffer, 0, this.i * 8));
    this.i = 0;
  }
  close(): void {
    if (this.fd < 0) return;
    this.flush();
    closeSync(this.fd);
    this.fd = -1;
  }
}

export class GuestTraceWriter extends BatchWriter {
  constructor(path: string) {
    super(path, GUEST_FIELDS);
  }
  record(set: number, get: number, inBytes: number, outBytes: number, status: number): void {
    this.push(set, get, inBytes, outBytes, status);
  }
}

export class ServiceTraceWriter extends BatchWriter {
  constructor(path: string) {
    super(path, SERVICE_FIELDS);
  }
  record(busy: number, done: number): void {
    this.push(busy, done);
  }
}

function readF64(path: string): Float64Array {
  const b = readFileSync(path);
  const copy = new Uint8Array(b.byteLength - (b.byteLength % 8));
  copy.set(b.subarray(0, copy.byteLength));
  return new Float64Array(copy.buffer);
}

/**
 * A trace as the protocol check (trace-check.ts) reads it: times in µs from
 * the trace's start. Version 0 files had this shape; `readTrace` gives it for
 * either version.
 */
export interface TraceHeader {
  readonly type: 'virtfun-trace';
  readonly version: 1;
  readonly fn: string;
  readonly n: number;
  readonly reps: number;
  readonly instance: string;
  readonly domain: string;
  readonly driver: string;
  readonly calls: number;
  /** Absolute start (ms since the epoch) of a version 0 trace; 0 for version 1 (its times are exact integers). */
  readonly t0_ms: number;
}

/** One call: times in µs from the trace start; status DONE or ERROR. */
export interface TraceCall {
  readonly i: number;
  readonly set_us: number;
  readonly busy_us: number | null;
  readonly done_us: number | null;
  readonly get_us: number;
  readonly in_bytes: number;
  readonly out_bytes: number;
  readonly status: 'DONE' | 'ERROR';
}

/** What the header names beside the calls (mergeTrace). */
export type RecordedTraceInfo = Pick<TraceHeader, 'fn' | 'n' | 'reps' | 'instance' | 'domain' | 'driver'>;

/**
 * Join a guest and a service trace into a version 1 trace file: `calls`
 * calls from record `guestSkip` of the guest file and record `serviceSkip`
 * of the service file (the service also saw warm-up calls and other runs).
 */
export function mergeTrace(guestPath: string, guestSkip: number, servicePath: string | null, serviceSkip: number, out: string, calls: number, info: RecordedTraceInfo): { header: TraceV1Header; calls: TraceV1Call[] } {
  const g = readF64(guestPath);
  const s = servicePath === null ? new Float64Array(0) : readF64(servicePath);
  const gCalls = Math.floor(g.length / GUEST_FIELDS);
  calls = Math.max(0, Math.min(calls, gCalls - guestSkip));
  const t0 = calls > 0 ? g[guestSkip * GUEST_FIELDS]! : 0;
  const kind = info.domain === 'guest-host' || info.domain === 'host-host' || info.domain === 'guest-net' ? info.domain : 'imported';
  const h: TraceV1Header = {
    format: TRACE_FORMAT,
    version: TRACE_VERSION,
    fn: info.fn,
    kind,
    clock: 'CLOCK_MONOTONIC',
    t0_ns: BigInt(t0).toString(),
    calls,
    n: info.n,
    reps: info.reps,
    work: info.n * info.reps,
    instance: info.instance,
    driver: info.driver,
    source: 'vfun bench paper --trace',
  };
  const lines: string[] = [formatTraceLine(h)];
  const merged: TraceV1Call[] = [];
  const sCalls = Math.floor(s.length / SERVICE_FIELDS);
  const rel = (x: number): number => Math.max(0, Math.round(x - t0));
  for (let i = 0; i < calls; i++) {
    const o = (guestSkip + i) * GUEST_FIELDS;
    const so = (serviceSkip + i) * SERVICE_FIELDS;
    const has = serviceSkip + i < sCalls;
    const get = g[o + 1]!;
    const c: TraceV1Call = {
      i,
      set_ns: rel(g[o]!),
      busy_ns: has ? rel(s[so]!) : null,
      // The service reads its clock just after publishing the answer, the guest just after seeing
      // it: both are upper bounds of the moment the answer was out, and the earlier one is kept.
      done_ns: has ? rel(Math.min(s[so + 1]!, get)) : null,
      get_ns: rel(get),
      in_bytes: g[o + 2]!,
      out_bytes: g[o + 3]!,
      status: g[o + 4] === STATUS_DONE ? 'DONE' : 'ERROR',
    };
    lines.push(formatTraceLine(c));
    merged.push(c);
  }
  writeFileSync(out, lines.join('\n') + '\n');
  return { header: h, calls: merged };
}

const us = (ns: number): number => ns / 1000;

/** The µs view of a trace read from a file (what trace-check.ts checks). */
export function checkView(t: ReadTrace): { header: TraceHeader; calls: TraceCall[] } {
  const h = t.header;
  const header: TraceHeader = {
    type: 'virtfun-trace',
    version: 1,
    fn: h.fn,
    n: h.n ?? 0,
    reps: h.reps ?? 1,
    instance: h.instance ?? '',
    domain: h.kind,
    driver: h.driver ?? '',
    calls: h.calls,
    t0_ms: t.t0_ms ?? 0,
  };
  const calls = t.calls.map(
    (c): TraceCall => ({
      i: c.i,
      set_us: us(c.set_ns),
      busy_us: c.busy_ns === null ? null : us(c.busy_ns),
      done_us: c.done_ns === null ? null : us(c.done_ns),
      get_us: us(c.get_ns),
      in_bytes: c.in_bytes,
      out_bytes: c.out_bytes,
      status: c.status,
    }),
  );
  return { header, calls };
}

/** Read a trace file of either version (trace-read.ts: refusals name the line and the field) in its µs view. */
export function readTrace(path: string): { header: TraceHeader; calls: TraceCall[] } {
  return checkView(readTraceFile(path));
}
