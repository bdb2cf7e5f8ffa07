#!/usr/bin/env node
/**
 * An example guest application, run as its own OS process: it maps the region
 * vFunD activated for it and calls the function through shared memory.
 *
 *   node dist/examples/guest.js <region-dir | fd:D,I> <u32 | text> [--calls N] [--strategy spin|block|hybrid]
 *
 * `<region-dir>` is a directory holding region files (`dataout`, `datain`);
 * `fd:3,4` names the two sealed memfds of one of vFunD's instances, inherited
 * from the parent process that received them over the control socket. A number is sent as a
 * u32 little-endian (factorial, fibonacci); anything else as UTF-8 bytes
 * (crc32, sha256). Prints the result of the last call (u64 for 8 bytes, hex
 * otherwise) and the calls' median round trip.
 */
import { parseArgs } from 'node:util';
import { connectDir, connectFds } from '../src/guest/connect.js';
import { isWaitStrategy } from '../src/dataplane/wait.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { calls: { type: 'string', default: '1' }, strategy: { type: 'string', default: 'hybrid' } },
});
const [dir, arg] = positionals;
const calls = Number(values.calls);
if (!dir || arg === undefined || !Number.isInteger(calls) || calls < 1 || !isWaitStrategy(values.strategy)) {
  console.error('usage: guest <region-dir | fd:D,I> <u32 | text> [--calls N>=1] [--strategy spin|block|hybrid]');
  process.exit(2);
}

let input: Uint8Array;
if (/^\d+$/.test(arg)) {
  input = new Uint8Array(4);
  new DataView(input.buffer).setUint32(0, Number(arg), true);
} else {
  input = new TextEncoder().encode(arg);
}

// `fd:3,4`: the two sealed memfds of an instance of vFunD, inherited from the process that received them
// (ControlClient.fetchRegion); otherwise a directory holding region files (dataout, datain).
const fds = /^fd:(\d+),(\d+)$/.exec(dir);
const client = fds ? connectFds(Number(fds[1]), Number(fds[2]), { strategy: values.strategy }) : connectDir(dir, { strategy: values.strategy });
const times = new Float64Array(calls);
let result: Uint8Array = new Uint8Array(0);
for (let i = 0; i < calls; i++) {
  const t0 = performance.now();
  result = client.call(input);
  times[i] = performance.now() - t0;
}
client.close();
times.sort();
const shown = result.byteLength === 8 ? new DataView(result.buffer, result.byteOffset).getBigUint64(0, true).toString() : Buffer.from(result).toString('hex');
console.log(JSON.stringify({ pid: process.pid, result: shown, calls, median_us: Number(((times[calls >> 1] ?? 0) * 1000).toFixed(2)) }));
