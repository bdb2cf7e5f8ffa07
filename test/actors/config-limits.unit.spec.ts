/**
 * `tenants[].limits` in vFunD's configuration: strict, every error naming the
 * field and the limit; absent means no limits (and no cgroup).
 */
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, toSnapshot } from '../../src/actors/config.js';

const config = (limits: unknown) => ({
  tenants: [{ id: 'acme', secret: 'a secret of 16+ chars', maxInstances: 2, ...(limits !== undefined && { limits }) }],
  functions: [{ name: 'crc32', kinds: { sw: { slots: 2, driver: 'crc32' } } }],
});
const problems = (limits: unknown): readonly string[] => {
  try {
    parseConfig(config(limits));
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('tenants[].limits', () => {
  it('takes cpus (a share of cores) and memoryMiB (whole MiB), either or both; none by default', () => {
    expect(parseConfig(config({ cpus: 0.5, memoryMiB: 64 })).tenants[0]!.limits).toEqual({ cpus: 0.5, memoryMiB: 64 });
    expect(parseConfig(config({ cpus: 0.01 })).tenants[0]!.limits).toEqual({ cpus: 0.01 });
    expect(parseConfig(config({ cpus: availableParallelism() })).tenants[0]!.limits).toEqual({ cpus: availableParallelism() });
    expect(parseConfig(config({ memoryMiB: 32 })).tenants[0]!.limits).toEqual({ memoryMiB: 32 });
    expect(parseConfig(config(undefined)).tenants[0]!.limits).toBeUndefined();
  });

  it('refuses what is out of range, naming the field and the limit', () => {
    expect(problems({ cpus: 0 })).toEqual(['tenants.0.limits.cpus: must be at least 0.01 (the smallest CPU quota: 1 ms per 100 ms period)']);
    expect(problems({ cpus: -1 })).toEqual(['tenants.0.limits.cpus: must be at least 0.01 (the smallest CPU quota: 1 ms per 100 ms period)']);
    expect(problems({ cpus: availableParallelism() + 0.5 })).toEqual([`tenants.0.limits.cpus: must be at most ${availableParallelism()}, the CPUs of this host`]);
    expect(problems({ cpus: '1' })).toEqual(['tenants.0.limits.cpus: must be a number of CPUs (0.5: half a core)']);
    expect(problems({ memoryMiB: 31 })).toEqual(['tenants.0.limits.memoryMiB: must be at least 32 (MiB)']);
    expect(problems({ memoryMiB: 64.5 })).toEqual(['tenants.0.limits.memoryMiB: must be a whole number of MiB']);
    expect(problems({ memoryMiB: 2 ** 40 })).toEqual(['tenants.0.limits.memoryMiB: must be at most 16777216 (MiB: 16 TiB)']);
  });

  it('is strict: an unknown key, or no limit at all, is refused', () => {
    expect(problems({ cpus: 1, memory: 64 })).toEqual([expect.stringMatching(/^tenants\.0\.limits\.memory: unknown key \(did you mean 'memoryMiB'\?\)/)]);
    expect(problems({})).toEqual(['tenants.0.limits: give cpus, memoryMiB or both']);
    expect(problems(null)).toEqual([expect.stringMatching(/^tenants\.0\.limits: /)]);
  });

  it('is not journaled: the configuration snapshot is the same with or without limits', () => {
    expect(toSnapshot(parseConfig(config({ cpus: 1, memoryMiB: 64 })))).toEqual(toSnapshot(parseConfig(config(undefined))));
  });
});
