/**
 * Child process of the experiments: one guest application. It opens its channel, warms up, says
 * {"ready":true}, and then either
 *
 *   measures  for each payload size, `calls` calls timed one by one (performance.now()), printed
 *             as {"size":S,"startNs":…,"endNs":…,"latencies_us":[…],"bad":0} (ns on the
 *             monotonic clock every process shares, so several guests' spans line up), or
 *   hammers   calls back to back until SIGUSR2, then prints {"hammered":N,"startNs":…,"endNs":…}
 *
 * and ends with {"done":true}. With `waitForGo` it waits for SIGUSR1 after saying ready (so N
 * guests start calling at once). Every answer is checked against the expected output (`bad`
 * counts the wrong ones). Channels:
 *
 *   shm     a region served by a service in the bench process (connect())
 *   tcp     a server process over TCP loopback (net-server.ts)
 *   daemon  a real vFunD: its tenant's control socket, negotiate, activate, compute, release
 *
 * It dies with its parent (spawn.ts).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { setImmediate as yieldNow } from 'node:timers/promises';
import { connect } from '../../guest/connect.js';
import { ControlClient } from '../../guest/control-client.js';
import { VFunction } from '../../guest/vfunction.js';
import { nowNs } from '../traces.js';
import { dieWithParent } from '../spawn.js';
import type { PayloadFn } from './options.js';
import { expectedOutput, makePayload, MAX_OUTPUT_BYTES } from './payload.js';
import { timeAsync, timeSync, type AsyncCall, type SyncCall, type TimedCalls } from './loop.js';
import { FRAME_HEADER_BYTES, REPLY_HEADER_BYTES } from './net-protocol.js';

/** Where the guest's calls go. */
export type GuestChannel =
  | { readonly kind: 'shm'; readonly region: { readonly capacity: number; readonly dataoutPath: string; readonly datainPath: string }; readonly spinMicros?: number }
  | { readonly kind: 'tcp'; readonly port: number }
  | { readonly kind: 'daemon'; readonly socket: string; readonly tenant: string; readonly secret: string; readonly app: string };

/** The guest's one argument (JSON). */
export interface GuestConfig {
  readonly channel: GuestChannel;
  readonly fn: PayloadFn;
  readonly seed: number;
  /** Measured sizes, in order (hammer: the first). */
  readonly sizes: readonly number[];
  readonly calls: number;
  readonly warmup: number;
  readonly waitForGo?: boolean;
  readonly hammer?: boolean;
}

/** One size's measured calls. */
export interface MeasuredLine {
  readonly size: number;
  readonly startNs: number;
  readonly endNs: number;
  readonly latencies_us: readonly number[];
  readonly bad: number;
}

/** A hammer's count of calls. */
export interface HammeredLine {
  readonly hammered: number;
  readonly startNs: number;
  readonly endNs: number;
  readonly bad: number;
}

/** How long a hammer calls before looking for SIGUSR2, ms. */
const HAMMER_SLICE_MS = 20;

/** An open channel: a synchronous or an asynchronous call, and how to close it (daemon: release the instance). */
type Channel = ({ readonly sync: SyncCall } | { readonly async: AsyncCall }) & { close(): Promise<void> | void };

dieWithParent();
let go: (() => void) | null = null;
const gone = new Promise<void>((r) => (go = r));
process.on('SIGUSR1', () => go?.());
let stop = false;
process.on('SIGUSR2', () => (stop = true));
const cfg = JSON.parse(process.argv[2] ?? '{}') as GuestConfig;
const emit = (line: object): void => void process.stdout.write(JSON.stringify(line) + '\n');

