/**
 * Data-plane benchmark: one function call (CRC-32 of a 64-byte payload, the
 * registry's `crc32` driver) over every channel VirtFun has, and over the
 * socket baselines, all in one run with the same message.
 *
 *   direct                 the driver called in-process (no channel)
 *   floor                  the least a cross-process round trip costs here: two processes spinning on one
 *                          word of a mapped file, nothing validated (bench/dataplane/floor.ts)
 *   sab-spin|block|hybrid  ChannelClient on the main thread, service in a worker thread (SharedArrayBuffers)
 *   mmap-spin|block|hybrid service in a worker of this process over region files (mmap + futex),
 *                          client in a separate OS process (connect(), as a guest)
 *   mmap-hybrid-contended  mmap-hybrid while one busy-loop process competes for the 2 cores
 *   memfd-hybrid           vFunD's production path: a sealed memfd region, the service in a service process of its own
 *   uds, tcp               server process running the same driver behind a length-prefixed framing,
 *                          client in another process, one request in flight (tcp: loopback, Nagle off)
 *
 * plus a payload sweep (64 B, 4 KiB, 64 KiB) of mmap-hybrid vs tcp (and direct).
 * Client and service use the same wait strategy. Every sample is one call timed
 * with performance.now() (the timer's own cost, ~tens of ns, is included and reported).
 *
 *   node --import tsx bench/dataplane.ts [--json] [--calls N] [--warmup N] [--quick]
 *                                        [--only name,name] [--spin-micros N] [--no-sweep]
 *
 * --json: one JSON object on stdout, progress on stderr. See docs/benchmarks.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { createSabRegion } from '../src/dataplane/region.js';
import { createFileRegion } from '../src/dataplane/region-files.js';
import { closeFdRegion, createMemfdRegion } from '../src/dataplane/region-fds.js';
import { ControlFile } from '../src/dataplane/control-file.js';
import { startServiceProcess } from '../src/actors/service-process.js';
import { startService } from '../src/dataplane/service-host.js';
import { DEFAULT_SPIN_MICROS, type WaitStrategy } from '../src/dataplane/wait.js';
import { createDriver } from '../src/drivers/registry.js';
import { connect } from '../src/guest/connect.js';
import { requireShm, shmAvailable, shmUnavailableReason } from '../src/native/shm.js';
import {
  CAPACITY,
  DEFAULT_PAYLOAD,
  DRIVER,
  expectedCrc,
  makePayload,
  readU32,
  runChild,
  startChild,
  SWEEP_PAYLOADS,
  timeCalls,
  timerOverheadUs,
  cpuMeter,
  processCpuMs,
  FLOOR_FILE_BYTES,
  type FloorConfig,
  type ForeignLoad,
  type LatencySummary,
} from './dataplane/common.js';
import { wakeLatency, type WakeLatency } from './dataplane/wake-probe.js';
import { measureBreakdown, type Breakdown } from './dataplane/breakdown.js';
import type { ShmClientConfig } from './dataplane/shm-client.js';
import type { SocketClientConfig } from './dataplane/socket-client.js';
import type { SocketServerConfig } from './dataplane/socket-server.js';

// ---- options ----

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    calls: { type: 'string' },
    warmup: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'spin-micros': { type: 'string' },
    'no-sweep': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const USAGE =
  'usage: bench:dataplane [--json] [--calls N] [--warmup N] [--quick] [--only name,name] [--spin-micros N] [--no-sweep]';
if (values.help) {
  process.stdout.write(USAGE + '\n');
  process.exit(0);
}

function intOpt(name: string, v: string | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`--${name} must be an integer >= ${min}\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
}

const DEFAULT_CALLS = 100_000;
const calls = intOpt('calls', values.calls, values.quick ? 2_000 : DEFAULT_CALLS, 1);
const warmup = intOpt('warmup', values.warmup, values.quick ? 1_000 : Math.min(50_000, Math.max(20_000, calls >> 2)), 0);
const spinMicros = values['spin-micros'] === undefined ? undefined : intOpt('spin-micros', values['spin-micros'], 0, 0);
const CHANNELS = ['direct', 'floor', 'sab-spin', 'sab-block', 'sab-hybrid', 'mmap-spin', 'mmap-block', 'mmap-hybrid', 'mmap-hybrid-contended', 'memfd-hybrid', 'uds', 'tcp'];
const only = values.only === undefined ? null : new Set(values.only.split(',').map((s) => s.trim()));
for (const name of only ?? []) {
  if (!CHANNELS.includes(name)) {
    process.stderr.write(`--only: unknown channel '${name}'; known: ${CHANNELS.join(', ')}\n`);
    process.exit(2);
  }
}
const want = (name: string): boolean => only === null || only.has(name);
const sweepOn = !values['no-sweep'];

const log = (msg: string): void => {
  process.stderr.write(`[bench:dataplane] ${msg}\n`);
};

// ---- results ----

interface ChannelResult extends LatencySummary, ForeignLoad {
  readonly name: string;
  readonly payload_bytes: number;
  /** OS processes the call crosses (1: in-process, 2: client and service in two processes). */
  readonly processes: number;
  /** Wait strategy of client and service (shared-memory channels). */
  readonly strategy?: WaitStrategy;
  /** Cost of the performance.now() pair in the client process, included in every sample (µs). */
  readonly timer_overhead_us?: number;
}

