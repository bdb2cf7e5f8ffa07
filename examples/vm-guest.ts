#!/usr/bin/env node
/**
 * The TypeScript guest library inside a VM: all four phases of factorial,
 * fibonacci and CRC32 through vFunD on the host, with the control channel
 * over the virtio-serial port `vfun.control` and the computation through
 * the VM's slot of the ivshmem window (PCI BAR 2). Runs in a guest booted by
 * `vfun vm run --with-node`:
 *
 *   vfun vm run --with-node --guest-cmd 'node /opt/virtfun/dist/examples/vm-guest.js --calls 200'
 *
 * The tenant and its secret are read from /etc/vfun/tenant and
 * /etc/vfun/secret (where `vfun vm run` puts them). Prints one JSON object
 * per line, as the C guest (clients/c) does: `{"vfun":"phase"|"check"|
 * "bench"|"error"|"done",…}`; exits 0 only when every result was right and
 * vFunD counted every call.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { connect } from '../src/guest/connect.js';
import { ControlClient } from '../src/guest/control-client.js';
import { findIvshmemWindow, findVirtioPort } from '../src/guest/vm-devices.js';
import { VFunction } from '../src/guest/vfunction.js';

/** Node's start and the guest library's loading (static imports run before this line). */
const readyMs = process.uptime() * 1000;

const out = (what: string, fields: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ vfun: what, ...fields })}\n`);
};
const r2 = (x: number): number => Math.round(x * 100) / 100;

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '200' },
    app: { type: 'string', default: 'vmnode' },
  },
});
const calls = Number(values.calls);
if (!Number.isInteger(calls) || calls < 1 || calls > 10_000_000) {
  console.error(`vm-guest: --calls '${values.calls}' must be an integer in 1..10000000`);
  process.exit(2);
}

const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};
const u64Of = (r: Uint8Array): bigint | null => (r.byteLength === 8 ? new DataView(r.buffer, r.byteOffset, 8).getBigUint64(0, true) : null);
const u32Of = (r: Uint8Array): number | null => (r.byteLength === 4 ? new DataView(r.buffer, r.byteOffset, 4).getUint32(0, true) : null);

interface Case {
  readonly fn: string;
  /** How many calls. */
  readonly n: number;
  readonly arg: Uint8Array;
  /** What a right result reads as, and the result read the same way. */
  readonly want: bigint | number;
  readonly read: (r: Uint8Array) => bigint | number | null;
  /** Time each call and print a bench line. */
  readonly bench?: boolean;
}

const cases: Case[] = [
  { fn: 'factorial', n: calls, arg: u32(51), want: 18284192274659147776n, read: u64Of, bench: true }, // 51! mod 2^64
  { fn: 'fibonacci', n: 1, arg: u32(93), want: 12200160415121876738n, read: u64Of },
  { fn: 'crc32', n: 1, arg: new TextEncoder().encode('123456789'), want: 0xcbf43926, read: u32Of },
];

let failures = 0;
const fail = (fn: string, phase: string, err: unknown): void => {
  failures++;
  out('error', { fn, phase, detail: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
};

const tenant = readFileSync('/etc/vfun/tenant', 'utf8').trim();
const credential = readFileSync('/etc/vfun/secret', 'utf8').trim();
const port = findVirtioPort();
const window = findIvshmemWindow();
const control = await ControlClient.connect(port, { window });
out('start', { lang: 'node', node: process.version, port, window, ready_ms: r2(readyMs) });

for (const c of cases) {
  const before = failures;
  let answered = 0;
  let t = performance.now();
  const lap = (): number => {
    const now = performance.now();
    const ms = now - t;
    t = now;
    return r2(ms);
  };
  let vf: VFunction | undefined;
  try {
    vf = await VFunction.open(control, connect, {
      tenant,
      credential,
      app: values.app!,
      fn: c.fn,
      kind: 'sw',
      onPhase: (phase, detail) => {
        if (phase === 'activation') out('phase', { fn: c.fn, phase: 'negotiate', ok: true, instance: detail, ms: lap() });
      },
    });
    out('phase', { fn: c.fn, phase: 'activate', ok: true, instance: vf.instance, kind: vf.kind, capacity: vf.capacity, ms: lap() });
  } catch (err) {
    fail(c.fn, 'open', err);
  }
  if (vf !== undefined) {
    const times = c.bench ? new Float64Array(c.n) : null;
    let wrong = 0;
    try {
      for (let i = 0; i < c.n; i++) {
        const s = performance.now();
        const r = vf.call(c.arg);
        if (times) times[i] = (performance.now() - s) * 1000;
        answered++;
        const got = c.read(r);
        if (got !== c.want && wrong++ === 0) {
          fail(c.fn, 'call', `call ${i}: ${r.byteLength} bytes ${Buffer.from(r).toString('hex')}, expected ${c.fn} = ${c.want}`);
        }
      }
    } catch (err) {
      fail(c.fn, 'call', err);
    }
    const computeMs = lap();
    if (wrong > 1) failures += wrong - 1;
    if (times && answered === c.n) {
      times.sort();
      const q = (p: number): number => r2(times[Math.max(0, Math.ceil(p * c.n) - 1)]!);
      let sum = 0;
      for (const x of times) sum += x;
      out('bench', {
        path: 'ivshmem',
        via: window,
        lang: 'node',
        fn: c.fn,
        n: c.n,
        median_us: r2(c.n % 2 ? times[c.n >> 1]! : (times[c.n / 2 - 1]! + times[c.n / 2]!) / 2),
        p90_us: q(0.9),
        p99_us: q(0.99),
        p999_us: q(0.999),
        min_us: r2(times[0]!),
        mean_us: r2(sum / c.n),
        max_us: r2(times[c.n - 1]!),
        compute_ms: computeMs,
      });
    }
    try {
      const stats = await vf.release();
      out('phase', { fn: c.fn, phase: 'release', ok: true, instance: vf.instance, calls: stats.calls, ms: lap() });
      if (stats.calls !== answered) fail(c.fn, 'release', `vFunD counted ${stats.calls} calls, this guest made ${answered}`);
    } catch (err) {
      fail(c.fn, 'release', err);
    }
  }
  out('check', { fn: c.fn, calls: answered, ok: failures === before });
}

control.close();
out('done', { ok: failures === 0, failures, uptime_ms: r2(process.uptime() * 1000) });
process.exitCode = failures === 0 ? 0 : 1;