/** A TCP loopback channel to net-server.ts, one request in flight. */
async function tcpChannel(port: number): Promise<Channel> {
  const sock: Socket = netConnect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise<void>((res, rej) => {
    sock.once('connect', res);
    sock.once('error', rej);
  });
  const reply = Buffer.alloc(REPLY_HEADER_BYTES + MAX_OUTPUT_BYTES);
  let have = 0;
  let want = REPLY_HEADER_BYTES;
  let waiting: { out: Uint8Array; res: (n: number) => void; rej: (e: Error) => void } | null = null;
  sock.on('data', (chunk: Buffer) => {
    let off = 0;
    while (off < chunk.length) {
      const k = Math.min(want - have, chunk.length - off);
      chunk.copy(reply, have, off, off + k);
      have += k;
      off += k;
      if (have === REPLY_HEADER_BYTES && want === REPLY_HEADER_BYTES) want = REPLY_HEADER_BYTES + Math.min(reply.readUInt32LE(4), MAX_OUTPUT_BYTES);
      if (have < want) continue;
      const w = waiting;
      const n = want - REPLY_HEADER_BYTES;
      waiting = null;
      have = 0;
      want = REPLY_HEADER_BYTES;
      if (w === null) continue;
      if (reply.readUInt32LE(0) !== 0) w.rej(new Error(`server error status ${reply.readUInt32LE(0)}`));
      else {
        w.out.set(reply.subarray(REPLY_HEADER_BYTES, REPLY_HEADER_BYTES + n));
        w.res(n);
      }
    }
  });
  return {
    async: (input, out) =>
      new Promise<number>((res, rej) => {
        waiting = { out, res, rej };
        const header = Buffer.alloc(FRAME_HEADER_BYTES);
        header.writeUInt32LE(input.length, 0);
        sock.cork();
        sock.write(header);
        sock.write(input);
        sock.uncork();
      }),
    close: () => void sock.end(),
  };
}

/** Open the configured channel. */
async function open(ch: GuestChannel): Promise<Channel> {
  if (ch.kind === 'shm') {
    const client = connect(ch.region, { strategy: 'hybrid', ...(ch.spinMicros !== undefined && { spinMicros: ch.spinMicros }) });
    return { sync: (i, o) => client.callInto(i, o), close: () => client.close() };
  }
  if (ch.kind === 'tcp') return tcpChannel(ch.port);
  const control = await ControlClient.connect(ch.socket);
  const vf = await VFunction.open(control, (r) => connect(r), { tenant: ch.tenant, credential: ch.secret, app: ch.app, fn: cfg.fn, kind: 'sw' });
  return {
    sync: (i, o) => {
      const r = vf.call(i);
      o.set(r);
      return r.length;
    },
    close: async () => {
      await vf.release();
      control.close();
    },
  };
}

const channel = await open(cfg.channel);
const out = new Uint8Array(MAX_OUTPUT_BYTES);
const time = (input: Uint8Array, want: Uint8Array, calls: number): TimedCalls | Promise<TimedCalls> =>
  'sync' in channel ? timeSync(channel.sync, input, want, calls, out) : timeAsync(channel.async, input, want, calls, out);
const inputs = (cfg.hammer === true ? cfg.sizes.slice(0, 1) : cfg.sizes).map((s) => makePayload(s, cfg.seed));
const wants = inputs.map((i) => expectedOutput(cfg.fn, i));
for (const [k, input] of inputs.entries()) if (cfg.warmup > 0) await time(input, wants[k]!, cfg.warmup);
emit({ ready: true });
if (cfg.waitForGo === true) await gone;

if (cfg.hammer === true) {
  let calls = 0;
  let bad = 0;
  const startNs = nowNs();
  emit({ hammering: true });
  while (!stop) {
    // Back to back for a slice (a batch of timed calls costs nothing next to a large payload), then a look at the signal.
    const until = performance.now() + HAMMER_SLICE_MS;
    do {
      const t = await time(inputs[0]!, wants[0]!, 1);
      bad += t.bad;
      calls++;
    } while (performance.now() < until);
    await yieldNow();
  }
  emit({ hammered: calls, startNs, endNs: nowNs(), bad } satisfies HammeredLine);
} else {
  for (const [k, input] of inputs.entries()) {
    const t = await time(input, wants[k]!, cfg.calls);
    emit({ size: input.length, ...t } satisfies MeasuredLine);
  }
}
await channel.close();
emit({ done: true });
process.exit(0);
