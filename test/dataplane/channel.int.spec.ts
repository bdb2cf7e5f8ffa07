/** A real service worker and a client, over each wait strategy. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import { ErrorCode, WAIT_STRATEGIES, type WaitStrategy } from '../../src/dataplane/index.js';
import { expectServiceError, hex, openChannel, u32le, type Channel } from './helpers.js';
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

describe.each(WAIT_STRATEGIES.map((s) => [s] as [WaitStrategy]))('strategy %s (client and service)', (strategy) => {
  let ch: Channel;
  beforeAll(async () => {
    ch = await openChannel('crc32', 4096, { strategy }, { strategy, timeoutMs: 10_000 });
  });
  afterAll(async () => {
    await ch.service.stop();
  });

  it('call, callInto, set/get, get, rst', () => {
    const c = ch.client;
    const data = new Uint8Array(4096).map((_, i) => (i * 31) & 0xff);
    const crc = (b: Uint8Array): string => hex(u32le(crc32(b)));
    expect(hex(c.call(data))).toBe(crc(data));
    expect(hex(c.call(new Uint8Array(0)))).toBe(crc(new Uint8Array(0)));

    const out = new Uint8Array(8);
    expect(c.callInto(data.subarray(0, 64), out)).toBe(4);
    expect(hex(out.subarray(0, 4))).toBe(crc(data.subarray(0, 64)));

    c.set(data.subarray(0, 100));
    expect(c.pending).toBe(true);
    expect(() => c.call(data)).toThrow(ValidationError); // a set is pending
    expect(hex(c.get())).toBe(crc(data.subarray(0, 100)));
    expect(c.pending).toBe(false);
    // get() without a pending set re-delivers the last result
    expect(hex(c.get())).toBe(crc(data.subarray(0, 100)));
    expect(c.getInto(out)).toBe(4);

    c.rst();
    expectServiceError(() => c.get(), ErrorCode.NO_RESULT);
    for (let i = 0; i < 200; i++) {
      const b = data.subarray(i, i + 1 + (i % 50));
      expect(hex(c.call(b))).toBe(crc(b));
    }
    expect(() => c.callInto(data, new Uint8Array(2))).toThrow(/result is 4 bytes/);
    expect(ch.service.stats().calls).toBeGreaterThan(200);
  });
});

describe('the paper functions and payload kernels through the channel', () => {
  it('factorial 51, fibonacci 93, sha256 (sim-fpga), with mixed client strategies', async () => {
    const fact = await openChannel('factorial', 64, { strategy: 'hybrid' }, { strategy: 'block' });
    const fib = await openChannel('fibonacci', 64, { strategy: 'block' }, { strategy: 'spin' });
    const sha = await openChannel('sim-fpga:sha256', 1024, { strategy: 'spin' }, { strategy: 'hybrid' });
    try {
      const u64 = (b: Uint8Array): bigint => new DataView(b.buffer, b.byteOffset).getBigUint64(0, true);
      expect(u64(fact.client.call(u32le(51)))).toBe(18284192274659147776n);
      expect(u64(fib.client.call(u32le(93)))).toBe(12200160415121876738n);
      const se = expectServiceError(() => fact.client.call(new Uint8Array(3)), ErrorCode.BAD_INPUT);
      expect(se.serviceMessage).toMatch(/input is 3 bytes, expected exactly 4/);
      const msg = new TextEncoder().encode('the quick brown fox');
      expect(hex(sha.client.call(msg))).toBe(createHash('sha256').update(msg).digest('hex'));
    } finally {
      await Promise.all([fact.service.stop(), fib.service.stop(), sha.service.stop()]);
    }
  });
});
