/**
 * The `breakdown` of bench:dataplane: what each step of one call costs on each side, measured by
 * micro-benchmarks in the benchmark's own process, in the same run as the channels. Each step is
 * the operation the client (client-core.ts, client.ts) or the service (service.ts) performs on the
 * call path, on the same kind of views (a region's areas), repeated ITERATIONS times in a loop
 * whose empty twin is subtracted; the best of ROUNDS rounds is kept (the least disturbed).
 *
 * In one thread every line stays in this core's cache: these are the steps' own costs. What a call
 * costs beyond their sum is the cache-line transfers between the two cores and the wait, which
 * the `floor` channel measures.
 */
import { createDriver } from '../../src/drivers/registry.js';
import { IN, nextSeq, OUT, packWord, Status, wordLow4, wordSeq, Command } from '../../src/dataplane/layout.js';
import { areaViews, createSabRegion, I32, payloadView } from '../../src/dataplane/region.js';
import { bucketOf } from '../../src/dataplane/latency-histogram.js';
import { CONTROL, CONTROL_BYTES } from '../../src/dataplane/service.js';
import { CAPACITY, DEFAULT_PAYLOAD, DRIVER, makePayload } from './common.js';

/** Loop iterations per measured step. */
export const ITERATIONS = 200_000;
/** Rounds per step; the cheapest is kept. */
export const ROUNDS = 5;

/** ns per operation of each step on one side's call path, their sum, and ways of doing a step the path does not take. */
export interface SideBreakdown {
  readonly steps_ns: Record<string, number>;
  readonly total_ns: number;
  /** Measured for comparison, not in the total (e.g. what a step cost before it was cut). */
  readonly alternatives_ns: Record<string, number>;
}

/** The `breakdown` object of the JSON. */
export interface Breakdown {
  readonly method: string;
  readonly iterations: number;
  readonly client: SideBreakdown;
  readonly service: SideBreakdown;
}

const round = (x: number): number => Math.round(x * 10) / 10;

/** ns per iteration of `step(i)`, minus the empty loop's, best of ROUNDS. */
function perOp(step: (i: number) => number): number {
  let sink = 0;
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < ITERATIONS; i++) sink = (sink + step(i)) | 0;
    const t1 = performance.now();
    for (let i = 0; i < ITERATIONS; i++) sink = (sink + (i & 1)) | 0;
    const t2 = performance.now();
    const ns = ((t1 - t0 - (t2 - t1)) * 1e6) / ITERATIONS;
    if (ns < best) best = ns;
  }
  if (sink === 0.5) throw new Error('unreachable'); // keeps `sink` alive
  return Math.max(0, round(best));
}

type Steps = Record<string, (i: number) => number>;

function side(steps: Steps, alternatives: Steps): SideBreakdown {
  const steps_ns: Record<string, number> = {};
  let total = 0;
  for (const [name, step] of Object.entries(steps)) {
    const ns = perOp(step);
    steps_ns[name] = ns;
    total += ns;
  }
  const alternatives_ns: Record<string, number> = {};
  for (const [name, step] of Object.entries(alternatives)) alternatives_ns[name] = perOp(step);
  return { steps_ns, total_ns: round(total), alternatives_ns };
}

