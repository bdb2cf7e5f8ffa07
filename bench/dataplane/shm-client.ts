/**
 * Bench child: the guest side of an `mmap-*` channel, in its own OS process.
 * Maps the region files, or the sealed memfds it inherited (connect(), as a guest does), runs warmup + timed
 * calls of the bench message with the given wait strategy and prints one JSON
 * line: the latency summary.
 *
 *   node bench/dataplane/shm-client.js '{"dataoutPath":..,"datainPath":..,"capacity":..,"strategy":"hybrid","payload":64,"calls":N,"warmup":W}'
 */
import { connect } from '../../src/guest/connect.js';
import { isWaitStrategy, type WaitStrategy } from '../../src/dataplane/wait.js';
import { expectedCrc, makePayload, readU32, selfCpuMs, timeCalls, timerOverheadUs } from './common.js';

export interface ShmClientConfig {
  /** Region files, or (`fds: true`) the two sealed memfds inherited as fds 3 and 4. */
  readonly dataoutPath?: string;
  readonly datainPath?: string;
  readonly fds?: boolean;
  readonly capacity: number;
  readonly strategy: WaitStrategy;
  readonly spinMicros?: number;
  readonly payload: number;
  readonly calls: number;
  readonly warmup: number;
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as ShmClientConfig;
if (!isWaitStrategy(cfg.strategy)) throw new Error(`bad strategy ${String(cfg.strategy)}`);

const options = { strategy: cfg.strategy, ...(cfg.spinMicros !== undefined && { spinMicros: cfg.spinMicros }) };
const client =
  cfg.fds === true
    ? connect({ capacity: cfg.capacity, dataoutFd: 3, datainFd: 4, received: true }, options)
    : connect({ capacity: cfg.capacity, dataoutPath: cfg.dataoutPath!, datainPath: cfg.datainPath! }, options);
const input = makePayload(cfg.payload);
const want = expectedCrc(input);
const out = new Uint8Array(4);
let bad = 0;
const summary = timeCalls(cfg.calls, cfg.warmup, () => {
  client.callInto(input, out);
  if (readU32(out) !== want) bad++;
});
client.close();
if (bad > 0) throw new Error(`${bad} wrong results`);
process.stdout.write(JSON.stringify({ ...summary, timer_overhead_us: timerOverheadUs(20_000), cpu_ms: selfCpuMs() }) + '\n');
