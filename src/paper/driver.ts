/**
 * The paper's vFunctions as one invocation of an instance `R x I`: the input
 * is 8 bytes `[n u32 LE, reps u32 LE]`, the driver computes f(n) `reps` times
 * (the paper's "repetition", the calculation replay) and returns the u64 LE
 * result of the last one. `I` is the number of invocations (calls).
 *
 * Names (the default export is the factory `startService({ driverModule })` loads):
 *
 *   paper-factorial | paper-fibonacci          software, on the host
 *   paper-sim:<profile>:<fn>                   the simulated FPGA: the result is
 *                                              computed once, the call lasts the
 *                                              simulator's model time for `reps * n`
 *                                              items (transfer + launch + compute + jitter)
 *
 * A `|trace=<file>` suffix makes the driver record per-call busy/done
 * timestamps (traces.ts) into `<file>`, from the clock readings the service
 * takes anyway (FunctionDriver.traced): no clock read of its own per call.
 */
import { checkInputSize, DriverInputError, type DriverMeta, type FunctionDriver } from '../drivers/driver.js';
import { factorialU64, fibonacciU64, MAX_N, writeU64 } from '../drivers/software.js';
import { ValidationError } from '../errors.js';
import { callCost, drawJitterNs } from '../../simulator/model.js';
import { functionProfile, loadProfileSync, type FunctionProfile } from '../../simulator/profile.js';
import { createRng, type Rng } from '../../simulator/rng.js';
import { ServiceTraceWriter, nsOf } from './traces.js';

export type PaperFn = 'factorial' | 'fibonacci';
export const PAPER_FNS: readonly PaperFn[] = ['factorial', 'fibonacci'];
/** The paper's arguments: the largest results that fit 64 bits. */
export const PAPER_N: Readonly<Record<PaperFn, number>> = { factorial: 51, fibonacci: 93 };
export const INPUT_BYTES = 8;
export const OUTPUT_BYTES = 8;

const KERNEL: Readonly<Record<PaperFn, (n: number) => [number, number]>> = { factorial: factorialU64, fibonacci: fibonacciU64 };

export function isPaperFn(s: string): s is PaperFn {
  return s === 'factorial' || s === 'fibonacci';
}

/** Encode one invocation's argument. */
export function encodeInput(n: number, reps: number, into: Uint8Array = new Uint8Array(INPUT_BYTES)): Uint8Array {
  const dv = new DataView(into.buffer, into.byteOffset, INPUT_BYTES);
  dv.setUint32(0, n, true);
  dv.setUint32(4, reps, true);
  return into;
}