/** Measure every step of both sides (a few seconds). */
export function measureBreakdown(): Breakdown {
  const region = createSabRegion(CAPACITY);
  const out = areaViews(region.dataout);
  const inn = areaViews(region.datain);
  const outPayload = payloadView(out, CAPACITY);
  const inPayload = payloadView(inn, CAPACITY);
  const control = new Int32Array(new SharedArrayBuffer(CONTROL_BYTES));
  const latencySum = new Float64Array(control.buffer, CONTROL.latencySumNs * 4, 1);
  const input = makePayload(DEFAULT_PAYLOAD);
  const result = new Uint8Array(4);
  const driver = createDriver(DRIVER);
  const inputView = outPayload.subarray(0, DEFAULT_PAYLOAD);
  Atomics.store(inn.i32, I32.state, packWord(1, Status.DONE));
  Atomics.store(out.i32, I32.req, packWord(1, Command.SET));
  inn.dv.setUint32(IN.len, 4, true);

  const client = side(
    {
      payload_copy_64b: (i) => {
        outPayload.set(input);
        return i;
      },
      len_store: (i) => {
        out.dv.setUint32(OUT.len, DEFAULT_PAYLOAD, true);
        return i;
      },
      request_word_store: (i) => {
        Atomics.store(out.i32, I32.req, packWord(i, Command.SET));
        return i;
      },
      sleeping_flag_check: () => Atomics.load(inn.i32, I32.serviceSleeping),
      wait_first_look: (i) => {
        const w = Atomics.load(inn.i32, I32.state);
        return w === packWord(i, Status.DONE) || w === packWord(i, Status.ERROR) ? 1 : 0;
      },
      answer_validation: () => {
        const len = inn.dv.getUint32(IN.len, true);
        if (len > CAPACITY) throw new Error('bad len');
        return len;
      },
      copy_out_4b: () => {
        for (let k = 0; k < 4; k++) result[k] = inPayload[k]!;
        return result[0]!;
      },
    },
    {
      payload_copy_64b_loop: (i) => {
        for (let k = 0; k < DEFAULT_PAYLOAD; k++) outPayload[k] = input[k]!;
        return i;
      },
      clock_reads_2: () => (performance.now() + performance.now()) | 0,
    },
  );

  let lastSeq = 0;
  const service = side(
    {
      request_read_validation: (i) => {
        const word = packWord(nextSeq(lastSeq), Command.SET);
        const seq = wordSeq(word);
        const cmd = wordLow4(word);
        if (seq !== nextSeq(lastSeq)) return -1;
        lastSeq = seq;
        if (cmd !== Command.SET && cmd !== Command.GET && cmd !== Command.RST) return -2;
        const len = out.dv.getUint32(OUT.len, true);
        return len > CAPACITY ? -3 : len + i;
      },
      busy_stores: (i) => {
        control[CONTROL.busy] = i + 1;
        inn.i32[I32.state] = packWord(i, Status.BUSY);
        return i;
      },
      driver_call: () => driver.call(inputView, inPayload) as number,
      answer_fields: (i) => {
        inn.dv.setUint32(IN.error, 0, true);
        inn.dv.setUint32(IN.len, 4, true);
        return i;
      },
      counters: (i) => {
        control[CONTROL.calls] = i;
        inn.i32[I32.calls] = i;
        control[CONTROL.busy] = 0;
        return i;
      },
      done_store: (i) => {
        Atomics.store(inn.i32, I32.state, packWord(i, Status.DONE));
        return i;
      },
      notify_check: () => Atomics.load(out.i32, I32.clientSleeping),
      clock_reads_2: () => (performance.now() + performance.now()) | 0,
      latency_histogram: (i) => {
        const k = CONTROL.latencyCounts + bucketOf(i & 4095);
        control[k] = (control[k]! + 1) | 0;
        latencySum[0] = latencySum[0]! + i;
        return i;
      },
    },
    {
      busy_stores_atomic: (i) => {
        Atomics.store(control, CONTROL.busy, i + 1);
        Atomics.store(inn.i32, I32.state, packWord(i, Status.BUSY));
        return i;
      },
      counters_atomic: (i) => {
        Atomics.store(control, CONTROL.calls, i);
        Atomics.store(inn.i32, I32.calls, i);
        Atomics.store(control, CONTROL.busy, 0);
        return i;
      },
    },
  );
  return {
    method:
      `in-process micro-benchmarks of each call step on a region's views, ${ITERATIONS} iterations, ` +
      `best of ${ROUNDS} rounds, minus an empty loop; one thread, so no cache-line transfers (see floor)`,
    iterations: ITERATIONS,
    client,
    service,
  };
}