const channels: ChannelResult[] = [];
const sweep: ChannelResult[] = [];

function record(list: ChannelResult[], r: ChannelResult): ChannelResult {
  list.push(r);
  log(
    `${r.name.padEnd(22)} ${String(r.payload_bytes).padStart(6)} B  median ${r.median_us} µs  p99 ${r.p99_us} µs  ` +
      `p99.9 ${r.p999_us} µs  ${r.rtt_per_s}/s  foreign ${String(r.foreign_cores)} cores`,
  );
  return r;
}

// ---- channels ----

const tmp = mkdtempSync(join(tmpdir(), 'vfun-bench-'));
let regionNo = 0;
const children = new Set<ChildProcess>();

function direct(payload: number): ChannelResult {
  const meter = cpuMeter();
  const driver = createDriver(DRIVER);
  const input = makePayload(payload);
  const expected = expectedCrc(input);
  const out = new Uint8Array(64);
  let bad = 0;
  const s = timeCalls(calls, warmup, () => {
    driver.call(input, out);
    if (readU32(out) !== expected) bad++;
  });
  if (bad > 0) throw new Error(`direct: ${bad} wrong results`);
  return { name: 'direct', payload_bytes: payload, processes: 1, ...s, ...meter.end(0) };
}

const micros = spinMicros === undefined ? {} : { spinMicros };

async function sab(strategy: WaitStrategy): Promise<ChannelResult> {
  const meter = cpuMeter();
  const region = createSabRegion(CAPACITY);
  const svc = await startService({ region, driver: DRIVER, strategy, ...micros });
  try {
    const client = connect(region, { strategy, ...micros });
    const input = makePayload(DEFAULT_PAYLOAD);
    const expected = expectedCrc(input);
    const out = new Uint8Array(4);
    let bad = 0;
    const s = timeCalls(calls, warmup, () => {
      client.callInto(input, out);
      if (readU32(out) !== expected) bad++;
    });
    client.close();
    if (bad > 0) throw new Error(`sab-${strategy}: ${bad} wrong results`);
    return { name: `sab-${strategy}`, payload_bytes: DEFAULT_PAYLOAD, processes: 1, strategy, ...s, ...meter.end(0) };
  } finally {
    await svc.stop();
  }
}

/** What a bench child reports: its latency summary, timer overhead and total CPU time. */
type ChildResult = LatencySummary & { timer_overhead_us: number; cpu_ms: number };

/**
 * Service in a worker of this process over a fresh region in the temp dir,
 * client in a child process. `contended`: one busy-loop process runs meanwhile.
 */
