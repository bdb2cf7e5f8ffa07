/**
 * The data plane across real OS processes, through mapped region files:
 * random call sequences from a guest process give what the driver gives;
 * an adversary process writing garbage into its dataout never hurts the
 * service nor other tenants' calls; a peer killed mid-call is an error, not a hang.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileRegion, type FileRegion } from '../../src/dataplane/region-files.js';
import { startService, type ServiceHandle } from '../../src/dataplane/service-host.js';
import { ERROR_NAMES, IN, OUT, packWord, Command, HEADER_BYTES, Status } from '../../src/dataplane/layout.js';
import { connect, connectDir } from '../../src/guest/connect.js';
import { VirtFunError } from '../../src/errors.js';
import { LineProcess } from '../support/line-process.js';
import { hex, reference, u32le } from './helpers.js';

const CAPACITY = 4096;
const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);

/** The status the service last wrote into a datain file (low 4 bits of the state word). */
async function datainStatus(path: string): Promise<number> {
  return (await readFile(path)).readInt32LE(IN.state) & 15;
}

/**
 * Kills `pid` with SIGKILL from another thread as soon as the service answers the next request
 * with BUSY in the datain file at `path` (the caller's thread is blocked in that call meanwhile).
 * Resolves true when it killed, false when the service answered without going BUSY first.
 */
function killWhenBusy(path: string, pid: number): Promise<boolean> {
  const before = readFileSync(path).readInt32LE(IN.state);
  const worker = new Worker(
    `const { parentPort, workerData: { path, pid, offset, before, busy } } = require('node:worker_threads');
     const fs = require('node:fs');
     const fd = fs.openSync(path, 'r');
     const word = Buffer.alloc(4);
     const nap = new Int32Array(new SharedArrayBuffer(4));
     for (;;) {
       fs.readSync(fd, word, 0, 4, offset);
       if (word.readInt32LE(0) !== before) break;
       Atomics.wait(nap, 0, 0, 1);
     }
     const isBusy = (word.readInt32LE(0) & 15) === busy;
     if (isBusy) process.kill(pid, 'SIGKILL');
     parentPort.postMessage(isBusy);`,
    { eval: true, workerData: { path, pid, offset: IN.state, before, busy: Status.BUSY } },
  );
  return new Promise((resolve, reject) => {
    worker.once('message', (killed: boolean) => resolve(killed));
    worker.once('error', reject);
  });
}

let root: string;
async function region(name: string): Promise<{ dir: string; region: FileRegion }> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  return { dir, region: createFileRegion({ dataout: join(dir, 'dataout'), datain: join(dir, 'datain') }, CAPACITY) };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vfun-xproc-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

type Op = readonly ['call', string] | readonly ['set', string] | readonly ['get'] | readonly ['rst'];
type Result = { ok: string } | { error: string } | { thrown: string };

const input = fc.oneof(
  fc.integer({ min: 0, max: 300 }).map(u32le),
  fc.uint8Array({ minLength: 0, maxLength: 8 }), // mostly the wrong size: BAD_INPUT
);
const op: fc.Arbitrary<readonly Op[]> = fc.oneof(
  input.map((b) => [['call', hex(b)] as const]),
  input.map((b) => [['set', hex(b)] as const, ['get'] as const]),
  fc.constant([['rst'] as const]),
  fc.constant([['get'] as const]),
);

/** What a well-behaved service must answer, from calling the driver directly. */
function expected(ops: readonly Op[], ref: (b: Uint8Array) => { ok: Uint8Array } | { error: number }, last: { v: string | null }): Result[] {
  const out: Result[] = [];
  let pending: string | null = null;
  for (const o of ops) {
    if (o[0] === 'set') {
      pending = o[1];
      out.push({ ok: '' });
    } else if (o[0] === 'call' || (o[0] === 'get' && pending !== null)) {
      const r = ref(new Uint8Array(Buffer.from(o[0] === 'call' ? o[1] : pending!, 'hex')));
      pending = null;
      last.v = 'ok' in r ? hex(r.ok) : null;
      out.push('ok' in r ? { ok: hex(r.ok) } : { error: ERROR_NAMES[r.error]! });
    } else if (o[0] === 'get') {
      out.push(last.v === null ? { error: 'NO_RESULT' } : { ok: last.v });
    } else {
      last.v = null;
      out.push({ ok: '' });
    }
  }
  return out;
}

