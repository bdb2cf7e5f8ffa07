/**
 * The configuration is strict: a key it does not know, at any depth, is
 * refused naming its path (a typo such as "UID" must not start a tenant
 * without its OS user), with the known key it most resembles.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { ConfigError, nearestKey, parseConfig } from '../../src/actors/config.js';

const valid = () => ({
  tenants: [{ id: 'acme', secret: 'a-secret-of-16-chars', maxInstances: 2, refusals: { burst: 5 }, limits: { cpus: 0.5 } }],
  functions: [{ name: 'crc32', kinds: { hw: { slots: 1, driver: 'sim-fpga:crc32' }, sw: { slots: 1, driver: 'crc32' } } }],
  devices: [],
  regionCapacity: 4096,
});

/** Where an object sits in the valid configuration, as a path and a getter. */
const PLACES: readonly [string, (c: ReturnType<typeof valid>) => Record<string, unknown>][] = [
  ['', (c) => c],
  ['tenants.0.', (c) => c.tenants[0]!],
  ['tenants.0.refusals.', (c) => c.tenants[0]!.refusals],
  ['tenants.0.limits.', (c) => c.tenants[0]!.limits],
  ['functions.0.', (c) => c.functions[0]!],
  ['functions.0.kinds.', (c) => c.functions[0]!.kinds],
  ['functions.0.kinds.sw.', (c) => c.functions[0]!.kinds.sw],
];

describe('configuration keys', () => {
  test('the valid configuration parses', () => {
    expect(() => parseConfig(valid())).not.toThrow();
  });

  test.prop([fc.constantFrom(...PLACES), fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !['__proto__', 'constructor'].includes(k))])(
    'an unknown key anywhere is refused, naming its path',
    ([prefix, at], key) => {
      const c = valid();
      const obj = at(c);
      fc.pre(!Object.hasOwn(obj, key) && !['tenants', 'functions', 'regionCapacity', 'devices', 'id', 'secret', 'maxInstances', 'uid', 'gid', 'ivshmem', 'refusals', 'limits', 'name', 'kinds', 'hw', 'sw', 'slots', 'driver', 'burst', 'refillPerSecond', 'summaryIntervalMs', 'disconnectAfter', 'disconnectIntervals', 'cpus', 'memoryMiB'].includes(key));
      obj[key] = 1;
      let err: unknown = null;
      try {
        parseConfig(c);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems).toContainEqual(expect.stringContaining(`${prefix}${key}: unknown key`));
    },
  );

  test('the known key it resembles is suggested', () => {
    expect(nearestKey('UID')).toBe('uid');
    expect(nearestKey('regionCapcity')).toBe('regionCapacity');
    expect(nearestKey('memory')).toBe('memoryMiB');
    expect(nearestKey('zzzzzzzz')).toBeNull();
    const c = valid();
    (c.tenants[0] as Record<string, unknown>)['UID'] = 1000;
    expect(() => parseConfig(c)).toThrow(/tenants\.0\.UID: unknown key \(did you mean 'uid'\?\)/);
  });
});