async function mmap(strategy: WaitStrategy, payload: number, name: string, contended = false): Promise<ChannelResult> {
  const meter = cpuMeter();
  const dir = join(tmp, `region-${regionNo++}`);
  mkdirSync(dir, { mode: 0o700 });
  const region = createFileRegion({ dataout: join(dir, 'dataout'), datain: join(dir, 'datain') }, CAPACITY);
  const svc = await startService({ region, driver: DRIVER, strategy, ...micros });
  let busy: ChildProcess | undefined;
  try {
    if (contended) busy = await startBusyLoop();
    const cfg: ShmClientConfig = { ...region, strategy, payload, calls, warmup, ...micros };
    const { cpu_ms, ...s } = await runChild<ChildResult>('shm-client', cfg);
    const busyMs = processCpuMs(busy?.pid);
    const st = svc.stats();
    const totalErrors = Object.values(st.errors).reduce((x, y) => x + y, 0);
    if (totalErrors > 0) throw new Error(`${name}: the service answered ${totalErrors} errors`);
    return { name, payload_bytes: payload, processes: 2, strategy, ...s, ...meter.end(cpu_ms + busyMs) };
  } finally {
    if (busy) await stopChild(busy);
    await svc.stop();
  }
}

/**
 * The production path of vFunD since regions became sealed memory: a sealed memfd region, the
 * service in a service process of its own (as vFunD runs it), the client in a child process that
 * inherited the two descriptors. Beside mmap-hybrid (files, service in a worker of this process:
 * vFunD's path before), in one run.
 */
async function memfd(strategy: WaitStrategy, payload: number, name: string): Promise<ChannelResult> {
  const meter = cpuMeter();
  const dir = join(tmp, `region-${regionNo++}`);
  mkdirSync(dir, { mode: 0o700 });
  const region = createMemfdRegion(CAPACITY, name);
  const control = ControlFile.create(join(dir, 'control'));
  const svc = await startServiceProcess(
    { region, driver: DRIVER, control, strategy, ...micros },
    { restarting: () => undefined, failed: (detail) => log(`${name}: ${detail}`) },
  );
  try {
    const cfg: ShmClientConfig = { fds: true, capacity: CAPACITY, strategy, payload, calls, warmup, ...micros };
    const { cpu_ms, ...s } = await runChild<ChildResult>('shm-client', cfg, [region.dataoutFd, region.datainFd]);
    const serviceMs = processCpuMs(svc.pid);
    const st = svc.stats();
    const totalErrors = Object.values(st.errors).reduce((x, y) => x + y, 0);
    if (totalErrors > 0) throw new Error(`${name}: the service answered ${totalErrors} errors`);
    return { name, payload_bytes: payload, processes: 2, strategy, ...s, ...meter.end(cpu_ms + serviceMs) };
  } finally {
    await svc.stop();
    control.close();
    closeFdRegion(region);
  }
}

/**
 * The floor: an echo child and a client child spinning on one word of a mapped file (floor.ts).
 * Both sides are OS processes of their own, as the guest and the service process of memfd-hybrid.
 */
async function floor(): Promise<ChannelResult> {
  const meter = cpuMeter();
  const path = join(tmp, `floor-${regionNo++}`);
  const shm = requireShm();
  shm.unmap(shm.open(path, FLOOR_FILE_BYTES, { create: true, writable: true }));
  const echoCfg: FloorConfig = { path, role: 'echo' };
  const echo = startChild<{ ready: boolean }>('floor', echoCfg);
  children.add(echo.proc);
  try {
    await echo.first;
    const clientCfg: FloorConfig = { path, role: 'client', calls, warmup };
    const { cpu_ms, ...s } = await runChild<ChildResult>('floor', clientCfg);
    const [echoEnd] = (await echo.rest) as { cpu_ms: number }[];
    return { name: 'floor', payload_bytes: 0, processes: 2, ...s, ...meter.end(cpu_ms + (echoEnd?.cpu_ms ?? 0)) };
  } finally {
    await stopChild(echo.proc);
    children.delete(echo.proc);
  }
}

/** A process that only burns CPU, to oversubscribe the cores. */
async function startBusyLoop(): Promise<ChildProcess> {
  const p = spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' });
  children.add(p);
  p.once('exit', () => children.delete(p));
  await new Promise((r) => setTimeout(r, 300)); // past node start-up: spinning from here on
  if (p.exitCode !== null) throw new Error('the busy-loop process died');
  return p;
}

async function stopChild(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await gone;
}

