#!/usr/bin/env node
/**
 * The TypeScript guest library inside a VM (experiment; see bench/vm-node-guest.ts):
 * all four phases of factorial through vFunD on the host, with the control
 * channel over the virtio-serial port `vfun.control` (a character device, not
 * a Unix socket) and the computation through the ivshmem window (PCI BAR 2,
 * `resource2` in sysfs) mapped with the native addon.
 *
 *   node dist/examples/vm-guest.js --control /dev/vport1p1 [--window /sys/bus/pci/devices/…/resource2]
 *                                  [--calls N] [--strategy spin|block|hybrid] [--app NAME]
 *
 * Prints one JSON object per line, each starting with {"vfun":…}; exits 0
 * only when every call returned factorial(51) mod 2^64 and the release
 * counted them.
 *
 * ControlClient.connect only takes a Unix socket path (net.connect). A
 * virtio-serial port is a character device, which net.Socket({ fd }) refuses
 * (libuv guesses it as a FILE). The adapter here is a Duplex over one fd
 * (the port can be opened only once) with fs read and write streams, handed
 * to ControlClient's constructor, which is private in TypeScript only.
 */
const t0 = performance.now();
const nodeUptimeAtStartMs = process.uptime() * 1000;

import { closeSync, constants as fsc, existsSync, openSync, readdirSync, readFileSync, readSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { parseArgs } from 'node:util';

const out = (what: string, fields: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify({ vfun: what, ...fields }) + '\n');
};
const ms = (x: number): number => Math.round(x * 100) / 100;

const { values } = parseArgs({
  options: {
    control: { type: 'string' },
    window: { type: 'string' },
    calls: { type: 'string', default: '1000' },
    strategy: { type: 'string', default: 'hybrid' },
    app: { type: 'string', default: 'vmnode' },
    // library: connect() from src/guest as it is; nofutex: the same mapping and ChannelClient, futex calls replaced (see below)
    connect: { type: 'string', default: 'nofutex' },
  },
});
const calls = Number(values.calls);
if (values.control === undefined || !Number.isInteger(calls) || calls < 1) {
  console.error('usage: vm-guest --control /dev/vportNpM [--window resource2] [--calls N>=1] [--strategy spin|block|hybrid]');
  process.exit(2);
}

// Import the guest library now, timed (static imports would be evaluated before t0).
const tImport = performance.now();
const { ControlClient } = await import('../src/guest/control-client.js');
const { VFunction } = await import('../src/guest/vfunction.js');
const { connect } = await import('../src/guest/connect.js');
const { requireShm } = await import('../src/native/shm.js');
const { isWaitStrategy } = await import('../src/dataplane/wait.js');
const { mapWindowRegion } = await import('../src/dataplane/region-window.js');
const { ChannelClient } = await import('../src/dataplane/client.js');
const importMs = performance.now() - tImport;
const tAddon = performance.now();
requireShm();
const addonMs = performance.now() - tAddon;
out('node-start', { node_uptime_at_main_ms: ms(nodeUptimeAtStartMs), import_guest_library_ms: ms(importMs), load_addon_ms: ms(addonMs), node: process.version });

if (!isWaitStrategy(values.strategy)) {
  console.error(`--strategy: '${values.strategy}' is not spin, block or hybrid`);
  process.exit(2);
}
const strategy = values.strategy;
if (values.connect !== 'library' && values.connect !== 'nofutex') {
  console.error(`--connect: '${values.connect}' is not library or nofutex`);
  process.exit(2);
}

/**
 * The guest maps the BAR through sysfs (`resource2`): a VM_IO | VM_PFNMAP
 * mapping with no struct page behind it, where every futex call fails with
 * EFAULT ("futex(FUTEX_WAKE): Bad address"). connect() keeps futexWake as the
 * window's notify and futexWait inside its polling wait. `nofutex` maps the
 * window the same way (mapWindowRegion + ChannelClient, as connect() does)
 * with an addon whose futexWake does nothing (no futex crosses the VM
 * boundary anyway) and whose futexWait only sleeps one slice (pollingWaitOps
 * then looks at the word again).
 */
