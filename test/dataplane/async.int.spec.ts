/**
 * The async client (callAsync, setAsync, getAsync) over an in-process region
 * (SharedArrayBuffers, Atomics.waitAsync), served by a real service worker:
 * random sequences mixing synchronous and async operations give what the
 * synchronous model gives; the event loop runs while a call is in flight;
 * timeout, close and release while in flight; the concurrency rule.
 */
import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import { ChannelClient, createSabRegion, sabChannel, startService, type ServiceHandle } from '../../src/dataplane/index.js';
import { expectedOf, factorialInput, mixedCommands, outcome } from './async-model.js';
import { VFunction, type ControlPort } from '../../src/guest/vfunction.js';
import type { SabRegion } from '../../src/dataplane/region.js';
import { hex, openChannel, reference, TEST_DRIVERS, u32le, type Channel } from './helpers.js';

const CAPACITY = 128;

describe('async client: model', () => {
  let ch: Channel;
  const ref = reference('factorial', CAPACITY);
  beforeAll(async () => {
    ch = await openChannel('factorial', CAPACITY, {}, { timeoutMs: 10_000 });
  });
  afterAll(async () => {
    await ch.service.stop();
  });

  test.prop([mixedCommands(factorialInput)], { numRuns: 60 })('sync and async operations mixed behave as the synchronous model', async (cmds) => {
    ch.client.rst();
    try {
      await fc.asyncModelRun(() => ({ model: { last: null, pending: null }, real: { client: ch.client, ref } }), cmds);
    } finally {
      // A run may end with a set not collected: leave the channel clean for the next run and the next test.
      ch.client.rst();
    }
    expect(ch.client.asyncInFlight).toBe(0);
  });
});

describe('async client: behaviour', () => {
  let region: SabRegion;
  let service: ServiceHandle;
  beforeAll(async () => {
    region = createSabRegion(CAPACITY);
    service = await startService({ region, driver: 'slow', driverModule: TEST_DRIVERS });
  });
  afterAll(async () => {
    await service.stop();
  });
  const client = (timeoutMs = 10_000): ChannelClient => {
    const c = new ChannelClient(sabChannel(region), { timeoutMs });
    c.resync();
    return c;
  };

  it('the event loop runs while a call is in flight: a timer fires during a 300 ms call', async () => {
    const c = client();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const t0 = performance.now();
    const r = await c.callAsync(new Uint8Array([30, 1, 2]));
    clearInterval(timer);
    expect(hex(r)).toBe('1e0102');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect(ticks).toBeGreaterThanOrEqual(10); // about 30 if nothing else ran on the machine
    c.close();
  });

  it('concurrent callAsync calls are queued in order; a sync call meanwhile is refused with CHANNEL_BUSY', async () => {
    const c = client();
    const a = new Uint8Array([5, 0xaa]);
    const calls = [c.callAsync(a), c.callAsync(new Uint8Array([1, 0xbb])), c.getAsync()];
    a[1] = 0; // the first input is posted at once, the queued ones are copied
    expect(c.asyncInFlight).toBe(3);
    for (const sync of [() => c.call(new Uint8Array([0])), () => c.get(), () => c.rst(), () => c.set(new Uint8Array([0])), () => c.resync()]) {
      expect(sync).toThrow(expect.objectContaining({ code: 'CHANNEL_BUSY' }) as Error);
    }
    expect((await Promise.all(calls)).map(hex)).toEqual(['05aa', '01bb', '01bb']);
    expect(c.asyncInFlight).toBe(0);
    expect(hex(c.call(new Uint8Array([0, 7])))).toBe('0007'); // the protocol is intact
    c.close();
  });

  it('setAsync then getAsync; a second set before get is refused as in the synchronous path', async () => {
    const c = client();
    await c.setAsync(new Uint8Array([2, 9]));
    await expect(c.setAsync(new Uint8Array([0]))).rejects.toBeInstanceOf(ValidationError);
    expect(hex(await c.getAsync())).toBe('0209');
    c.close();
  });

  it('times out after timeoutMs with CHANNEL_TIMEOUT, and rst() recovers', async () => {
    const c = client(100);
    const t0 = performance.now();
    await expect(c.callAsync(new Uint8Array([40]))).rejects.toMatchObject({ code: 'CHANNEL_TIMEOUT' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(99);
    await expect(c.callAsync(new Uint8Array([0]))).rejects.toMatchObject({ code: 'CHANNEL_TIMEOUT', message: expect.stringContaining('unusable') as string });
    const recover = new ChannelClient(sabChannel(region), { timeoutMs: 5000 });
    recover.rst(); // waits for the 400 ms call, then resets
    expect(hex(await recover.callAsync(new Uint8Array([0, 3])))).toBe('0003');
    c.close();
    recover.close();
  });

  it('close() while a call is in flight rejects it and the queued ones with CHANNEL_CLOSED, at once', async () => {
    const c = client();
    const first = c.callAsync(new Uint8Array([50]));
    const second = c.callAsync(new Uint8Array([0]));
    await new Promise((r) => setTimeout(r, 20));
    const t0 = performance.now();
    c.close();
    await expect(first).rejects.toMatchObject({ code: 'CHANNEL_CLOSED', message: expect.stringContaining('in flight') as string });
    await expect(second).rejects.toMatchObject({ code: 'CHANNEL_CLOSED' });
    expect(performance.now() - t0).toBeLessThan(400); // not the 500 ms call
    const next = new ChannelClient(sabChannel(region), { timeoutMs: 5000 });
    next.resync();
    expect(hex(await next.callAsync(new Uint8Array([0, 1])))).toBe('0001');
    next.close();
  });

  it('a ServiceError comes back as a rejection with its code', async () => {
    const ch = await openChannel('factorial', CAPACITY);
    await expect(ch.client.callAsync(new Uint8Array([1]))).rejects.toMatchObject({ code: 'SERVICE_ERROR', errorName: 'BAD_INPUT' });
    expect(await outcome(() => ch.client.callAsync(u32le(5)))).toEqual(expectedOf(reference('factorial', CAPACITY)(u32le(5))));
    await ch.service.stop();
  });
});

describe('VFunction: async calls and release', () => {
  it('release() while a call is in flight rejects the call with CHANNEL_CLOSED and releases', async () => {
    const region = createSabRegion(CAPACITY);
    const service = await startService({ region, driver: 'slow', driverModule: TEST_DRIVERS });
    const control: ControlPort<SabRegion> = {
      negotiate: () => Promise.resolve({ ok: true, instance: 'i-1', kind: 'sw' }),
      activate: () => Promise.resolve({ ok: true, instance: 'i-1', region, capacity: CAPACITY }),
      release: () => Promise.resolve({ ok: true, stats: { calls: 2, errors: {} } }),
    };
    const vf = await VFunction.open(control, (r) => new ChannelClient(sabChannel(r)), { tenant: 't', credential: 'c', app: 'a', fn: 'slow' });
    expect(hex(await vf.callAsync(new Uint8Array([0, 4])))).toBe('0004');
    const inFlight = vf.callAsync(new Uint8Array([50]));
    await new Promise((r) => setTimeout(r, 20));
    expect(await vf.release()).toEqual({ calls: 2, errors: {} });
    await expect(inFlight).rejects.toMatchObject({ code: 'CHANNEL_CLOSED' });
    await expect(vf.callAsync(new Uint8Array([0]))).rejects.toMatchObject({ code: 'CHANNEL_CLOSED' });
    expect(vf.phase).toBe('released');
    await service.stop();
  });
});
