/**
 * The async client over mapped region files, the service in another OS
 * process (futexWaitAsync on libuv's pool, woken by the service's futex
 * wake): mixed sync/async sequences match the synchronous model, timers run
 * during a slow call, and a service killed mid-call rejects the call.
 */
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDir } from '../../src/guest/connect.js';
import type { ChannelClient } from '../../src/dataplane/client.js';
import { FUTEX_NOT_EQUAL, FUTEX_TIMED_OUT, FUTEX_WOKEN, requireShm } from '../../src/native/shm.js';
import { LineProcess } from '../support/line-process.js';
import { mixedCommands } from './async-model.js';
import { hex } from './helpers.js';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vfun-async-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function serve(name: string): Promise<{ dir: string; host: LineProcess; pid: number }> {
  const dir = join(root, name);
  await mkdir(dir);
  const host = new LineProcess(fixture('service-proc.ts'), [dir, 'slow']);
  const { pid } = await host.ready;
  return { dir, host, pid };
}

/** `slow` echoes its input after input[0] × 10 ms: inputs starting with 0 answer at once. */
const echoInput = fc.uint8Array({ maxLength: 16 }).map((b) => Uint8Array.of(0, ...b));
const echo = (input: Uint8Array) => ({ ok: input });

describe('async client across processes (mapped region files)', () => {
  let svc: Awaited<ReturnType<typeof serve>>;
  let client: ChannelClient;
  beforeAll(async () => {
    svc = await serve('model');
    client = connectDir(svc.dir, { timeoutMs: 10_000 });
  });
  afterAll(async () => {
    client?.close();
    await svc?.host.close();
  });

  test.prop([mixedCommands(echoInput)], { numRuns: 40 })('sync and async operations mixed behave as the synchronous model', async (cmds) => {
    client.rst();
    try {
      await fc.asyncModelRun(() => ({ model: { last: null, pending: null }, real: { client, ref: echo } }), cmds);
    } finally {
      // A run may end with a set not collected: leave the channel clean for the next run and the next test.
      client.rst();
    }
  });

  it('the event loop runs while a call is in flight: a timer fires during a 300 ms call', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const r = await client.callAsync(new Uint8Array([30, 5]));
    clearInterval(timer);
    expect(hex(r)).toBe('1e05');
    expect(ticks).toBeGreaterThanOrEqual(10);
  });

  it('times out with CHANNEL_TIMEOUT after timeoutMs', async () => {
    const c = connectDir(svc.dir, { timeoutMs: 100 });
    await expect(c.callAsync(new Uint8Array([30]))).rejects.toMatchObject({ code: 'CHANNEL_TIMEOUT' });
    c.close();
    client.resync(); // the 300 ms call is answered
  });
});

describe('a service killed mid-call', () => {
  it('rejects the async call with CHANNEL_CLOSED, well before its timeout', async () => {
    const svc = await serve('killed');
    const client = connectDir(svc.dir, { timeoutMs: 20_000 });
    expect(hex(await client.callAsync(new Uint8Array([0, 7])))).toBe('0007');
    const call = client.callAsync(new Uint8Array([200])); // 2 s in the driver
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    svc.host.child.kill('SIGKILL');
    await expect(call).rejects.toMatchObject({ code: 'CHANNEL_CLOSED', message: expect.stringContaining(`service process ${svc.pid} is gone`) as string });
    expect(performance.now() - t0).toBeLessThan(1500);
    client.close();
    await svc.host.exited;
  });
});

describe('futexWaitAsync', () => {
  it('settles not-equal, timed-out, and woken by futexWake without blocking the event loop', async () => {
    const shm = requireShm();
    const path = join(root, 'word');
    const ab = shm.open(path, 4096, { create: true, writable: true });
    const i32 = new Int32Array(ab);
    expect(await shm.futexWaitAsync(ab, 0, 1, 1000)).toBe(FUTEX_NOT_EQUAL);
    expect(await shm.futexWaitAsync(ab, 0, 0, 20)).toBe(FUTEX_TIMED_OUT);
    const woken = shm.futexWaitAsync(ab, 4, 0, 5000);
    let ran = false;
    await new Promise<void>((resolve) =>
      setTimeout(() => {
        ran = true;
        Atomics.store(i32, 1, 1);
        shm.futexWake(ab, 4);
        resolve();
      }, 30),
    );
    expect(ran).toBe(true);
    expect(await woken).toBe(FUTEX_WOKEN);
    expect(() => shm.futexWaitAsync(ab, 2, 0, 10)).toThrow(RangeError);
    shm.unmap(ab);
  });
});
