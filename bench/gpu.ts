/**
 * GPU benchmark: every GPU function of the registry (src/gpu/kernels) over a
 * sweep of input sizes, three ways:
 *
 *   twin     the software twin called in-process (the guest's fallback)
 *   direct   the prepared GPU kernel called directly (no channel, no vFunD)
 *   full     the GPU through the full VirtFun path: a vFunD with its journal in a
 *            temporary folder, this process as the guest calling `webgpu:<fn>` in
 *            hardware through the shared-memory channel, its service in a process of
 *            its own (gpu-host.ts)
 *
 * with median and p99 per cell, the adapter named (a software adapter, lavapipe,
 * is labelled: its figures say nothing about a real GPU), and per function the
 * crossover: the smallest size from which the GPU is faster than the twin at
 * every larger size of the sweep, or "none in the sweep". Each cell warms up
 * (gpu-cell.ts: 10 calls and 20 ms, whichever comes later) and then runs until
 * `--reps` calls or about 2 s; p99 is null below 100 calls. A function's sweep
 * stops after the first size whose twin or GPU call passes 250 ms.
 *
 *   node dist/bench/gpu.js [--json] [--reps N] [--sizes 64,4096,...] [--quick]
 *
 * --json: one JSON object on stdout, progress on stderr. See docs/benchmarks.md.
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { GPU_KERNELS } from '../src/gpu/kernels/index.js';
import { gpuInfo } from '../src/gpu/info.js';
import { sampleInput } from '../src/gpu/samples.js';
import { requestAdapter } from '../src/gpu/webgpu.js';
import type { GpuKernel } from '../src/gpu/kernel.js';
import type { VFunction } from '../src/guest/vfunction.js';
import { startGpuHost, type GpuHost } from './gpu-host.js';
import { cellOf, P99_MIN_SAMPLES, WARMUP_CALLS, WARMUP_MAX_MS, WARMUP_MS, warmedUp, type Cell } from './gpu-cell.js';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    reps: { type: 'string' },
    sizes: { type: 'string' },
    quick: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write('usage: bench:gpu [--json] [--reps N] [--sizes 64,4096,...] [--quick]\n');
  process.exit(0);
}

const SIZES = values.sizes?.split(',').map(Number) ?? (values.quick ? [64, 16 << 10, 256 << 10] : [64, 4 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20]);
const REPS = Number(values.reps ?? (values.quick ? 10 : 100));
const CELL_BUDGET_MS = values.quick ? 500 : 2000;
const STOP_AFTER_MS = 250;
const log = (s: string): void => void process.stderr.write(s + '\n');

export type { Cell } from './gpu-cell.js';
export type FullPathCell = Cell | { readonly pending: string };

export interface Row {
  readonly fn: string;
  readonly bytes_in: number;
  readonly bytes_out: number;
  readonly ops: number;
  readonly twin: Cell;
  readonly direct: Cell;
  readonly full: FullPathCell;
}

const r2 = (x: number): number => Math.round(x * 100) / 100;

/** Time `call` until REPS samples or the cell's budget, after a warm-up (gpu-cell.ts). */
async function timeCell(call: () => unknown): Promise<Cell> {
  const warm = performance.now();
  for (let calls = 0; !warmedUp(calls, performance.now() - warm); calls++) await call();
  const ns: number[] = [];
  const start = performance.now();
  while (ns.length < REPS && (ns.length < 5 || performance.now() - start < CELL_BUDGET_MS)) {
    const t0 = performance.now();
    await call();
    ns.push((performance.now() - t0) * 1000);
  }
  return cellOf(ns);
}

/** The GPU through the full VirtFun path: a guest's call of a hardware instance; checked against the twin once. */
async function fullPath(vf: VFunction | string, k: GpuKernel, input: Uint8Array, want: Uint8Array): Promise<FullPathCell> {
  if (typeof vf === 'string') return { pending: vf };
  if (input.byteLength > vf.capacity) return { pending: `input beyond the region capacity (${vf.capacity} B)` };
  const wrong = k.twin.compare(input, want, vf.call(input));
  if (wrong !== null) throw new Error(`${k.twin.name}: the full path disagrees with the twin: ${wrong}`);
  return timeCell(() => vf.call(input));
}

/** The smallest size from which `faster` holds at every larger size of the sweep, or null. */
export function crossover(rows: readonly Row[], faster: (r: Row) => boolean): number | null {
  let at: number | null = null;
  for (let i = rows.length - 1; i >= 0 && faster(rows[i]!); i--) at = rows[i]!.bytes_in;
  return at;
}