type Shm = ReturnType<typeof requireShm>;
function noFutexShm(base: Shm): Shm {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  return {
    ...base,
    futexWake: () => 0,
    futexWait: (ab, byteOffset, expected, timeoutMs) => {
      if (new Int32Array(ab, byteOffset, 1)[0] !== expected) return 1;
      Atomics.wait(sleeper, 0, 0, Number.isFinite(timeoutMs) && timeoutMs >= 0 ? timeoutMs : 1);
      return 2;
    },
  };
}
type Region = Parameters<typeof connect>[0];
type Client = ReturnType<typeof connect>;
function connectRegion(region: Region): Client {
  if (values.connect === 'library') return connect(region, { strategy });
  const mapped = mapWindowRegion(region as Parameters<typeof mapWindowRegion>[0], 'client', noFutexShm(requireShm()));
  try {
    return new ChannelClient(mapped.areas, { strategy, onClose: () => mapped.unmap() });
  } catch (err) {
    mapped.unmap();
    throw err;
  }
}

/** The ivshmem device's BAR 2: vendor 1af4, device 1110 under /sys/bus/pci/devices. */
function findWindow(): string {
  const root = '/sys/bus/pci/devices';
  for (const dev of readdirSync(root)) {
    const read = (f: string): number => Number.parseInt(readFileSync(`${root}/${dev}/${f}`, 'latin1').trim(), 16);
    if (read('vendor') === 0x1af4 && read('device') === 0x1110 && existsSync(`${root}/${dev}/resource2`)) return `${root}/${dev}/resource2`;
  }
  throw new Error(`no ivshmem device (1af4:1110) under ${root}`);
}

/**
 * A Duplex over a character device. One fd (a virtio port opens once), opened
 * O_NONBLOCK and read and written synchronously, polling for input every
 * millisecond: a blocking read would sit in the libuv thread pool, and
 * process.exit() then hangs joining that thread.
 */