describe('guest process <-> service through region files', () => {
  let good: { region: FileRegion; service: ServiceHandle; guest: LineProcess };
  let bad: { dir: string; region: FileRegion; service: ServiceHandle; adversary: LineProcess };
  const last = { v: null as string | null };
  const ref = reference('factorial', CAPACITY);
  const crc32 = reference('crc32', CAPACITY);

  beforeAll(async () => {
    const g = await region('good');
    const guest = new LineProcess(fixture('guest-proc.ts'), [g.dir]);
    good = { region: g.region, service: await startService({ region: g.region, driver: 'factorial' }), guest };
    await guest.ready;
    const b = await region('bad');
    const adversary = new LineProcess(fixture('hostile-proc.ts'), [b.region.dataoutPath]);
    bad = { ...b, service: await startService({ region: b.region, driver: 'crc32' }), adversary };
    await adversary.ready;
  });
  afterAll(async () => {
    await good?.guest.close();
    await bad?.adversary.close();
    await good?.service.stop();
    await bad?.service.stop();
  });

  test.prop([fc.array(op, { minLength: 1, maxLength: 30 }).map((a) => a.flat())], { numRuns: 40 })(
    'random set/get/rst/call sequences from another process match the driver',
    async (ops) => {
      const want = expected(ops, ref, last);
      const { results } = await good.guest.request<{ results: Result[] }>({ ops });
      expect(results).toEqual(want);
    },
  );

  const garbage = fc.array(
    fc.oneof(
      // raw bytes anywhere in dataout: header, request/len words, liveness line, payload
      fc.record({ offset: fc.integer({ min: 0, max: HEADER_BYTES + 64 }), hex: fc.uint8Array({ minLength: 1, maxLength: 96 }).map(hex) }),
      // a length past the capacity, then a SET with the right next seq or a jump
      fc.record({ offset: fc.constant(OUT.len), hex: fc.integer({ min: CAPACITY + 1, max: 0x7fffffff }).map((n) => hex(u32le(n))) }),
      // request words: unknown commands, seq jumps, replays of old words
      fc.record({ word: fc.tuple(fc.nat({ max: (1 << 28) - 1 }), fc.integer({ min: 0, max: 15 })).map(([s, c]) => packWord(s, c)) }),
      fc.record({ word: fc.integer() }),
    ),
    { minLength: 1, maxLength: 40 },
  );

  test.prop([garbage, fc.array(input, { minLength: 1, maxLength: 20 })], { numRuns: 30 })(
    'garbage written by an adversary process never hurts the service, nor calls going on elsewhere',
    async (writes, inputs) => {
      const ops = inputs.map((b) => ['call', hex(b)] as const);
      // The adversary writes while the good guest calls, concurrently, from two processes.
      const [, calls] = await Promise.all([bad.adversary.request({ writes }), good.guest.request<{ results: Result[] }>({ ops })]);
      expect(calls.results).toEqual(expected(ops, ref, last));
      // The attacked service is alive and serves a well-behaved client (after resync) correctly. The
      // service never read the header after start; the library does, so the tenant restores it first.
      await bad.adversary.request({ restoreHeader: true });
      const client = connect(bad.region, { timeoutMs: 10_000 });
      try {
        client.resync();
        const payload = new TextEncoder().encode('after the garbage');
        expect(client.call(payload)).toEqual((crc32(payload) as { ok: Uint8Array }).ok);
      } finally {
        client.close();
      }
      const stats = bad.service.stats();
      expect(stats.calls).toBeGreaterThan(0);
      const gone = await Promise.race([bad.service.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 0))]);
      expect(gone).toBe(false);
    },
  );

  it('counts every refused request by code', async () => {
    const before = bad.service.stats();
    const client = connect(bad.region);
    client.resync();
    const seq = client.seq;
    client.close();
    // An unknown command with the right next seq, then a seq jump.
    await bad.adversary.request({ writes: [{ offset: OUT.len, hex: hex(u32le(0)) }, { word: packWord(seq + 1, 9) }] });
    // The request word is one slot: the next write must wait until the service has answered this one.
    await expect.poll(() => bad.service.stats().calls).toBe(before.calls + 1);
    await bad.adversary.request({ writes: [{ word: packWord(seq + 100, Command.SET) }] });
    await expect.poll(() => bad.service.stats().calls).toBe(before.calls + 2);
    const after = bad.service.stats();
    expect(after.errors.BAD_COMMAND).toBe(before.errors.BAD_COMMAND + 1);
    expect(after.errors.BAD_SEQ).toBe(before.errors.BAD_SEQ + 1);
  });
});

describe('a peer killed mid-call', () => {
  it('the service host killed -9: the waiting guest gets CHANNEL_CLOSED, not a hang', async () => {
    const dir = join(root, 'svc-killed');
    await mkdir(dir);
    const host = new LineProcess(fixture('service-proc.ts'), [dir, 'slow']);
    const { pid } = await host.ready;
    const client = connectDir(dir, { timeoutMs: 20_000 });
    expect(hex(client.call(new Uint8Array([0, 7])))).toBe('0007');
    // The call below takes 2 s in the driver; the host dies as soon as it has started it.
    const killed = killWhenBusy(join(dir, 'datain'), pid);
    const t0 = performance.now();
    let err: unknown;
    try {
      client.call(new Uint8Array([200]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VirtFunError);
    expect((err as VirtFunError).code).toBe('CHANNEL_CLOSED');
    expect((err as Error).message).toContain(`service process ${pid} is gone`);
    expect(performance.now() - t0).toBeLessThan(20_000); // well before the call's own timeout
    expect(await killed).toBe(true);
    expect((await host.exited).signal).toBe('SIGKILL');
    client.close();
  });

  it('the guest killed -9 mid-call: the service finishes, then serves a new guest', async () => {
    const r = await region('guest-killed');
    const service = await startService({ region: r.region, driver: 'slow', driverModule: fixture('test-drivers.ts') });
    const guest = new LineProcess(fixture('guest-proc.ts'), [r.dir]);
    await guest.ready;
    void guest.request({ ops: [['call', hex(new Uint8Array([50, 1]))]] }).catch(() => undefined); // 500 ms in the driver
    // Killed once its call is in the service's hands (BUSY for 500 ms; a call already answered means that moment was missed).
    while ((await datainStatus(r.region.datainPath)) !== Status.BUSY && service.stats().calls === 0) await new Promise((res) => setTimeout(res, 1));
    guest.child.kill('SIGKILL');
    expect((await guest.exited).signal).toBe('SIGKILL');
    const next = connect(r.region, { timeoutMs: 10_000 });
    next.resync(); // waits for the dead guest's call to be answered
    expect(hex(next.call(new Uint8Array([0, 42])))).toBe('002a');
    next.close();
    expect((await service.stop()).calls).toBe(2);
  });
});