async function benchKernel(device: GPUDevice, host: GpuHost | string, fn: string, k: GpuKernel): Promise<Row[] | string> {
  const sample = sampleInput(fn);
  if (sample === undefined) return 'no sample input for its format (src/gpu/samples.ts)';
  const inputs = SIZES.map((b) => sample(b)).filter((i) => i.byteLength <= k.twin.input.maxBytes);
  const prepared = await k.prepare(device, Math.max(...inputs.map((i) => i.byteLength)));
  const rows: Row[] = [];
  const vf = typeof host === 'string' ? host : await host.open(fn).catch((e: unknown) => `the full path could not open ${fn}: ${e instanceof Error ? e.message : String(e)}`);
  try {
    for (const input of inputs) {
      const out = new Uint8Array(k.twin.outputBytes(input));
      const want = new Uint8Array(out.byteLength);
      const twin = await timeCell(() => k.twin.compute(input, want));
      const direct = await timeCell(() => prepared.run(input, out));
      const wrong = k.twin.compare(input, want, out);
      if (wrong !== null) throw new Error(`${fn}: the GPU disagrees with the twin: ${wrong}`);
      const w = k.twin.work(input);
      const full = await fullPath(vf, k, input, want);
      const row: Row = { fn, bytes_in: w.bytesIn, bytes_out: w.bytesOut, ops: w.ops, twin, direct, full };
      rows.push(row);
      log(`${fn} ${w.bytesIn} B: twin ${twin.median_us} µs, direct ${direct.median_us} µs, full ${'median_us' in full ? `${full.median_us} µs` : full.pending}`);
      if (Math.max(twin.median_us, direct.median_us) > STOP_AFTER_MS * 1000) break;
    }
  } finally {
    prepared.destroy();
    if (typeof vf !== 'string') await vf.release();
  }
  return rows;
}

async function main(): Promise<void> {
  const started = performance.now();
  const info = await gpuInfo();
  if (!info.ok) {
    log(`no WebGPU adapter: ${info.reason}; remedy: ${info.remedy}`);
    if (values.json) process.stdout.write(JSON.stringify({ adapter: null, reason: info.reason, remedy: info.remedy }) + '\n');
    process.exitCode = 1;
    return;
  }
  const a = await requestAdapter();
  if ('error' in a) throw new Error(a.error);
  const device = await a.adapter.requestDevice();
  const rows: Row[] = [];
  const skipped: { fn: string; reason: string }[] = [];
  const largest = Math.max(...Object.entries(GPU_KERNELS).flatMap(([fn, k]) => SIZES.map((b) => sampleInput(fn)?.(b)).filter((i) => i !== undefined).map((i) => Math.max(i.byteLength, k.twin.outputBytes(i)))));
  const host = await startGpuHost(largest).catch((e: unknown) => `no vFunD for the full path: ${e instanceof Error ? e.message : String(e)}`);
  try {
    for (const [fn, k] of Object.entries(GPU_KERNELS)) {
      const r = await benchKernel(device, host, fn, k);
      if (typeof r === 'string') skipped.push({ fn, reason: r });
      else rows.push(...r);
    }
  } finally {
    device.destroy();
    if (typeof host !== 'string') await host.stop();
  }
  const fns = [...new Set(rows.map((r) => r.fn))];
  const none = 'none in the sweep';
  const crossovers = Object.fromEntries(
    fns.map((fn) => {
      const mine = rows.filter((r) => r.fn === fn);
      const full = mine.every((r) => 'median_us' in r.full) ? (crossover(mine, (r) => 'median_us' in r.full && r.full.median_us < r.twin.median_us) ?? none) : 'pending';
      return [fn, { direct_bytes_in: crossover(mine, (r) => r.direct.median_us < r.twin.median_us) ?? none, full_bytes_in: full }];
    }),
  );
  const meta = {
    adapter: info.identity,
    software_label: info.softwareLabel,
    dawn_load_ms: r2(info.loadMs),
    adapter_probe_ms: r2(info.probeMs),
    full_path: rows.some((r) => 'pending' in r.full) ? `partly not measured: ${[...new Set(rows.flatMap((r) => ('pending' in r.full ? [r.full.pending] : [])))].join('; ')}` : 'measured: a guest in this process, the service in its own process, vFunD with a file journal',
    reps: REPS,
    warmup: `${WARMUP_CALLS} calls and ${WARMUP_MS} ms, whichever comes later (at most ${WARMUP_MAX_MS} ms), untimed, before each cell`,
    p99: `needs >= ${P99_MIN_SAMPLES} samples: null in a cell with fewer (n)`,
    sizes: SIZES,
    node: process.version,
    cpus: cpus().length,
    loadavg: loadavg().map(r2),
    elapsed_s: Math.round((performance.now() - started) / 100) / 10,
  };
  if (values.json) {
    process.stdout.write(JSON.stringify({ rows, crossovers, skipped, meta }) + '\n');
    return;
  }
  process.stdout.write(`adapter: ${info.identity.vendor} ${info.identity.description}${info.softwareLabel !== null ? `\n  ${info.softwareLabel}` : ''}\n`);
  const t = new Table({ head: ['fn', 'bytes in', 'twin med/p99 µs', 'direct med/p99 µs', 'full med/p99 µs'] });
  const cell = (c: FullPathCell): string => ('pending' in c ? 'pending' : `${c.median_us} / ${c.p99_us ?? '-'}`);
  for (const r of rows) t.push([r.fn, r.bytes_in, cell(r.twin), cell(r.direct), cell(r.full)]);
  process.stdout.write(t.toString() + '\n');
  for (const [fn, c] of Object.entries(crossovers)) process.stdout.write(`crossover ${fn}: direct ${c.direct_bytes_in}, full path ${c.full_bytes_in}\n`);
  for (const s of skipped) process.stdout.write(`not measured: ${s.fn}: ${s.reason}\n`);
}

try {
  await main();
} catch (e) {
  log(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
}