/** Server child running the driver behind a length-prefixed framing, client child doing round trips. */
async function socket(kind: 'uds' | 'tcp', payload: number): Promise<ChannelResult> {
  const meter = cpuMeter();
  const path = kind === 'uds' ? join(tmp, `s-${regionNo++}.sock`) : undefined;
  const scfg: SocketServerConfig = { kind, ...(path !== undefined && { path }) };
  const server = startChild<{ ready: boolean; port?: number }>('socket-server', scfg);
  children.add(server.proc);
  try {
    const ready = await server.first;
    const ccfg: SocketClientConfig = {
      kind,
      payload,
      calls,
      warmup,
      ...(path !== undefined && { path }),
      ...(ready.port !== undefined && { port: ready.port }),
    };
    const { cpu_ms, ...s } = await runChild<ChildResult>('socket-client', ccfg);
    const serverMs = processCpuMs(server.proc.pid);
    return { name: kind, payload_bytes: payload, processes: 2, ...s, ...meter.end(cpu_ms + serverMs) };
  } finally {
    await stopChild(server.proc);
    children.delete(server.proc);
  }
}

// ---- ratios and targets ----

const TARGETS = {
  mmapHybridMedianUs: 1,
  mmapHybridP99Us: 3,
  tcpOverMmapHybridMedian: 50,
  contendedP99Us: 50,
  contendedP999Us: 500,
  /** The channel's own cost (mmap-hybrid median minus direct median) over the floor's median. */
  channelCostOverFloor: 1.3,
} as const;

const r2 = (x: number): number => Math.round(x * 100) / 100;

function find(list: ChannelResult[], name: string, payload = DEFAULT_PAYLOAD): ChannelResult | undefined {
  return list.find((c) => c.name === name && c.payload_bytes === payload);
}

function ratio(a: ChannelResult | undefined, b: ChannelResult | undefined, key: 'median_us' | 'p99_us' = 'median_us'): number | null {
  return a && b ? r2(a[key] / b[key]) : null;
}

function ratios(): Record<string, unknown> {
  const get = (n: string): ChannelResult | undefined => find(channels, n);
  const hyb = get('mmap-hybrid');
  const tcp = get('tcp');
  const uds = get('uds');
  const dir = get('direct');
  const cont = get('mmap-hybrid-contended');
  const flo = find(channels, 'floor', 0);
  const perPayload: Record<string, number | null> = {};
  const all = [...channels, ...sweep];
  for (const p of SWEEP_PAYLOADS) perPayload[String(p)] = ratio(find(all, 'tcp', p), find(all, 'mmap-hybrid', p));
  return {
    tcp_over_mmap_hybrid_median: ratio(tcp, hyb),
    tcp_over_mmap_hybrid_p99: ratio(tcp, hyb, 'p99_us'),
    uds_over_mmap_hybrid_median: ratio(uds, hyb),
    tcp_over_uds_median: ratio(tcp, uds),
    mmap_hybrid_over_direct_median: ratio(hyb, dir),
    mmap_spin_over_direct_median: ratio(get('mmap-spin'), dir),
    sab_hybrid_over_direct_median: ratio(get('sab-hybrid'), dir),
    mmap_block_over_mmap_hybrid_median: ratio(get('mmap-block'), hyb),
    mmap_hybrid_over_sab_hybrid_median: ratio(hyb, get('sab-hybrid')),
    memfd_hybrid_over_mmap_hybrid_median: ratio(get('memfd-hybrid'), hyb),
    memfd_hybrid_over_mmap_hybrid_p99: ratio(get('memfd-hybrid'), hyb, 'p99_us'),
    floor_median_us: flo ? flo.median_us : null,
    channel_cost_median_us: hyb && dir ? r2(hyb.median_us - dir.median_us) : null,
    channel_cost_over_floor_median: channelCostOverFloor(),
    contended_p99_us: cont ? cont.p99_us : null,
    contended_over_uncontended_p99: ratio(cont, hyb, 'p99_us'),
    sweep_tcp_over_mmap_hybrid_median: perPayload,
  };
}

/** What mmap-hybrid costs beyond calling the function in-process, in floors (medians; null without the three channels). */
function channelCostOverFloor(): number | null {
  const hyb = find(channels, 'mmap-hybrid');
  const dir = find(channels, 'direct');
  const flo = find(channels, 'floor', 0);
  return hyb && dir && flo && flo.median_us > 0 ? r2((hyb.median_us - dir.median_us) / flo.median_us) : null;
}

interface Target {
  readonly value: number | null;
  readonly target: string;
  readonly met: boolean | null;
}