function charDeviceStream(path: string): { stream: Duplex; how: string } {
  let socketRefusal = '';
  // First, what a socket would need: net.Socket({ fd }), refused for anything but a pipe, TCP or TTY fd.
  const probe = openSync(path, fsc.O_RDWR | fsc.O_NONBLOCK);
  try {
    new Socket({ fd: probe, readable: true, writable: true }).destroy();
    socketRefusal = 'accepted';
  } catch (err) {
    socketRefusal = `refused: ${`${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`.trim()}`;
    closeSync(probe);
  }
  const fd = openSync(path, fsc.O_RDWR | fsc.O_NONBLOCK);
  const buf = Buffer.alloc(64 * 1024);
  let timer: NodeJS.Timeout | undefined;
  const again = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'EAGAIN';
  const stream = new Duplex({
    read() {
      if (timer !== undefined) return;
      const poll = (): void => {
        timer = undefined;
        let n: number;
        try {
          n = readSync(fd, buf, 0, buf.length, null);
        } catch (e) {
          if (again(e)) {
            timer = setTimeout(poll, 1);
            return;
          }
          this.destroy(e as Error);
          return;
        }
        if (n === 0) this.push(null);
        else if (this.push(Buffer.from(buf.subarray(0, n)))) timer = setTimeout(poll, 0);
      };
      poll();
    },
    write(chunk: Buffer, _enc, cb) {
      let off = 0;
      const step = (): void => {
        try {
          while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
          cb();
        } catch (e) {
          if (again(e)) setTimeout(step, 1);
          else cb(e as Error);
        }
      };
      step();
    },
    final(cb) {
      this.push(null);
      cb();
    },
    destroy(err, cb) {
      if (timer !== undefined) clearTimeout(timer);
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      cb(err);
    },
  });
  return { stream, how: `O_NONBLOCK fd, sync read/write, 1 ms read poll (net.Socket({ fd }) ${socketRefusal})` };
}

const tenant = readFileSync('/etc/vfun/tenant', 'utf8').trim();
const credential = readFileSync('/etc/vfun/secret', 'utf8').trim();
const window = values.window ?? findWindow();
const { stream, how } = charDeviceStream(values.control);
// The constructor is private in TypeScript only: connect() is the Unix-socket factory around it.
type ControlClientT = Awaited<ReturnType<typeof ControlClient.connect>>;
const control = new (ControlClient as unknown as new (s: Duplex, o: { window: string }) => ControlClientT)(stream, { window });
out('control', { port: values.control, window, adapter: how });

const want = 18284192274659147776n; // factorial(51) mod 2^64
const arg = new Uint8Array(4);
new DataView(arg.buffer).setUint32(0, 51, true);

const phases: Record<string, number> = {};
let last = performance.now();
const mark = (phase: string): void => {
  const now = performance.now();
  phases[phase] = ms(now - last);
  last = now;
};
let failures = 0;
let vf: Awaited<ReturnType<typeof VFunction.open>> | undefined;
const fail = (phase: string, err: unknown): void => {
  failures++;
  out('error', { phase, connect: values.connect, detail: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
};
try {
  last = performance.now();
  vf = await VFunction.open(control, connectRegion, {
    tenant,
    credential,
    app: values.app,
    fn: 'factorial',
    kind: 'sw',
    onPhase: (phase, detail) => {
      // negotiation -> activation (negotiate answered) -> computation (activated + mapped)
      if (phase === 'activation') mark('negotiate_ms');
      if (phase === 'computation') mark('activate_and_map_ms');
      out('phase', { phase, detail });
    },
  });
  out('activated', { instance: vf.instance, kind: vf.kind, capacity: vf.capacity, connect: values.connect });
} catch (err) {
  fail('open', err);
}
let made = 0;
if (vf !== undefined) {
  const times = new Float64Array(calls);
  let bad = 0;
  const tc = performance.now();
  try {
    for (let i = 0; i < calls; i++) {
      const s = performance.now();
      const r = vf.call(arg);
      times[i] = performance.now() - s;
      made++;
      if (r.byteLength !== 8 || new DataView(r.buffer, r.byteOffset, 8).getBigUint64(0, true) !== want) {
        if (bad++ === 0) out('error', { phase: 'call', detail: `call ${i}: ${r.byteLength} bytes ${Buffer.from(r).toString('hex')}, expected factorial(51) = ${want}` });
      }
    }
  } catch (err) {
    fail(`call ${made}`, err);
  }
  const computeMs = performance.now() - tc;
  mark('compute_ms');
  failures += bad;
  if (made === calls) {
    times.sort();
    const n = calls;
    const pick = (q: number): number => times[Math.max(0, Math.ceil(q * n) - 1)]! * 1000;
    const median = (n % 2 ? times[n >> 1]! : (times[n / 2 - 1]! + times[n / 2]!) / 2) * 1000;
    let sum = 0;
    for (const t of times) sum += t;
    out('bench', {
      path: 'ivshmem',
      via: window,
      lang: 'node',
      connect: values.connect,
      strategy,
      n,
      wrong: bad,
      median_us: ms(median),
      p90_us: ms(pick(0.9)),
      p99_us: ms(pick(0.99)),
      p999_us: ms(pick(0.999)),
      min_us: ms(times[0]! * 1000),
      mean_us: ms((sum / n) * 1000),
      max_us: ms(times[n - 1]! * 1000),
      compute_total_ms: ms(computeMs),
    });
  }
  try {
    const stats = await vf.release();
    mark('release_ms');
    // A call that failed before it was sent is not counted by vFunD.
    if (made === calls && stats.calls !== calls) fail('release', `vFunD counted ${stats.calls} calls, this guest made ${calls}`);
    out('phase', { phase: 'released', calls: stats.calls, errors: stats.errors });
  } catch (err) {
    fail('release', err);
  }
}
control.close();
out('done', { ok: failures === 0, failures, phases, total_ms: ms(performance.now() - t0), node_uptime_ms: ms(process.uptime() * 1000) });
// A read on the port may still sit in the thread pool: exit without waiting for it.
process.exit(failures === 0 ? 0 : 1);
