import { describe, expect, it } from 'vitest';
import { DriverInputError, type FunctionDriver } from '../../src/drivers/driver.js';
import {
  SimDevice,
  SimulatedFpgaDriver,
  VirtualClock,
  createRealtimeDevice,
} from '../../simulator/index.js';
import { expected, testProfile, u32le } from './helpers.js';

async function callOnce(driver: FunctionDriver, input: Uint8Array): Promise<Uint8Array> {
  const out = new Uint8Array(64);
  const n = await driver.call(input, out);
  return out.subarray(0, n);
}

describe('SimulatedFpgaDriver on a RealClock (smoke)', () => {
  it('init loads a slot, calls return exact results, reset and exit work', async () => {
    const device = createRealtimeDevice('fast-launch', { seed: 7 });
    const sha = new SimulatedFpgaDriver(device, 'sha256');
    const fact = new SimulatedFpgaDriver(device, 'factorial', { deadlineMicros: 100_000 });
    expect(sha.meta).toMatchObject({ name: 'sim-fpga:sha256', kind: 'hw', maxOutputBytes: 32 });
    await Promise.all([sha.init(), fact.init()]);
    expect(device.capacity().free).toBe(device.profile.slots - 2);
    expect(device.capacity().loaded.slice(0, 2).sort()).toEqual(['factorial', 'sha256']);

    for (const size of [0, 1, 1_000, 100_000]) {
      const input = new Uint8Array(size).map((_, i) => i & 0xff);
      expect(await callOnce(sha, input)).toEqual(expected('sha256', input));
    }
    expect(new DataView((await callOnce(fact, u32le(51))).buffer).getBigUint64(0, true)).toBe(18284192274659147776n);
    await expect(fact.call(new Uint8Array(3), new Uint8Array(8))).rejects.toBeInstanceOf(DriverInputError);

    // a device reset loses the bitstreams; the driver's reset() reloads its slot
    await device.reset();
    expect(device.inspect(sha.slot!.slot).state).toBe('unloaded');
    await sha.reset();
    expect(await callOnce(sha, new Uint8Array([1, 2, 3]))).toEqual(expected('sha256', new Uint8Array([1, 2, 3])));

    await sha.exit();
    await fact.exit();
    await fact.exit(); // idempotent
    expect(device.capacity().free).toBe(device.profile.slots);
    await device.close();
  });
});

describe('SimulatedFpgaDriver on a VirtualClock', () => {
  it('completes as the test drives the clock', async () => {
    const clock = new VirtualClock();
    const device = new SimDevice({ profile: testProfile(), clock, seed: 3 });
    const crc = new SimulatedFpgaDriver(device, 'crc32', { slot: 1 });
    await clock.run(crc.init());
    expect(crc.slot).toMatchObject({ slot: 1, fn: 'crc32' });
    const input = new Uint8Array(4096).fill(0xab);
    expect(await clock.run(callOnce(crc, input))).toEqual(expected('crc32', input));
    const other = new SimulatedFpgaDriver(device, 'sha256', { slot: 1 });
    await expect(other.init()).rejects.toMatchObject({ deviceCode: 'SLOT_BUSY' });
    await crc.exit();
    await clock.run(other.init());
    expect(() => new SimulatedFpgaDriver(device, 'md5')).toThrow(/md5/);
  });
});
