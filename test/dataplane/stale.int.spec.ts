/**
 * The client never takes a stale answer for a new one, and validates what
 * the service wrote. The service here is a misbehaving fake (fixtures/fake-service.ts).
 */
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtFunError } from '../../src/errors.js';
import { workerEntry } from '../../src/util/entry.js';
import { ChannelClient, createSabRegion, sabChannel, WAIT_STRATEGIES, type SabRegion } from '../../src/dataplane/index.js';
import { hex } from './helpers.js';

const CAPACITY = 32;
let worker: Worker | undefined;

function fake(region: SabRegion, mode: string): void {
  const e = workerEntry(import.meta.url, './fixtures/fake-service.js');
  worker = new Worker(e.url, {
    workerData: { dataout: region.dataout, datain: region.datain, capacity: CAPACITY, mode },
    execArgv: [...process.execArgv, ...e.execArgv],
  });
  worker.on('error', () => {});
}

afterEach(async () => {
  await worker?.terminate();
  worker = undefined;
});

describe('stale answers', () => {
  it.each(WAIT_STRATEGIES)('%s: ignores DONE/ERROR with other seqs and BUSY/WAIT for ours', (strategy) => {
    const region = createSabRegion(CAPACITY);
    fake(region, 'stale');
    const client = new ChannelClient(sabChannel(region), { strategy, timeoutMs: 20_000 });
    for (let i = 0; i < 5; i++) {
      const input = new Uint8Array([i, 1, 2, 3, 4 + i]);
      const got = client.call(input);
      expect(hex(got)).toBe(hex(input.slice().reverse()));
    }
    client.set(new Uint8Array([9, 8, 7]));
    expect(hex(client.get())).toBe('070809');
  });
});

describe('the client validates datain', () => {
  const protocolError = (mode: string, re: RegExp): void => {
    const region = createSabRegion(CAPACITY);
    fake(region, mode);
    const client = new ChannelClient(sabChannel(region), { timeoutMs: 20_000 });
    let err: unknown;
    try {
      client.call(new Uint8Array([1]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VirtFunError);
    expect((err as VirtFunError).code).toBe('CHANNEL_PROTOCOL');
    expect((err as Error).message).toMatch(re);
  };
  it('refuses a result length past capacity', () => protocolError('bad-len', /datain.len is 33 .*capacity of 32/));
  it('refuses an unknown error code', () => protocolError('bad-code', /datain.error is 99/));
  it('refuses ERROR with code 0', () => protocolError('zero-code', /datain.error is 0/));
});
