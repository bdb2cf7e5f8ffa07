/**
 * Child process of `bench paper`: the application of one cell. It runs
 * `runs` timed runs of `iterations` invocations, each invocation computing
 * f(n) `reps` times, through one of:
 *
 *   direct  the driver called in this process (host-host, the native reference)
 *   shm     the mapped region of a service in the bench process (guest-host, and the FPGA column)
 *   tcp     a TCP loopback connection (Nagle off) to a server process running the same driver (guest-net)
 *
 * and prints one JSON line per run: {"instance":k,"run":r,"seconds":s,"result":"<u64>","calls":I}.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect } from '../guest/connect.js';
import type { WaitStrategy } from '../dataplane/wait.js';
import { createPaperDriver, encodeInput, INPUT_BYTES, OUTPUT_BYTES, readU64, type PaperFn } from './driver.js';
import { fullWarmupCalls, warmupCalls } from './instances.js';
import { GuestTraceWriter, nowNs, STATUS_DONE } from './traces.js';
import { dieWithParent } from './spawn.js';

export interface ChildInstance {
  readonly reps: number;
  readonly iterations: number;
  /** Guest-side trace file of this instance (binary, traces.ts). */
  readonly trace?: string;
}

export interface GuestChildConfig {
  readonly mode: 'direct' | 'shm' | 'tcp';
  readonly fn: PaperFn;
  readonly n: number;
  /** Run in order, each `runs` times. */
  readonly instances: readonly ChildInstance[];
  readonly runs: number;
  /** Driver name for `direct`. */
  readonly driver?: string;
  readonly region?: { capacity: number; dataoutPath: string; datainPath: string };
  readonly strategy?: WaitStrategy;
  readonly spinMicros?: number;
  readonly port?: number;
}

export interface RunLine {
  /** Index into the config's instances. */
  readonly instance: number;
  readonly run: number;
  readonly seconds: number;
  readonly result: string;
  readonly calls: number;
}

/** Response frame of the TCP server: [status u32 (0 = ok), result u64]. */
export const TCP_REPLY_BYTES = 12;

dieWithParent();
const cfg = JSON.parse(process.argv[2] ?? '{}') as GuestChildConfig;
const out = new Uint8Array(OUTPUT_BYTES);


function emit(line: RunLine): void {
  process.stdout.write(JSON.stringify(line) + '\n');
}

function syncRuns(call: (inp: Uint8Array) => void): void {
  for (const [k, inst] of cfg.instances.entries()) {
    const input = encodeInput(cfg.n, inst.reps);
    const warmInput = encodeInput(cfg.n, Math.min(inst.reps, 100));
    const trace = inst.trace === undefined ? null : new GuestTraceWriter(inst.trace);
    for (let i = 0, w = warmupCalls(inst.iterations); i < w; i++) call(warmInput);
    for (let i = 0, w = fullWarmupCalls(inst.iterations); i < w; i++) call(input);
    for (let r = 0; r < cfg.runs; r++) {
      const I = inst.iterations;
      const t0 = performance.now();
      if (trace === null) {
        for (let i = 0; i < I; i++) call(input);
      } else {
        // One clock read per call: each call's get is the next one's set (what lies between is
        // the loop's own step, a few ns).
        let set = nowNs();
        for (let i = 0; i < I; i++) {
          call(input);
          const get = nowNs();
          trace.record(set, get, INPUT_BYTES, OUTPUT_BYTES, STATUS_DONE);
          set = get;
        }
      }
      const seconds = (performance.now() - t0) / 1000;
      emit({ instance: k, run: r, seconds, result: readU64(out).toString(), calls: I });
    }
    trace?.close();
  }
}

async function tcpRuns(port: number): Promise<void> {
  const sock: Socket = netConnect({ port, host: '127.0.0.1', noDelay: true });
  sock.setNoDelay(true);
  await new Promise<void>((res, rej) => {
    sock.once('connect', res);
    sock.once('error', rej);
  });
  const reply = Buffer.alloc(TCP_REPLY_BYTES);
  let have = 0;
  let onReply: (() => void) | null = null;
  sock.on('data', (chunk: Buffer) => {
    let off = 0;
    while (off < chunk.length) {
      const k = Math.min(TCP_REPLY_BYTES - have, chunk.length - off);
      chunk.copy(reply, have, off, off + k);
      have += k;
      off += k;
      if (have === TCP_REPLY_BYTES) {
        have = 0;
        if (reply.readUInt32LE(0) !== 0) throw new Error(`server error status ${reply.readUInt32LE(0)}`);
        out.set(reply.subarray(4, 12));
        const f = onReply;
        onReply = null;
        f?.();
      }
    }
  });
  // One request in flight: send, wait for the reply, repeat `count` times.
  const loop = (inp: Uint8Array, count: number, trace: GuestTraceWriter | null): Promise<void> =>
    new Promise<void>((res) => {
      if (count === 0) return res();
      let left = count;
      let set = 0;
      const send = (): void => {
        onReply = done;
        if (trace !== null) set = nowNs();
        sock.write(inp);
      };
      const done = (): void => {
        if (trace !== null) trace.record(set, nowNs(), INPUT_BYTES, OUTPUT_BYTES, STATUS_DONE);
        if (--left === 0) res();
        else send();
      };
      send();
    });
  for (const [k, inst] of cfg.instances.entries()) {
    const input = encodeInput(cfg.n, inst.reps);
    const trace = inst.trace === undefined ? null : new GuestTraceWriter(inst.trace);
    await loop(encodeInput(cfg.n, Math.min(inst.reps, 100)), warmupCalls(inst.iterations), null);
    await loop(input, fullWarmupCalls(inst.iterations), null);
    for (let r = 0; r < cfg.runs; r++) {
      const t0 = performance.now();
      await loop(input, inst.iterations, trace);
      emit({ instance: k, run: r, seconds: (performance.now() - t0) / 1000, result: readU64(out).toString(), calls: inst.iterations });
    }
    trace?.close();
  }
  sock.end();
}

if (cfg.mode === 'direct') {
  const driver = createPaperDriver(cfg.driver ?? `paper-${cfg.fn}`);
  await driver.init();
  syncRuns((inp) => void driver.call(inp, out));
  await driver.exit();
} else if (cfg.mode === 'shm') {
  if (cfg.region === undefined) throw new Error('shm mode needs a region');
  const client = connect(cfg.region, { strategy: cfg.strategy ?? 'hybrid', timeoutMs: 600_000, ...(cfg.spinMicros !== undefined && { spinMicros: cfg.spinMicros }) });
  syncRuns((inp) => void client.callInto(inp, out));
  client.close();
} else {
  if (cfg.port === undefined) throw new Error('tcp mode needs a port');
  await tcpRuns(cfg.port);
}
process.exit(0);
