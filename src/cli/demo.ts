/**
 * `vfun demo`: two tenants, a few apps, every phase of every instance, a
 * hardware nack with software fallback, a quota nack, a refused credential,
 * a bad input answered with an error code, then a summary of the journal.
 */
import { hostname } from 'node:os';
import { toSnapshot, type VFunDConfig } from '../actors/config.js';
import { loadConfig } from '../daemon/config.js';
import { SabRuntime } from '../actors/runtime-sab.js';
import { VFunD } from '../actors/vfund.js';
import { ServiceError } from '../dataplane/client.js';
import type { SabRegion } from '../dataplane/region.js';
import { isFdRegion, type FdRegion } from '../dataplane/region-fds.js';
import { FileRuntime, type HostRegion } from '../actors/runtime-files.js';
import type { RuntimeFactory } from '../actors/runtime.js';
import { connect } from '../guest/connect.js';
import { shmAvailable, shmUnavailableReason } from '../native/shm.js';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyChain } from '../events/chain.js';
import type { Envelope } from '../events/envelope.js';
import { hostOfJournalUrl, openJournal } from '../events/adapters/open-journal.js';
import { OUTBOX_FILE } from '../events/adapters/pending.js';
import { OffloadRefused, VFunction, type OpenOptions } from '../guest/vfunction.js';
import { randomIds, systemClock } from '../util/system.js';
import { ValidationError } from '../errors.js';
import { profileNames } from '../../simulator/profile.js';
import { openWitnesses, startCheckpointing, type CheckpointOptions } from '../daemon/checkpointing.js';
import { gpuDemo, gpuDemoConfig, hardwareOf, timedCalls } from './demo-gpu.js';

export const DEMO_SECRETS = { acme: 'acme-demo-secret-0001', globex: 'globex-demo-secret-0002' } as const;

/**
 * The demo's configuration; with a device profile, crc32 and sha256 run on a simulated FPGA following
 * it; with `webgpu`, the GPU functions (matmul, saxpy, crc32-batch) run on the host's WebGPU adapter.
 */
export function demoConfig(deviceProfile?: string, webgpu = false): VFunDConfig {
  const base = demoBaseConfig(deviceProfile);
  if (!webgpu) return base;
  return { ...base, ...gpuDemoConfig(base) };
}

function demoBaseConfig(deviceProfile?: string): VFunDConfig {
  return {
    tenants: [
      { id: 'acme', secret: DEMO_SECRETS.acme, maxInstances: 3 },
      { id: 'globex', secret: DEMO_SECRETS.globex, maxInstances: 2 },
    ],
    functions: [
      { name: 'factorial', kinds: { sw: { slots: 4, driver: 'factorial' } } },
      { name: 'fibonacci', kinds: { sw: { slots: 4, driver: 'fibonacci' } } },
      {
        name: 'crc32',
        kinds: { ...(deviceProfile && { hw: { device: 'fpga0' } }), sw: { slots: 4, driver: 'crc32' } },
      },
      {
        name: 'sha256',
        kinds: {
          hw: deviceProfile ? { device: 'fpga0', slots: 1 } : { slots: 1, driver: 'sim-fpga:sha256' },
          sw: { slots: 4, driver: 'sha256' },
        },
      },
    ],
    regionCapacity: 64 * 1024,
    ...(deviceProfile && { devices: [{ name: 'fpga0', profile: deviceProfile }] }),
  };
}

export type DemoBackend = 'auto' | 'files' | 'sab';

export interface DemoOptions {
  readonly journal: string;
  /** Data root: region files go under <root>/vmcli. */
  readonly root: string;
  /** `sim:<profile>`: hardware functions run on a simulated FPGA following that profile; `webgpu`: GPU functions on the host's adapter too. */
  readonly device?: string;
  /** files: regions are mapped files and one guest runs as its own process; sab: in-process. auto: files if the addon is built. */
  readonly backend: DemoBackend;
  readonly out: (line: string) => void;
  /** Checkpoints: policy and witnesses (docs/proofs.md). */
  readonly checkpoint?: CheckpointOptions;
}

export interface DemoResult {
  readonly eventsThisRun: number;
  readonly chainOk: boolean;
}

