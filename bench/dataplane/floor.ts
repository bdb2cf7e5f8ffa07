/**
 * Bench child: one side of the `floor` channel, the least a cross-process call can cost here: two
 * OS processes spinning on one 32-bit word of a mapped file (the project's addon maps it, as it
 * maps a region), nothing validated, no payload, no clock read but the sample's own. The client
 * writes an odd number and spins until the echo writes it + 1; the echo spins until the word is
 * odd and new. What mmap-hybrid costs beyond `direct` is compared with this in the same run.
 *
 *   node bench/dataplane/floor.js '{"path":..,"role":"echo"}'                       prints {"ready":true}, echoes until stopped
 *   node bench/dataplane/floor.js '{"path":..,"role":"client","calls":N,"warmup":W}' prints the latency summary and stops the echo
 */
import { requireShm } from '../../src/native/shm.js';
import { FLOOR_FILE_BYTES, selfCpuMs, timeCalls, timerOverheadUs, type FloorConfig } from './common.js';

const cfg = JSON.parse(process.argv[2] ?? '{}') as FloorConfig;
const shm = requireShm();
const word = new Int32Array(shm.open(cfg.path, FLOOR_FILE_BYTES, { writable: true }), 0, 2);

if (cfg.role === 'echo') {
  process.stdout.write(JSON.stringify({ ready: true }) + '\n');
  let seen = 0;
  for (;;) {
    const v = Atomics.load(word, 0);
    if ((v & 1) === 1 && v !== seen) {
      seen = v;
      Atomics.store(word, 0, v + 1);
    } else if (Atomics.load(word, 1) === 1) break;
  }
  process.stdout.write(JSON.stringify({ cpu_ms: selfCpuMs() }) + '\n');
} else {
  let next = 1;
  const summary = timeCalls(cfg.calls ?? 0, cfg.warmup ?? 0, () => {
    const ping = next;
    Atomics.store(word, 0, ping);
    while (Atomics.load(word, 0) !== ping + 1);
    next = ping + 2;
  });
  Atomics.store(word, 1, 1);
  process.stdout.write(JSON.stringify({ ...summary, timer_overhead_us: timerOverheadUs(20_000), cpu_ms: selfCpuMs() }) + '\n');
}
