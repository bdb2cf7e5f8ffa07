/**
 * vFunD on a simulated FPGA: the device's reconfigurable slots are shared by
 * every function on it, a full device is a no-capacity nack (the guest then
 * falls back to software), and hardware results equal software results.
 */
import { describe, expect, it, vi } from 'vitest';
import { toSnapshot, ConfigError } from '../../src/actors/config.js';
import { loadConfig } from '../../src/daemon/config.js';
import { VFunD } from '../../src/actors/vfund.js';
import { SabRuntime } from '../../src/actors/runtime-sab.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { connect } from '../../src/guest/connect.js';
import { VFunction } from '../../src/guest/vfunction.js';
import type { SabRegion } from '../../src/dataplane/region.js';
import { countOf } from '../../src/dataplane/latency-histogram.js';
import { counterIds, steppingClock } from './helpers.js';

const SECRET = 'device-test-secret-0123';
const raw = {
  tenants: [{ id: 't', secret: SECRET, maxInstances: 16 }],
  devices: [{ name: 'fpga0', profile: 'alveo-u250' }],
  functions: [
    { name: 'crc32', kinds: { hw: { device: 'fpga0' }, sw: { slots: 8, driver: 'crc32' } } },
    { name: 'sha256', kinds: { hw: { device: 'fpga0' }, sw: { slots: 8, driver: 'sha256' } } },
  ],
};

describe('simulated FPGA device', () => {
  it('journals the device with the slots of its profile', async () => {
    const snap = toSnapshot(await loadConfig(raw));
    expect(snap.devices).toEqual([{ name: 'fpga0', profile: 'alveo-u250', slots: 4 }]);
    expect(snap.functions[0]!.kinds.hw).toEqual({ slots: 4, driver: 'sim:alveo-u250:crc32', device: 'fpga0' });
  });

  it('refuses a device that does not exist or a profile without the function, naming the field', async () => {
    await expect(loadConfig({ ...raw, devices: [{ name: 'fpga0', profile: 'nope' }] })).rejects.toThrow(/devices\.0\.profile: unknown device profile 'nope'/);
    await expect(loadConfig({ ...raw, functions: [{ name: 'crc32', kinds: { hw: { device: 'fpga9' } } }] })).rejects.toThrow(ConfigError);
  });

  it('shares the slots among functions, nacks a full device, falls back to software with equal results', async () => {
    const d = await VFunD.start<SabRegion>({
      journal: new MemoryJournal(),
      runtime: new SabRuntime(),
      config: toSnapshot(await loadConfig(raw)),
      host: 'h',
      clock: steppingClock(),
      ids: counterIds(),
    });
    const open = (app: string, fn: string) => VFunction.open(d, (r) => connect(r), { tenant: 't', credential: SECRET, app, fn, kind: 'hw' });
    const held = [await open('a1', 'crc32'), await open('a2', 'sha256'), await open('a3', 'crc32'), await open('a4', 'sha256')];
    expect(held.map((v) => v.kind)).toEqual(['hw', 'hw', 'hw', 'hw']);
    const fifth = await open('a5', 'crc32');
    expect({ kind: fifth.kind, fellBack: fifth.fellBack }).toEqual({ kind: 'sw', fellBack: true });
    const payload = new TextEncoder().encode('same bytes, two kinds');
    expect(fifth.call(payload)).toEqual(held[0]!.call(payload));
    // The in-process runtime times each call in its control area too (a worker's SharedArrayBuffer).
    for (const v of [held[0]!, fifth]) await vi.waitFor(() => expect(countOf(d.runtimeOf(v.instance)!.latency!()!)).toBe(1));
    expect(countOf(d.runtimeOf(held[1]!.instance)!.latency!()!)).toBe(0);
    for (const v of [...held, fifth]) await v.release();
    expect((await open('a6', 'sha256')).kind).toBe('hw');
    await d.stop();
  });
});