const u32le = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};
const u64 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true).toString();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const { out } = opts;
  const witnesses = await openWitnesses(opts.checkpoint?.witnesses);
  // vFunD's name on every event: the journal URL's host= when it gives one, else this machine's.
  const host = (await hostOfJournalUrl(opts.journal)) ?? hostname();
  const { journal, repaired } = await openJournal(opts.journal, { host, outbox: join(opts.root, ...OUTBOX_FILE) });
  if (repaired) out(`journal: cut a torn last record (${repaired.truncatedBytes} bytes): ${repaired.reason}`);
  const seqBefore = (await journal.head())?.seq ?? 0;
  let deviceProfile: string | undefined;
  const webgpu = opts.device === 'webgpu';
  if (opts.device !== undefined && !webgpu) {
    if (!opts.device.startsWith('sim:')) throw new ValidationError('--device', `'${opts.device}' is neither webgpu nor sim:<profile>; profiles: ${profileNames().join(', ')}`);
    deviceProfile = opts.device.slice(4);
    if (!profileNames().includes(deviceProfile)) {
      throw new ValidationError('--device', `no device profile '${deviceProfile}'; profiles: ${profileNames().join(', ')}`);
    }
  }
  let backend = opts.backend;
  if (backend === 'auto') {
    backend = shmAvailable() ? 'files' : 'sab';
    if (backend === 'sab') out(`note: ${shmUnavailableReason()}; running in-process (SharedArrayBuffer regions)`);
  }
  const files = backend === 'files' ? await FileRuntime.create({ root: opts.root }) : null;
  if (files && files.leftovers.length > 0) out(`removed ${files.leftovers.length} region(s) left by a vFunD that did not stop: ${files.leftovers.join(', ')}`);
  const runtime: RuntimeFactory<HostRegion | SabRegion> = files ?? new SabRuntime();
  const vfund = await VFunD.start<HostRegion | SabRegion>({
    journal,
    runtime,
    config: toSnapshot(await loadConfig(demoConfig(deviceProfile, webgpu))),
    host,
    clock: systemClock,
    ids: randomIds,
  });
  const checkpointer = await startCheckpointing(
    vfund,
    { root: opts.root, host, journal, clock: systemClock, log: out, ...(opts.checkpoint !== undefined && { options: opts.checkpoint }) },
    witnesses,
  );
  out(`vFunD started on ${host}, journal ${journal.url}`);
  out(backend === 'files' ? `regions: sealed shared memory named under ${opts.root}/vmcli, each service in a process of its own` : 'regions: in-process SharedArrayBuffers');
  const open = async (tenant: keyof typeof DEMO_SECRETS, app: string, fn: string, kind: 'hw' | 'sw') => {
    const label = `${tenant}/${app}/${fn}`;
    const o: OpenOptions = {
      tenant,
      credential: DEMO_SECRETS[tenant],
      app,
      fn,
      kind,
      onPhase: (phase, detail) => out(`  [${label}] ${phase}${detail ? ` (${detail})` : ''}`),
    };
    try {
      const vf = await VFunction.open(vfund, connect, o);
      out(`  [${label}] instance ${vf.instance} runs in ${vf.kind === 'hw' ? hardwareOf(vfund.snapshot, fn) : 'software'}${vf.fellBack ? ', after a hardware nack: software fallback' : ''}`);
      return vf;
    } catch (err) {
      if (err instanceof OffloadRefused) {
        out(`  [${label}] refused at ${err.phase}: ${err.reason} (${err.detail})`);
        return null;
      }
      throw err;
    }
  };

  out('\n-- acme offloads the paper functions in software');
  const fact = await open('acme', 'billing', 'factorial', 'sw');
  const fib = await open('acme', 'billing', 'fibonacci', 'sw');
  out(`  factorial(51) = ${u64(fact!.call(u32le(51)))}  (51! mod 2^64: unsigned 64-bit wrap-around)`);
  out(`  factorial(20) = ${u64(fact!.call(u32le(20)))}`);
  badInput(fact!, out);
  out(`  fibonacci(93) = ${u64(fib!.call(u32le(93)))}  (largest Fibonacci number below 2^64)`);
  const region = fact ? vfund.region(fact.instance) : undefined;
  if (region && isFdRegion(region)) {
    // A guest in another process, with the instance's sealed memory as its fds 3 and 4.
    const guest = fileURLToPath(new URL('../../examples/guest.js', import.meta.url));
    const g = await runGuest(guest, ['fd:3,4', '51', '--calls', '100000'], [region.dataoutFd, region.datainFd]);
    out(`  a guest process (pid ${g.pid}) mapped the sealed region of ${fact!.instance}: ${g.calls} calls of factorial(51) = ${g.result}, median round trip ${g.median_us} µs`);
  }

  out('\n-- acme takes the only hardware sha256 slot');
  const payload = new TextEncoder().encode('VirtFun: offloading through shared memory');
  const shaHw = await open('acme', 'ingest', 'sha256', 'hw');
  out(`  sha256 (hw) = ${hex(shaHw!.call(payload))}`);

  out('\n-- globex asks for hardware sha256: no capacity, falls back to software');
  const shaSw = await open('globex', 'search', 'sha256', 'hw');
  out(`  sha256 (sw) = ${hex(shaSw!.call(payload))}`);
  const crc = await open('globex', 'search', 'crc32', 'sw');
  out(`  crc32 = 0x${new DataView(crc!.call(payload).buffer).getUint32(0, true).toString(16)}`);

  out('\n-- globex is at its quota of 2 instances');
  await open('globex', 'reports', 'factorial', 'sw');

  out('\n-- a request with a wrong secret');
  const refused = await vfund.negotiate({ tenant: 'globex', credential: 'not-the-secret', app: 'x', fn: 'crc32', kind: 'sw' });
  out(`  negotiation ${refused.ok ? 'acked?!' : `nacked: ${refused.reason} (${refused.detail})`}`);

  out('\n-- release');
  for (const vf of [fact, fib, shaHw, shaSw, crc]) {
    if (!vf) continue;
    const stats = await vf.release();
    const errs = Object.entries(stats.errors).map(([k, n]) => `${k}=${n}`).join(' ');
    out(`  ${vf.instance}: released after ${stats.calls} call${stats.calls === 1 ? '' : 's'}${errs ? `, errors ${errs}` : ''}`);
  }
  if (deviceProfile) await sideBySide(open, out);
  if (webgpu) await gpuDemo(vfund, open, out);
  await vfund.stop('demo finished');
  await checkpointer.stop();
  await files?.close();
  out('vFunD stopped');

  const all: Envelope[] = [];
  for await (const e of journal.read()) all.push(e);
  const thisRun = all.filter((e) => e.seq > seqBefore);
  const report = await verifyChain(all);
  await journal.close();

  out('\n-- journal summary (this run)');
  out(`  events this run: ${thisRun.length}, in the journal: ${all.length}`);
  out(`  by type:   ${countBy(thisRun, (e) => e.type)}`);
  out(`  by tenant: ${countBy(thisRun, (e) => e.tenant ?? '(host)')}`);
  out(report.ok ? `  hash chain verified: ${report.count} events` : `  hash chain BROKEN at seq ${report.firstBad.seq}: ${report.firstBad.reason}`);
  return { eventsThisRun: thisRun.length, chainOk: report.ok };
}

