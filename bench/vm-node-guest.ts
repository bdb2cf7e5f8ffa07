/**
 * C guest vs Node guest in the same VM: one boot of `vfun vm run --with-node`
 * (src/vm/run.ts) runs the static C client's benchmark (`vfun-guest --bench
 * N`: factorial(51) through the ivshmem window, and over the `vfun.net`
 * port) and then the TypeScript guest library (examples/vm-guest.ts: the four
 * phases of factorial with N timed calls, fibonacci and CRC32), and prints
 * the round trips side by side, labelled with the accelerator (TCG is
 * software emulation: not representative of hardware).
 *
 *   npm run build && node dist/bench/vm-node-guest.js [--calls N] [--accel auto|kvm|tcg] [--cache DIR] [--json]
 *
 * Progress on stderr; with --json one JSON object on stdout.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultCacheDir, runGuestVm, type Accel } from '../src/vm/run.js';
import { guardVms } from '../src/vm/signals.js';
import { NODE_GUEST_PROGRAM } from '../src/vm/node-files.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '2000' },
    accel: { type: 'string', default: 'auto' },
    cache: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const calls = Number(values.calls);
if (!Number.isInteger(calls) || calls < 10 || calls > 10_000_000) throw new Error(`--calls: '${values.calls}' must be an integer in 10..10000000`);
if (!['auto', 'kvm', 'tcg'].includes(values.accel!)) throw new Error(`--accel: '${values.accel}' must be auto, kvm or tcg`);

const t0 = performance.now();
const say = (l: string) => process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${l}\n`);
const root = await mkdtemp(join(tmpdir(), 'vfun-bench-vm-node-'));
// Interrupted (Ctrl-C, SIGTERM, SIGHUP) or exiting: no QEMU is left running.
guardVms();
try {
  // The initramfs is built between these two log lines.
  let collected = 0;
  let booting = 0;
  const r = await runGuestVm({
    root,
    journal: `file:${join(root, 'journal.ndjson')}`,
    cacheDir: values.cache ?? defaultCacheDir(),
    accel: values.accel as Accel,
    withNode: true,
    guestCmd: `vfun-guest --bench ${calls}; c=$?; node ${NODE_GUEST_PROGRAM} --calls ${calls} && exit $c`,
    timeoutMs: 30 * 60_000,
    log: (l) => {
      if (l.startsWith('with node:')) collected = performance.now();
      if (l.startsWith('booting ')) booting = performance.now();
      say(`vfun: ${l}`);
    },
    onConsole: (l) => say(`guest| ${l}`),
  });
  type Bench = { path: string; lang?: string; n: number; median_us: number; p90_us: number; p99_us: number; p999_us: number; max_us: number };
  const bench = r.reports.filter((x) => x.vfun === 'bench') as unknown as Bench[];
  const c = bench.find((b) => b.path === 'ivshmem' && b.lang === undefined);
  const net = bench.find((b) => b.path === 'virtio-serial');
  const node = bench.find((b) => b.path === 'ivshmem' && b.lang === 'node');
  const start = r.reports.find((x) => x.vfun === 'start') as { ready_ms?: number } | undefined;
  const done = r.reports.filter((x) => x.vfun === 'done');
  if (!c || !node || r.exitStatus !== 0) throw new Error(`the guest did not report both benchmarks (exit status ${r.exitStatus}): ${JSON.stringify(r.reports)}`);
  const pick = (b: Bench | undefined) => b && { median_us: b.median_us, p90_us: b.p90_us, p99_us: b.p99_us, p999_us: b.p999_us, max_us: b.max_us };
  const out = {
    accel: r.accel,
    representative_of_hardware: r.accel === 'kvm',
    ...(r.fallback !== undefined && { fallback: r.fallback }),
    calls,
    initramfs_build_ms: Math.round(booting - collected),
    boot_ms: Math.round(r.bootMs),
    vm_ms: Math.round(r.durationMs),
    node_ready_ms: start?.ready_ms,
    ok: done.length === 2 && done.every((d) => d.ok === true),
    c_ivshmem: pick(c),
    node_ivshmem: pick(node),
    c_virtio_serial: pick(net),
    node_over_c_median: +(node.median_us / c.median_us).toFixed(2),
    node_over_c_p99: +(node.p99_us / c.p99_us).toFixed(2),
  };
  if (values.json) console.log(JSON.stringify(out));
  else {
    console.log(`\nC and Node guests in one VM under ${r.accel.toUpperCase()}${r.accel === 'tcg' ? ' (software emulation: not representative of hardware)' : ''}, ${calls} calls of factorial(51) each`);
    const row = (label: string, b: Bench | undefined) =>
      b && console.log(`  ${label.padEnd(24)} median ${b.median_us} µs  p90 ${b.p90_us} µs  p99 ${b.p99_us} µs  p99.9 ${b.p999_us} µs`);
    row('C     ivshmem', c);
    row('Node  ivshmem', node);
    row('C     virtio-serial', net);
    console.log(`  Node / C: ${out.node_over_c_median}x at the median, ${out.node_over_c_p99}x at p99; Node ready ${start?.ready_ms} ms after exec; initramfs built in ${out.initramfs_build_ms} ms`);
  }
  if (!out.ok) process.exitCode = 1;
} finally {
  await rm(root, { recursive: true, force: true });
}
