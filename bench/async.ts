/**
 * Sync vs async guest calls, in one run, on two channels:
 *
 *   sab    ChannelClient on the main thread, service in a worker thread (SharedArrayBuffers;
 *          callAsync waits with Atomics.waitAsync)
 *   memfd  vFunD's production path: a sealed memfd region, the service in a service process of its
 *          own, the client in this process (callAsync waits with futexWaitAsync on libuv's pool)
 *
 * For each: latency of `call` vs `await callAsync` (CRC-32 of 64 B: median, p99, calls/s), and the
 * event loop's responsiveness while slow calls run (Fibonacci of 1,000,000: about 12 ms of
 * service time a call, on these machines): monitorEventLoopDelay's p99 and max, and how many 1 ms interval ticks fired, while a
 * caller issues calls back to back for `--window` ms. The sync caller is the kindest one can write:
 * it yields to the event loop (setImmediate) after every call; the loop is still held for each call.
 *
 *   node --import tsx bench/async.ts [--json] [--calls N] [--warmup N] [--window ms] [--quick]
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { startServiceProcess } from '../src/actors/service-process.js';
import { ChannelClient } from '../src/dataplane/client.js';
import { ControlFile } from '../src/dataplane/control-file.js';
import { closeFdRegion, createMemfdRegion } from '../src/dataplane/region-fds.js';
import { createSabRegion, sabChannel } from '../src/dataplane/region.js';
import { startService } from '../src/dataplane/service-host.js';
import { connect } from '../src/guest/connect.js';
import { shmAvailable, shmUnavailableReason } from '../src/native/shm.js';
import { CAPACITY, DEFAULT_PAYLOAD, expectedCrc, makePayload, readU32, summarize, type LatencySummary } from './dataplane/common.js';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    calls: { type: 'string' },
    warmup: { type: 'string' },
    window: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const calls = Number(values.calls ?? (values.quick ? 2000 : 50_000));
const warmup = Number(values.warmup ?? (values.quick ? 500 : 10_000));
const windowMs = Number(values.window ?? (values.quick ? 200 : 1000));
const log = (msg: string): void => {
  process.stderr.write(`[bench:async] ${msg}\n`);
};

interface Responsiveness {
  readonly calls: number;
  /** monitorEventLoopDelay (resolution 1 ms): p99 and max of the loop's delay, in µs. */
  readonly loop_delay_p99_us: number;
  readonly loop_delay_max_us: number;
  /** 1 ms interval ticks that fired during the window, over the window in ms (1: none missed). */
  readonly ticks_per_ms: number;
}
interface ModeResult {
  readonly latency: LatencySummary;
  readonly responsiveness: Responsiveness;
}
interface ChannelResult {
  readonly name: string;
  readonly sync: ModeResult;
  readonly async: ModeResult;
}

/** The slow call of the responsiveness probe: fibonacci(SLOW_N), the largest n the driver takes. */
const SLOW_N = 1_000_000;
const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;
const yieldLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

async function latency(client: ChannelClient, async: boolean): Promise<LatencySummary> {
  const input = makePayload(DEFAULT_PAYLOAD);
  const want = expectedCrc(input);
  const one = async (): Promise<Uint8Array> => (async ? client.callAsync(input) : client.call(input));
  for (let i = 0; i < warmup; i++) await one();
  const samples = new Float64Array(calls);
  const start = performance.now();
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    const out = async ? await client.callAsync(input) : client.call(input);
    samples[i] = performance.now() - t0;
    if (readU32(out) !== want) throw new Error('wrong result');
  }
  return summarize(samples, performance.now() - start);
}