function targets(): { readonly checks: Record<string, Target>; readonly all_met: boolean | null } {
  const hyb = find(channels, 'mmap-hybrid');
  const tcp = find(channels, 'tcp');
  const cont = find(channels, 'mmap-hybrid-contended');
  const le = (v: number | undefined, max: number): Target => ({ value: v ?? null, target: `<= ${max}`, met: v === undefined ? null : v <= max });
  const ge = (v: number | null, min: number): Target => ({ value: v, target: `>= ${min}`, met: v === null ? null : v >= min });
  const t = {
    mmap_hybrid_median_us: le(hyb?.median_us, TARGETS.mmapHybridMedianUs),
    mmap_hybrid_p99_us: le(hyb?.p99_us, TARGETS.mmapHybridP99Us),
    tcp_over_mmap_hybrid_median: ge(ratio(tcp, hyb), TARGETS.tcpOverMmapHybridMedian),
    mmap_hybrid_contended_p99_us: le(cont?.p99_us, TARGETS.contendedP99Us),
    mmap_hybrid_contended_p999_us: le(cont?.p999_us, TARGETS.contendedP999Us),
    channel_cost_over_floor_median: le(channelCostOverFloor() ?? undefined, TARGETS.channelCostOverFloor),
  };
  const mets = Object.values(t).map((x) => x.met);
  return { checks: t, all_met: mets.includes(null) ? null : mets.every(Boolean) };
}

/** Targets as they appear in the JSON: one entry per check, plus `all_met`. */
function flatTargets(): Record<string, Target | boolean | null> {
  const t = targets();
  return { ...t.checks, all_met: t.all_met };
}

// ---- output ----

const COLUMNS = ['channel', 'payload B', 'procs', 'median µs', 'p90 µs', 'p99 µs', 'p99.9 µs', 'max µs', 'mean µs', 'calls/s', 'foreign cores'];

function table(title: string, list: ChannelResult[]): string {
  const t = new Table({ head: COLUMNS, style: { head: [], border: [] } });
  for (const c of list) {
    t.push([c.name, c.payload_bytes, c.processes, c.median_us, c.p90_us, c.p99_us, c.p999_us, c.max_us, c.mean_us, c.rtt_per_s.toLocaleString('en-US'), String(c.foreign_cores)]);
  }
  return `${title}\n${t.toString()}\n`;
}

interface Meta {
  readonly cpus: number;
  readonly cpu_model: string;
  readonly timer_overhead_us: number;
  readonly wake_latency_us_at_start: WakeLatency;
  readonly wake_latency_us_at_end: WakeLatency;
  readonly loadavg_at_start: number[];
  readonly elapsed_s: number;
}

function breakdownTable(b: Breakdown): string {
  const t = new Table({ head: ['side', 'step', 'ns'], style: { head: [], border: [] } });
  for (const [sideName, s] of [['client', b.client], ['service', b.service]] as const) {
    for (const [step, ns] of Object.entries(s.steps_ns)) t.push([sideName, step, ns]);
    t.push([sideName, 'total', s.total_ns]);
    for (const [step, ns] of Object.entries(s.alternatives_ns)) t.push([sideName, `(not on the path) ${step}`, ns]);
  }
  return `Breakdown (${b.method})\n${t.toString()}\n`;
}