/** The same function in hardware (simulated FPGA) and in software, on the same payload. */
async function sideBySide(open: (t: 'acme', app: string, fn: string, kind: 'hw' | 'sw') => Promise<VFunction | null>, out: (l: string) => void): Promise<void> {
  out('\n-- crc32 on the simulated FPGA and in software, side by side (4 KiB payload, 2000 calls each)');
  const payload = new Uint8Array(4096).map((_, i) => (i * 31) & 0xff);
  const results: string[] = [];
  for (const kind of ['hw', 'sw'] as const) {
    const vf = await open('acme', `lab-${kind}`, 'crc32', kind);
    if (!vf) continue;
    const { result: r, medianUs } = timedCalls(vf, payload, 2000);
    results.push(hex(r));
    out(`  ${kind}: crc32 = ${hex(r)}, median ${medianUs.toFixed(1)} µs per call`);
    await vf.release();
  }
  out(`  same result in both: ${results.length === 2 && results[0] === results[1] ? 'yes' : 'NO'}`);
}

/** A call with a malformed argument gets `error` with a code; the service keeps serving. */
function badInput(vf: VFunction, out: (l: string) => void): void {
  try {
    vf.call(new Uint8Array(3));
    out('  a 3-byte argument was accepted?!');
  } catch (err) {
    if (!(err instanceof ServiceError)) throw err;
    out(`  factorial of a 3-byte argument: error ${err.message}`);
  }
  out(`  factorial(10) = ${u64(vf.call(u32le(10)))}  (the service goes on)`);
}

function countBy(items: readonly Envelope[], key: (e: Envelope) => string): string {
  const m = new Map<string, number>();
  for (const e of items) m.set(key(e), (m.get(key(e)) ?? 0) + 1);
  return [...m].map(([k, n]) => `${k}=${n}`).join(' ');
}

/** Run the example guest with `fds` as its descriptors 3, 4, ...; its one JSON line. */
function runGuest(file: string, args: string[], fds: number[]): Promise<{ pid: number; result: string; calls: number; median_us: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe', ...fds] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve(JSON.parse(out) as { pid: number; result: string; calls: number; median_us: number });
      else reject(new Error(`the example guest exited with code ${code}: ${err.trim()}`));
    });
  });
}