/** f(n) mod 2^64 as a bigint (for checks). */
export function expected(fn: PaperFn, n: number): bigint {
  const [hi, lo] = KERNEL[fn](n);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

export function readU64(b: Uint8Array): bigint {
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
}

function meta(name: string, kind: 'sw' | 'hw', description: string): DriverMeta {
  return { name, kind, version: '1', description, input: { minBytes: INPUT_BYTES, maxBytes: INPUT_BYTES }, maxOutputBytes: OUTPUT_BYTES };
}

function readArgs(m: DriverMeta, input: Uint8Array): { n: number; reps: number } {
  checkInputSize(m, input);
  const dv = new DataView(input.buffer, input.byteOffset, INPUT_BYTES);
  const n = dv.getUint32(0, true);
  const reps = dv.getUint32(4, true);
  if (n > MAX_N) throw new DriverInputError(`${m.name}: n is ${n}, the limit is ${MAX_N}`);
  if (reps < 1) throw new DriverInputError(`${m.name}: reps is 0, expected >= 1`);
  return { n, reps };
}

abstract class TracedDriver implements FunctionDriver {
  abstract readonly meta: DriverMeta;
  private readonly trace: ServiceTraceWriter | null;
  /**
   * With a trace: busy/done of the call just answered, from the service's own clock readings
   * (FunctionDriver.traced), so the driver reads no clock on the call path: busy is when the
   * service saw the request, done just after it published the answer (mergeTrace bounds it by
   * the guest's get). Without a trace: absent, so the service calls nothing.
   */
  readonly traced: ((seenMs: number, answeredMs: number) => void) | undefined;
  constructor(tracePath: string | null) {
    const trace = tracePath === null ? null : new ServiceTraceWriter(tracePath);
    this.trace = trace;
    this.traced = trace === null ? undefined : (seenMs, answeredMs) => trace.record(nsOf(seenMs), nsOf(answeredMs));
  }
  protected abstract compute(input: Uint8Array, output: Uint8Array): number;
  call(input: Uint8Array, output: Uint8Array): number {
    return this.compute(input, output);
  }
  init(): void {}
  reset(): void {}
  exit(): void {
    this.trace?.close();
  }
}

/** Software: f(n) computed `reps` times per call. */
export class PaperDriver extends TracedDriver {
  readonly meta: DriverMeta;
  private readonly kernel: (n: number) => [number, number];
  constructor(readonly fn: PaperFn, tracePath: string | null = null) {
    super(tracePath);
    this.kernel = KERNEL[fn];
    this.meta = meta(`paper-${fn}`, 'sw', `${fn}(n) mod 2^64 computed reps times per call; input [n u32, reps u32]`);
  }
  protected compute(input: Uint8Array, output: Uint8Array): number {
    const { n, reps } = readArgs(this.meta, input);
    const k = this.kernel;
    let r: [number, number] = [0, 0];
    for (let i = 0; i < reps; i++) r = k(n);
    return writeU64(output, r[0], r[1]);
  }
}

/** Model time of one call of `reps` x f(n) on a simulated device function, in ns (no jitter). */
export function simCallNs(fp: FunctionProfile, n: number, reps: number): number {
  return callCost(fp, INPUT_BYTES, OUTPUT_BYTES, n * reps).totalNs;
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Wait until performance.now() reaches `until` (ms): sleep the bulk, spin the last 0.2 ms. */
export function waitUntil(until: number): void {
  for (;;) {
    const left = until - performance.now();
    if (left <= 0) return;
    if (left > 0.3) Atomics.wait(sleepCell, 0, 0, left - 0.2);
  }
}

/** Seed of the simulated FPGA's jitter (every paper-sim driver draws from it; results.json records it). */
export const SIM_JITTER_SEED = 1;

/** The simulated FPGA: the call lasts the simulator's model time (real time, spin/sleep). */
export class PaperSimDriver extends TracedDriver {
  readonly meta: DriverMeta;
  private readonly fp: FunctionProfile;
  private readonly kernel: (n: number) => [number, number];
  private readonly rng: Rng;
  constructor(readonly profile: string, readonly fn: PaperFn, tracePath: string | null = null, seed = SIM_JITTER_SEED) {
    super(tracePath);
    const p = loadProfileSync(profile);
    const fp = functionProfile(p, fn);
    if (fp === undefined) throw new ValidationError('device', `profile '${profile}' has no function '${fn}'`);
    this.fp = fp;
    this.kernel = KERNEL[fn];
    this.rng = createRng(seed);
    this.meta = meta(`paper-sim:${profile}:${fn}`, 'hw', `${fn} on simulated ${p.name} (${fp.launchMicros} µs launch)`);
  }
  protected compute(input: Uint8Array, output: Uint8Array): number {
    const start = performance.now();
    const { n, reps } = readArgs(this.meta, input);
    const base = simCallNs(this.fp, n, reps);
    const ns = base + drawJitterNs(base, this.fp.jitter, this.rng);
    const [hi, lo] = this.kernel(n);
    waitUntil(start + ns / 1e6);
    return writeU64(output, hi, lo);
  }
}

/** Parse a driver name (see the module comment). */
export function parseDriverName(name: string): { kind: 'sw'; fn: PaperFn; trace: string | null } | { kind: 'sim'; profile: string; fn: PaperFn; trace: string | null } {
  const bar = name.indexOf('|trace=');
  const base = bar < 0 ? name : name.slice(0, bar);
  const trace = bar < 0 ? null : name.slice(bar + '|trace='.length);
  if (base.startsWith('paper-sim:')) {
    const rest = base.slice('paper-sim:'.length);
    const c = rest.lastIndexOf(':');
    const fn = rest.slice(c + 1);
    if (c <= 0 || !isPaperFn(fn)) throw new ValidationError('driver', `'${name}': expected paper-sim:<profile>:factorial|fibonacci`);
    return { kind: 'sim', profile: rest.slice(0, c), fn, trace };
  }
  const fn = base.startsWith('paper-') ? base.slice('paper-'.length) : '';
  if (!isPaperFn(fn)) throw new ValidationError('driver', `'${name}': expected paper-factorial, paper-fibonacci or paper-sim:<profile>:<fn>`);
  return { kind: 'sw', fn, trace };
}

export function paperDriverName(fn: PaperFn, device: string | null, trace: string | null = null): string {
  return (device === null ? `paper-${fn}` : `paper-sim:${device}:${fn}`) + (trace === null ? '' : `|trace=${trace}`);
}

/** The driver-module factory (startService's `driverModule`). */
export function createPaperDriver(name: string): FunctionDriver {
  const p = parseDriverName(name);
  return p.kind === 'sw' ? new PaperDriver(p.fn, p.trace) : new PaperSimDriver(p.profile, p.fn, p.trace);
}

export default createPaperDriver;
