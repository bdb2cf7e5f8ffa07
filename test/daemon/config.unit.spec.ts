/**
 * Loading vFunD's configuration: parseConfig checks shapes and reads no file;
 * the load step (src/daemon/config.ts) reads the device profiles the
 * configuration names and refuses what they lack, naming the field.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, toSnapshot } from '../../src/actors/config.js';
import { loadConfig, loadConfigFile, resolveConfig } from '../../src/daemon/config.js';
import { driverNames } from '../../src/drivers/registry.js';

const tenants = [{ id: 't', secret: 'a secret of 16+ chars', maxInstances: 2 }];
const onDevice = (profile: string, fn = 'crc32') => ({
  tenants,
  devices: [{ name: 'fpga0', profile }],
  functions: [{ name: fn, kinds: { hw: { device: 'fpga0' } } }],
});
const withDriver = (driver: string) => ({ tenants, functions: [{ name: 'crc32', kinds: { hw: { slots: 2, driver } } }] });

async function problems(input: unknown): Promise<readonly string[]> {
  try {
    await loadConfig(input);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('parseConfig: shapes only', () => {
  it('takes a device whose profile it does not know: the profile is read when the configuration is loaded', () => {
    expect(parseConfig(onDevice('no-such-profile')).devices).toEqual([{ name: 'fpga0', profile: 'no-such-profile' }]);
    expect(parseConfig(withDriver('sim:no-such-profile:crc32')).functions[0]!.kinds.hw).toEqual({ slots: 2, driver: 'sim:no-such-profile:crc32' });
  });

  it('still refuses a driver name of no known form, and a device nobody declared, naming the field', () => {
    expect(() => parseConfig(withDriver('nope'))).toThrow(`functions.0.kinds.hw.driver: unknown driver 'nope'; known: ${driverNames().join(', ')}`);
    expect(() => parseConfig({ ...onDevice('alveo-u250'), devices: [] })).toThrow("functions.0.kinds.hw.device: no device 'fpga0' in devices");
  });

  it('cannot be journaled with devices before it is loaded: their slots come from their profiles', () => {
    expect(() => toSnapshot(parseConfig(onDevice('alveo-u250')))).toThrow(
      "devices.0.profile: profile 'alveo-u250' was not read: load the configuration with loadConfig",
    );
  });
});

describe('loadConfig: reads the profiles the configuration names', () => {
  it('journals a device with the slots of its profile', async () => {
    const loaded = await loadConfig(onDevice('alveo-u250'));
    expect(loaded.profiles.get('alveo-u250')?.slots).toBe(4);
    expect(toSnapshot(loaded).devices).toEqual([{ name: 'fpga0', profile: 'alveo-u250', slots: 4 }]);
    expect(await resolveConfig(loaded)).toBe(loaded);
  });

  it('refuses an unknown profile, a function the profile lacks and a sim: driver without its profile, naming each field', async () => {
    expect(await problems(onDevice('no-such-profile'))).toEqual([expect.stringMatching(/^devices\.0\.profile: unknown device profile 'no-such-profile'; known: .*alveo-u250/)]);
    expect(await problems(onDevice('alveo-u250', 'md5'))).toEqual(["functions.0.name: device profile 'alveo-u250' has no function 'md5'"]);
    expect(await problems(withDriver('sim:no-such-profile:crc32'))).toEqual([`functions.0.kinds.hw.driver: unknown driver 'sim:no-such-profile:crc32'; known: ${driverNames().join(', ')}`]);
    expect(await problems(withDriver('sim:alveo-u250:md5'))).toEqual([`functions.0.kinds.hw.driver: unknown driver 'sim:alveo-u250:md5'; known: ${driverNames().join(', ')}`]);
    expect(await problems(withDriver('sim:alveo-u250:crc32'))).toEqual([]);
  });

  it('refuses a bad shape before reading anything', async () => {
    expect(await problems({ ...onDevice('no-such-profile'), tenants: [] })).toEqual(['tenants: Too small: expected array to have >=1 items']);
  });
});

describe('loadConfigFile', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads a JSON file; a missing file, bad JSON or a bad field is a ConfigError naming it', async () => {
    const good = join(dir, 'good.json');
    await writeFile(good, JSON.stringify(onDevice('alveo-u250')));
    expect(toSnapshot(await loadConfigFile(good)).devices).toEqual([{ name: 'fpga0', profile: 'alveo-u250', slots: 4 }]);
    await expect(loadConfigFile(join(dir, 'none.json'))).rejects.toThrow(new RegExp(`cannot read ${join(dir, 'none.json')}: ENOENT`));
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{ not json');
    await expect(loadConfigFile(bad)).rejects.toThrow(`${bad} is not valid JSON`);
    const unknown = join(dir, 'unknown.json');
    await writeFile(unknown, JSON.stringify(onDevice('no-such-profile')));
    await expect(loadConfigFile(unknown)).rejects.toThrow(/devices\.0\.profile: unknown device profile 'no-such-profile'/);
  });
});