async function responsiveness(client: ChannelClient, async: boolean): Promise<Responsiveness> {
  const input = new Uint8Array(4);
  new DataView(input.buffer).setUint32(0, SLOW_N, true);
  const h = monitorEventLoopDelay({ resolution: 1 });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  h.enable();
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < windowMs) {
    if (async) await client.callAsync(input);
    else {
      client.call(input);
      await yieldLoop();
    }
    n++;
  }
  const elapsed = performance.now() - start;
  h.disable();
  clearInterval(timer);
  return { calls: n, loop_delay_p99_us: round(h.percentile(99) / 1000, 0), loop_delay_max_us: round(h.max / 1000, 0), ticks_per_ms: round(ticks / elapsed) };
}

async function measure(name: string, client: ChannelClient, driverFor: (d: string) => Promise<ChannelClient>): Promise<ChannelResult> {
  const r = { name } as { name: string; sync?: ModeResult; async?: ModeResult };
  for (const mode of ['sync', 'async'] as const) {
    const lat = await latency(client, mode === 'async');
    const slow = await driverFor('fibonacci');
    const resp = await responsiveness(slow, mode === 'async');
    r[mode] = { latency: lat, responsiveness: resp };
    log(`${name} ${mode.padEnd(5)} median ${lat.median_us} µs p99 ${lat.p99_us} µs ${lat.rtt_per_s}/s; loop delay p99 ${resp.loop_delay_p99_us} µs max ${resp.loop_delay_max_us} µs, ticks/ms ${resp.ticks_per_ms} (${resp.calls} calls of fibonacci(${SLOW_N}))`);
  }
  return r as ChannelResult;
}

const stops: (() => Promise<unknown> | void)[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'vfun-bench-async-'));

async function sabClient(driver: string): Promise<ChannelClient> {
  const region = createSabRegion(CAPACITY);
  const svc = await startService({ region, driver, strategy: 'hybrid' });
  const client = new ChannelClient(sabChannel(region));
  stops.push(() => client.close(), () => svc.stop());
  return client;
}

let regionNo = 0;
async function memfdClient(driver: string): Promise<ChannelClient> {
  const dir = join(tmp, `region-${regionNo++}`);
  mkdirSync(dir, { mode: 0o700 });
  const region = createMemfdRegion(CAPACITY, `bench-async-${regionNo}`);
  const control = ControlFile.create(join(dir, 'control'));
  const svc = await startServiceProcess({ region, driver, control, strategy: 'hybrid' }, { restarting: () => undefined, failed: (d) => log(`memfd: ${d}`) });
  const client = connect({ capacity: CAPACITY, dataoutFd: region.dataoutFd, datainFd: region.datainFd });
  stops.push(
    () => client.close(),
    () => svc.stop(),
    () => control.close(),
    () => closeFdRegion(region),
  );
  return client;
}

const results: ChannelResult[] = [];
const t0 = performance.now();
try {
  results.push(await measure('sab', await sabClient('crc32'), sabClient));
  if (shmAvailable()) results.push(await measure('memfd', await memfdClient('crc32'), memfdClient));
  else log(`memfd skipped: ${shmUnavailableReason()}`);
} finally {
  for (const stop of stops.reverse()) await stop();
  rmSync(tmp, { recursive: true, force: true });
}

const ratio = (a: number, b: number): number | null => (b > 0 ? round(a / b, 2) : null);
const ratios = Object.fromEntries(
  results.flatMap((r) => [
    [`${r.name}_async_over_sync_median`, ratio(r.async.latency.median_us, r.sync.latency.median_us)],
    [`${r.name}_async_over_sync_p99`, ratio(r.async.latency.p99_us, r.sync.latency.p99_us)],
    [`${r.name}_sync_over_async_loop_delay_p99`, ratio(r.sync.responsiveness.loop_delay_p99_us, r.async.responsiveness.loop_delay_p99_us)],
  ]),
);
const report = { calls, warmup, window_ms: windowMs, run_s: round((performance.now() - t0) / 1000, 1), channels: results, ratios };
if (values.json) process.stdout.write(JSON.stringify(report) + '\n');
else process.stdout.write(JSON.stringify(report, null, 2) + '\n');
