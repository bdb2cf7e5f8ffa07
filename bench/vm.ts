/**
 * VM benchmark (issue: a guest in a real VM offloads through ivshmem): one
 * guest in a QEMU VM, in one run, calls factorial(51)
 *
 *   ivshmem         through its slot of the ivshmem window (shared memory;
 *                   both sides poll, docs/region-format.md §13.2)
 *   virtio-serial   over the `vfun.net` virtio-serial port to a host process
 *                   serving the same driver (the "network" path of a VM)
 *
 * and reports median and p99 round trips for both and their ratio, labelled
 * with the accelerator: TCG is software emulation and its timings are not
 * representative of hardware.
 *
 *   node dist/bench/vm.js [--calls N] [--accel auto|kvm|tcg] [--json]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runGuestVm, type Accel } from '../src/vm/run.js';
import { guardVms } from '../src/vm/signals.js';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    calls: { type: 'string', default: '20000' },
    accel: { type: 'string', default: 'auto' },
  },
});
const calls = Number(values.calls);
if (!Number.isInteger(calls) || calls < 10 || calls > 10_000_000) throw new Error(`--calls: '${values.calls}' must be an integer in 10..10000000`);
if (!['auto', 'kvm', 'tcg'].includes(values.accel!)) throw new Error(`--accel: '${values.accel}' must be auto, kvm or tcg`);

const root = await mkdtemp(join(tmpdir(), 'vfun-bench-vm-'));
const say = (l: string) => (values.json ? process.stderr.write(l + '\n') : console.log(l));
// Interrupted (Ctrl-C, SIGTERM, SIGHUP) or exiting: no QEMU is left running.
guardVms();
try {
  const r = await runGuestVm({
    root,
    journal: `file:${join(root, 'journal.ndjson')}`,
    accel: values.accel as Accel,
    guestCmd: `vfun-guest --bench ${calls}`,
    timeoutMs: 30 * 60_000,
    log: (l) => say(`vfun: ${l}`),
    onConsole: (l) => say(`guest| ${l}`),
  });
  const bench = Object.fromEntries(r.reports.filter((x) => x.vfun === 'bench').map((x) => [String(x.path), x])) as Record<string, { median_us: number; p90_us: number; p99_us: number; p999_us: number; n: number }>;
  const shm = bench.ivshmem;
  const net = bench['virtio-serial'];
  if (!shm || !net || r.exitStatus !== 0) throw new Error(`the guest did not report both benchmarks (exit status ${r.exitStatus}): ${JSON.stringify(r.reports)}`);
  const out = {
    accel: r.accel,
    representative_of_hardware: r.accel === 'kvm',
    ...(r.fallback !== undefined && { fallback: r.fallback }),
    calls,
    ivshmem_median_us: shm.median_us,
    ivshmem_p90_us: shm.p90_us,
    ivshmem_p99_us: shm.p99_us,
    ivshmem_p999_us: shm.p999_us,
    virtio_serial_median_us: net.median_us,
    virtio_serial_p90_us: net.p90_us,
    virtio_serial_p99_us: net.p99_us,
    virtio_serial_p999_us: net.p999_us,
    median_ratio: +(net.median_us / shm.median_us).toFixed(2),
    p99_ratio: +(net.p99_us / shm.p99_us).toFixed(2),
    boot_ms: Math.round(r.bootMs),
  };
  if (values.json) console.log(JSON.stringify(out));
  else {
    console.log(`\nguest in a VM under ${r.accel.toUpperCase()}${r.accel === 'tcg' ? ' (software emulation: not representative of hardware)' : ''}, ${calls} calls of factorial(51) each way`);
    console.log(`  ivshmem        median ${shm.median_us} µs  p90 ${shm.p90_us} µs  p99 ${shm.p99_us} µs  p99.9 ${shm.p999_us} µs`);
    console.log(`  virtio-serial  median ${net.median_us} µs  p90 ${net.p90_us} µs  p99 ${net.p99_us} µs  p99.9 ${net.p999_us} µs`);
    console.log(`  virtio-serial / ivshmem: ${out.median_ratio}x at the median, ${out.p99_ratio}x at p99`);
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
