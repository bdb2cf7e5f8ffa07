/**
 * Wake-up latency probe: how long a thread asleep in the kernel (Atomics.wait,
 * a futex) takes to run again after another thread wakes it while a core is
 * free. Hybrid waiting only reaches its spinning steady state when the peer's
 * spin budget covers this latency, and on virtual machines it drifts (an idle
 * vCPU halted by the hypervisor wakes much later than a polling one), so the
 * benchmark records it next to its results.
 */
import { Worker } from 'node:worker_threads';
import { summarize } from './common.js';

const SLEEPER = `
const { workerData } = require('node:worker_threads');
const i32 = new Int32Array(workerData);
let last = 0;
for (;;) {
  Atomics.store(i32, 32, 1);            // about to sleep
  Atomics.wait(i32, 0, last);
  Atomics.store(i32, 32, 0);
  const v = Atomics.load(i32, 0);
  if (v === -1) break;
  if (v !== last) { last = v; Atomics.store(i32, 16, v); } // ack
}
`;

export interface WakeLatency {
  readonly median_us: number;
  readonly p90_us: number;
  readonly p99_us: number;
}

/** `n` wake-ups of a sleeping worker thread, each after it has slept `settleUs`; the waker spins for the ack. */
export async function wakeLatency(n = 2000, settleUs = 50): Promise<WakeLatency> {
  const sab = new SharedArrayBuffer(256);
  const i32 = new Int32Array(sab);
  const worker = new Worker(SLEEPER, { eval: true, workerData: sab });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.once('online', resolve);
      worker.once('error', reject);
    });
    const samples = new Float64Array(n);
    const settle = settleUs / 1000;
    for (let i = 1; i <= n; i++) {
      const limit = performance.now() + 1000;
      while (Atomics.load(i32, 32) !== 1) {
        if (performance.now() > limit) throw new Error('wake probe: the worker does not sleep');
      }
      const ts = performance.now();
      while (performance.now() - ts < settle); // let it get into the kernel
      const t0 = performance.now();
      Atomics.store(i32, 0, i);
      Atomics.notify(i32, 0);
      while (Atomics.load(i32, 16) !== i) {
        if (performance.now() > limit + 1000) throw new Error('wake probe: the worker does not answer');
      }
      samples[i - 1] = performance.now() - t0;
    }
    const s = summarize(samples, 1);
    return { median_us: s.median_us, p90_us: s.p90_us, p99_us: s.p99_us };
  } finally {
    Atomics.store(i32, 0, -1);
    Atomics.notify(i32, 0);
    await worker.terminate();
  }
}
