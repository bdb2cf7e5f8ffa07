/**
 * Bench child: the guest side of the `uds` / `tcp` baselines. Connects
 * (Nagle off), runs warmup + timed request/response round trips of the bench
 * message with the socket-server.ts framing, one request in flight, and prints
 * one JSON line: the latency summary.
 *
 *   node bench/dataplane/socket-client.js '{"kind":"tcp","port":P,"payload":64,"calls":N,"warmup":W}'
 */
import { connect, type Socket } from 'node:net';
import { expectedCrc, makePayload, summarize, selfCpuMs, timerOverheadUs } from './common.js';

export interface SocketClientConfig {
  readonly kind: 'uds' | 'tcp';
  readonly path?: string;
  readonly port?: number;
  readonly payload: number;
  readonly calls: number;
  readonly warmup: number;
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as SocketClientConfig;
const payload = makePayload(cfg.payload);
const want = expectedCrc(payload);
const request = Buffer.alloc(4 + cfg.payload);
request.writeUInt32LE(cfg.payload, 0);
request.set(payload, 4);

const sock: Socket = cfg.kind === 'uds' ? connect({ path: cfg.path! }) : connect({ port: cfg.port!, host: '127.0.0.1', noDelay: true });
sock.setNoDelay(true);

const total = cfg.warmup + cfg.calls;
const samples = new Float64Array(cfg.calls);
const reply = Buffer.alloc(4 + 64);
let have = 0;
let done = 0;
let bad = 0;
let t0 = 0;
let start = 0;

function send(): void {
  if (done === cfg.warmup) start = performance.now();
  t0 = performance.now();
  sock.write(request);
}

sock.on('connect', send);
sock.on('data', (chunk: Buffer) => {
  let off = 0;
  while (off < chunk.length) {
    if (have < 4) {
      const n = Math.min(4 - have, chunk.length - off);
      chunk.copy(reply, have, off, off + n);
      have += n;
      off += n;
      if (have < 4) return;
    }
    const len = reply.readUInt32LE(0);
    if (len > 64) throw new Error(`reply of ${len} bytes`);
    const n = Math.min(4 + len - have, chunk.length - off);
    chunk.copy(reply, have, off, off + n);
    have += n;
    off += n;
    if (have < 4 + len) return;
    const t1 = performance.now();
    if (done >= cfg.warmup) samples[done - cfg.warmup] = t1 - t0;
    if (len !== 4 || reply.readUInt32LE(4) !== want) bad++;
    have = 0;
    done++;
    if (done === total) {
      const elapsed = t1 - start;
      sock.end();
      if (bad > 0) throw new Error(`${bad} wrong results`);
      process.stdout.write(JSON.stringify({ ...summarize(samples, elapsed), timer_overhead_us: timerOverheadUs(20_000), cpu_ms: selfCpuMs() }) + '\n');
      return;
    }
    send();
  }
});
sock.on('error', (e) => {
  throw e;
});