function printReadable(meta: Meta, breakdown: Breakdown): void {
  const out: string[] = [];
  out.push(
    `Data plane: ${DRIVER} of ${DEFAULT_PAYLOAD} B, ${calls} timed calls per channel after ${warmup} warm-up calls; ` +
      `${meta.cpus} × ${meta.cpu_model}; load average at start ${meta.loadavg_at_start.join(' ')}; run took ${meta.elapsed_s} s.\n` +
      `Timer overhead ${meta.timer_overhead_us} µs per sample (included). Thread wake-up latency median/p99: ` +
      `${meta.wake_latency_us_at_start.median_us}/${meta.wake_latency_us_at_start.p99_us} µs at start, ` +
      `${meta.wake_latency_us_at_end.median_us}/${meta.wake_latency_us_at_end.p99_us} µs at end. ` +
      `'foreign cores': CPU other processes used during the timed loop.\n`,
  );
  out.push(table('Channels', channels));
  if (sweep.length > 0) {
    const bySize = [...channels.filter((c) => ['direct', 'mmap-hybrid', 'tcp'].includes(c.name)), ...sweep].sort(
      (a, b) => a.payload_bytes - b.payload_bytes || a.name.localeCompare(b.name),
    );
    out.push(table('Payload sweep', bySize));
  }
  const rt = new Table({ head: ['ratio', 'value'], style: { head: [], border: [] } });
  for (const [k, v] of Object.entries(ratios())) rt.push([k, typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)]);
  out.push(`Ratios\n${rt.toString()}\n`);
  const tt = new Table({ head: ['target', 'value', 'wanted', 'met'], style: { head: [], border: [] } });
  const tg = targets();
  for (const [k, x] of Object.entries(tg.checks)) {
    tt.push([k, String(x.value), x.target, x.met === null ? 'n/a' : x.met ? 'yes' : 'NO']);
  }
  out.push(`Targets (all met: ${String(tg.all_met)})\n${tt.toString()}\n`);
  out.push(breakdownTable(breakdown));
  process.stdout.write(out.join('\n'));
}

// ---- run ----

async function main(): Promise<void> {
  const started = performance.now();
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? 'unknown',
    loadavg_at_start: loadavg().map((x) => Math.round(x * 100) / 100),
    driver: DRIVER,
    payload_bytes: DEFAULT_PAYLOAD,
    region_capacity: CAPACITY,
    calls,
    warmup,
    spin_micros: spinMicros ?? DEFAULT_SPIN_MICROS,
    timer_overhead_us: timerOverheadUs(),
    quick: values.quick,
    wake_latency_us_at_start: await wakeLatency(),
  };
  const haveShm = shmAvailable();
  if (!haveShm) log(`mmap-* channels skipped: ${shmUnavailableReason()}`);

  if (want('direct')) record(channels, direct(DEFAULT_PAYLOAD));
  for (const s of ['spin', 'block', 'hybrid'] as const) {
    if (want(`sab-${s}`)) record(channels, await sab(s));
  }
  if (haveShm) {
    if (want('floor')) record(channels, await floor());
    for (const s of ['spin', 'block', 'hybrid'] as const) {
      if (want(`mmap-${s}`)) record(channels, await mmap(s, DEFAULT_PAYLOAD, `mmap-${s}`));
    }
    if (want('mmap-hybrid-contended')) record(channels, await mmap('hybrid', DEFAULT_PAYLOAD, 'mmap-hybrid-contended', true));
    if (want('memfd-hybrid')) record(channels, await memfd('hybrid', DEFAULT_PAYLOAD, 'memfd-hybrid'));
  }
  if (want('uds')) record(channels, await socket('uds', DEFAULT_PAYLOAD));
  if (want('tcp')) record(channels, await socket('tcp', DEFAULT_PAYLOAD));

  if (sweepOn) {
    // 64 B is the main run above (same message); the sweep adds the larger payloads.
    for (const p of SWEEP_PAYLOADS.filter((x) => x !== DEFAULT_PAYLOAD)) {
      if (want('direct')) record(sweep, direct(p));
      if (haveShm && want('mmap-hybrid')) record(sweep, await mmap('hybrid', p, 'mmap-hybrid'));
      if (want('tcp')) record(sweep, await socket('tcp', p));
    }
  }

  log('breakdown: micro-benchmarks of each call step');
  const breakdown = measureBreakdown();
  const elapsed = Math.round((performance.now() - started) / 100) / 10;
  log(`done in ${elapsed} s`);
  const fullMeta = { ...meta, wake_latency_us_at_end: await wakeLatency(), elapsed_s: elapsed };
  if (values.json) {
    const strip = ({ elapsed_s: _e, ...c }: ChannelResult): Omit<ChannelResult, 'elapsed_s'> => c;
    process.stdout.write(
      JSON.stringify({
        channels: channels.map(strip),
        sweep: sweep.map(strip),
        ratios: ratios(),
        targets: flatTargets(),
        breakdown,
        meta: fullMeta,
      }) + '\n',
    );
  } else {
    printReadable(fullMeta, breakdown);
  }
}

const cleanup = (): void => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

try {
  await main();
} catch (e) {
  log(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
} finally {
  cleanup();
}
