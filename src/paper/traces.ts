/**
 * Per-call traces (`bench paper --trace`). Recording costs a few stores into a
 * preallocated Float64Array per call; records are written to the file in
 * batches of BATCH calls (one write of 64 KiB-ish), never per call.
 *
 * Timestamps are `performance.timeOrigin + performance.now()` in ms (a clock
 * both processes share, to the µs); a trace stores them relative to its start.
 *
 *   guest side   (binary): per call [set, get, inBytes, outBytes, status] f64
 *   service side (binary): per call [busy, done] f64
 *
 * mergeTrace() joins both, call by call, into the JSON-lines trace file that
 * `replay-trace` reads: a header line, then one line per call.
 */
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { ValidationError } from '../errors.js';

export const BATCH = 4096;
export const GUEST_FIELDS = 5;
export const SERVICE_FIELDS = 2;
export const STATUS_DONE = 0;
export const STATUS_ERROR = 1;

export function nowMs(): number {
  return performance.timeOrigin + performance.now();
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
  /** Absolute start (ms since the epoch) all call times are relative to. */
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

const us = (ms: number, t0: number): number => Math.round((ms - t0) * 1000 * 1000) / 1000;

/**
 * Join a guest and a service trace into a JSON-lines trace file: `calls`
 * calls from record `guestSkip` of the guest file and record `serviceSkip`
 * of the service file (the service also saw warm-up calls and other runs).
 */
export function mergeTrace(
  guestPath: string,
  guestSkip: number,
  servicePath: string | null,
  serviceSkip: number,
  out: string,
  calls: number,
  header: Omit<TraceHeader, 'type' | 'version' | 'calls' | 't0_ms'>,
): TraceHeader {
  const g = readF64(guestPath);
  const s = servicePath === null ? new Float64Array(0) : readF64(servicePath);
  const gCalls = Math.floor(g.length / GUEST_FIELDS);
  calls = Math.max(0, Math.min(calls, gCalls - guestSkip));
  const t0 = calls > 0 ? g[guestSkip * GUEST_FIELDS]! : 0;
  const h: TraceHeader = { type: 'virtfun-trace', version: 1, ...header, calls, t0_ms: t0 };
  const lines: string[] = [JSON.stringify(h)];
  const sCalls = Math.floor(s.length / SERVICE_FIELDS);
  for (let i = 0; i < calls; i++) {
    const o = (guestSkip + i) * GUEST_FIELDS;
    const so = (serviceSkip + i) * SERVICE_FIELDS;
    const has = serviceSkip + i < sCalls;
    const c: TraceCall = {
      i,
      set_us: us(g[o]!, t0),
      busy_us: has ? us(s[so]!, t0) : null,
      done_us: has ? us(s[so + 1]!, t0) : null,
      get_us: us(g[o + 1]!, t0),
      in_bytes: g[o + 2]!,
      out_bytes: g[o + 3]!,
      status: g[o + 4] === STATUS_DONE ? 'DONE' : 'ERROR',
    };
    lines.push(JSON.stringify(c));
  }
  writeFileSync(out, lines.join('\n') + '\n');
  return h;
}

/** Read a trace file; a file that is not one is refused with a ValidationError naming the line. Its calls are not checked here (trace-check.ts). */
export function readTrace(path: string): { header: TraceHeader; calls: TraceCall[] } {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const parse = (line: string, n: number): unknown => {
    try {
      return JSON.parse(line);
    } catch (e) {
      throw new ValidationError('trace', `${path}: line ${n + 1} is not JSON (${(e as Error).message})`);
    }
  };
  const first = lines[0];
  if (first === undefined) throw new ValidationError('trace', `${path}: empty trace`);
  const header = parse(first, 0) as TraceHeader;
  if (header?.type !== 'virtfun-trace') throw new ValidationError('trace', `${path}: not a virtfun trace (no header line with type 'virtfun-trace')`);
  return { header, calls: lines.slice(1).map((l, n) => parse(l, n + 1) as TraceCall) };
}
