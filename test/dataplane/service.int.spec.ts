/** Service worker lifecycle: start, stop, driver faults, async drivers, timeouts, deaths. */
import { describe, expect, it } from 'vitest';
import { VirtFunError } from '../../src/errors.js';
import { ChannelClient, createSabRegion, ErrorCode, I32, IN, sabChannel, startService, type ServiceExit } from '../../src/dataplane/index.js';
import { expectServiceError, hex, openChannel, TEST_DRIVERS, u32le } from './helpers.js';
import { crc32 } from 'node:zlib';

const crcHex = (b: Uint8Array): string => hex(u32le(crc32(b)));

describe('service lifecycle', () => {
  it('stop() returns the final stats, the worker exits, driver.exit runs, stop is idempotent', async () => {
    const exits: ServiceExit[] = [];
    const ch = await openChannel('crc32', 64, { onExit: (x) => exits.push(x) });
    const datain = new DataView(ch.region.datain);
    expect(datain.getUint32(IN.pid, true)).toBe(process.pid); // same process, another thread
    ch.client.call(new Uint8Array([1]));
    ch.client.call(new Uint8Array([2]));
    expectServiceError(() => {
      ch.client.rst();
      ch.client.get();
    }, ErrorCode.NO_RESULT);
    expect(ch.service.stats()).toMatchObject({ calls: 4, errors: { NO_RESULT: 1, BAD_SEQ: 0 } });
    const [a, b] = await Promise.all([ch.service.stop(), ch.service.stop()]);
    expect(a).toEqual(b);
    expect(a).toMatchObject({ calls: 4, errors: { NO_RESULT: 1 } });
    const exit = await ch.service.exited;
    expect(exit).toMatchObject({ expected: true, exitCode: 0 });
    expect(exits).toHaveLength(1);
    expect(exits[0]!.expected).toBe(true);
    expect(await ch.service.stop()).toEqual(a);
    ch.client.close();
    expect(() => ch.client.call(new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'CHANNEL_CLOSED' }));
  });

  it('stops a service whatever its strategy, also while it sleeps', async () => {
    for (const strategy of ['spin', 'block', 'hybrid'] as const) {
      const ch = await openChannel('crc32', 64, { strategy, sliceMs: 60_000 });
      ch.client.call(new Uint8Array([1]));
      if (strategy !== 'spin') {
        // let the service fall asleep (its flag says so), then stop it
        const flag = new Int32Array(ch.region.datain);
        while (Atomics.load(flag, I32.serviceSleeping) !== 1) await new Promise((r) => setTimeout(r, 5));
      }
      const stats = await ch.service.stop();
      expect(stats.calls).toBe(1);
      expect(await ch.service.exited).toMatchObject({ expected: true, exitCode: 0 }); // clean exit, not terminated
    }
  });

  it('a call after stop times out with CHANNEL_TIMEOUT naming the seq; the client stays unusable until rst', async () => {
    const ch = await openChannel('crc32', 64, {}, { timeoutMs: 50 });
    ch.client.call(new Uint8Array([1]));
    await ch.service.stop();
    const err = captureSync(() => ch.client.call(new Uint8Array([2])));
    expect(err).toBeInstanceOf(VirtFunError);
    expect((err as VirtFunError).code).toBe('CHANNEL_TIMEOUT');
    expect((err as Error).message).toMatch(/no answer to set seq 2 after \d+ ms/);
    expect(ch.client.broken).toBe(true);
    const again = captureSync(() => ch.client.call(new Uint8Array([3])));
    expect((again as VirtFunError).code).toBe('CHANNEL_TIMEOUT');
    expect((again as Error).message).toMatch(/unusable.*rst/);
    expect((captureSync(() => ch.client.rst()) as VirtFunError).code).toBe('CHANNEL_TIMEOUT'); // nobody answers
  });

  it('rst() recovers a client after a timeout once the late answer arrives', async () => {
    const ch = await openChannel('slow', 64, { driverModule: TEST_DRIVERS }, { timeoutMs: 30 });
    try {
      const err = captureSync(() => ch.client.call(new Uint8Array([50]))); // answers after 500 ms
      expect((err as VirtFunError).code).toBe('CHANNEL_TIMEOUT');
      const slow = new ChannelClient(sabChannel(ch.region), { timeoutMs: 5000 });
      expect(slow.broken).toBe(true); // attached while seq 1 was outstanding
      slow.rst(); // waits for seq 1's answer, then resets
      expect(hex(slow.call(new Uint8Array([0, 5, 6])))).toBe('000506');
    } finally {
      await ch.service.stop();
    }
  });

  it('a driver that throws gives DRIVER_FAULT (or BAD_INPUT for DriverInputError) and the service keeps serving', async () => {
    const ch = await openChannel('faulty', 64, { driverModule: TEST_DRIVERS });
    try {
      const c = ch.client;
      expect(hex(c.call(new Uint8Array([1, 2])))).toBe(crcHex(new Uint8Array([1, 2])));
      const fault = expectServiceError(() => c.call(new Uint8Array([0xff])), ErrorCode.DRIVER_FAULT);
      expect(fault.serviceMessage).toMatch(/boom: the device caught fire/);
      expect(fault.message).toMatch(/DRIVER_FAULT \(seq 2\): Error: boom/);
      expectServiceError(() => c.get(), ErrorCode.NO_RESULT); // the failed set left no result
      expectServiceError(() => c.call(new Uint8Array([0xfe])), ErrorCode.BAD_INPUT);
      expect(hex(c.call(new Uint8Array([3])))).toBe(crcHex(new Uint8Array([3])));
      expect(ch.service.stats().errors).toMatchObject({ DRIVER_FAULT: 1, BAD_INPUT: 1, NO_RESULT: 1 });
    } finally {
      await ch.service.stop();
    }
  });

  it('a driver returning a length past capacity, or whose reset throws, gives DRIVER_FAULT', async () => {
    const bad = await openChannel('bad-length', 64, { driverModule: TEST_DRIVERS });
    const rst = await openChannel('reset-throws', 64, { driverModule: TEST_DRIVERS });
    try {
      const se = expectServiceError(() => bad.client.call(new Uint8Array([1])), ErrorCode.DRIVER_FAULT);
      expect(se.serviceMessage).toMatch(/result length 2147483647/);
      expect(expectServiceError(() => rst.client.rst(), ErrorCode.DRIVER_FAULT).serviceMessage).toMatch(/reset refused/);
      expect(hex(rst.client.call(new Uint8Array([1])))).toBe(crcHex(new Uint8Array([1])));
    } finally {
      await Promise.all([bad.service.stop(), rst.service.stop()]);
    }
  });

  it('async drivers work (call and reset return promises), faults included', async () => {
    const ch = await openChannel('async', 64, { driverModule: TEST_DRIVERS, strategy: 'block' });
    try {
      const c = ch.client;
      for (let i = 0; i < 20; i++) {
        const b = new Uint8Array([i, i + 1]);
        expect(hex(c.call(b))).toBe(crcHex(b));
      }
      c.set(new Uint8Array([7]));
      expect(hex(c.get())).toBe(crcHex(new Uint8Array([7])));
      expectServiceError(() => c.call(new Uint8Array([0xff])), ErrorCode.DRIVER_FAULT);
      c.rst();
      expectServiceError(() => c.get(), ErrorCode.NO_RESULT);
    } finally {
      await ch.service.stop();
    }
  });

  it('startService rejects clearly when the driver fails to init, or is unknown', async () => {
    await expect(
      startService({ region: createSabRegion(64), driver: 'init-fails', driverModule: TEST_DRIVERS }),
    ).rejects.toThrow(/init-fails.*init failed: no such device \/dev\/fpga0/);
    const err = await startService({ region: createSabRegion(64), driver: 'nope' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VirtFunError);
    expect((err as VirtFunError).code).toBe('VALIDATION');
    expect((err as Error).message).toMatch(/unknown driver 'nope'/);
  });

  it('refuses a region whose header does not match before starting a worker', async () => {
    const region = createSabRegion(64);
    new DataView(region.datain).setUint32(0, 0, true);
    await expect(startService({ region, driver: 'crc32' })).rejects.toThrow(/datain: magic/);
  });

  it('reports an unexpected worker death through exited and onExit', async () => {
    let reported: ServiceExit | undefined;
    const ch = await openChannel('die', 64, { driverModule: TEST_DRIVERS, onExit: (x) => (reported = x) }, { timeoutMs: 100 });
    const err = captureSync(() => ch.client.call(new Uint8Array(0))); // the driver ends the worker thread
    expect((err as VirtFunError).code).toBe('CHANNEL_TIMEOUT');
    const exit = await ch.service.exited;
    expect(exit).toMatchObject({ expected: false, exitCode: 3 });
    expect(reported).toEqual(exit);
    expect(exit.stats.calls).toBe(0);
    expect(await ch.service.stop()).toEqual(exit.stats); // stopping a dead service is harmless
  });
});

function captureSync(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}
