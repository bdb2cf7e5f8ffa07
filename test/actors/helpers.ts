import { VirtFunError } from '../../src/errors.js';
import type { ComputationStats } from '../../src/events/catalogue.js';
import type { ActivationSpec, InstanceRuntime, RuntimeFactory } from '../../src/actors/runtime.js';
import { parseConfig, toSnapshot } from '../../src/actors/config.js';

/** Deterministic clock and ids (one millisecond per reading; `id-1`, `id-2`, …). */
export { counterIds, steppingClock } from '../../src/testing/deterministic.js';

export const SECRETS = { t1: 'secret-of-tenant-one', t2: 'secret-of-tenant-two', t3: 'secret-of-tenant-three' } as const;

export const testConfig = parseConfig({
  tenants: [
    { id: 't1', secret: SECRETS.t1, maxInstances: 2 },
    { id: 't2', secret: SECRETS.t2, maxInstances: 3 },
    { id: 't3', secret: SECRETS.t3, maxInstances: 1 },
  ],
  functions: [
    { name: 'fhw', kinds: { hw: { slots: 2, driver: 'sim-fpga:crc32' }, sw: { slots: 3, driver: 'crc32' } } },
    { name: 'fsw', kinds: { sw: { slots: 2, driver: 'factorial' } } },
    { name: 'flaky', kinds: { sw: { slots: 5, driver: 'sha256' } } },
    { name: 'starved', kinds: { sw: { slots: 5, driver: 'crc32' } } },
  ],
  regionCapacity: 4096,
});
export const testSnapshot = toSnapshot(testConfig);

/**
 * A runtime that hands out numbered regions and remembers who holds each, so
 * tests can check that a region belongs to exactly one instance and tenant.
 * Activation of function `flaky` fails, as a driver that cannot start; of
 * `starved`, as a host out of memory or disk (no-resources).
 */
export class RecordingRuntime implements RuntimeFactory<{ regionId: number }> {
  readonly regions = new Map<number, { instance: string; tenant: string }>();
  private readonly failures = new Map<string, (detail: string) => void>();
  private next = 1;

  async activate(spec: ActivationSpec): Promise<InstanceRuntime<{ regionId: number }>> {
    if (spec.fn === 'flaky') throw new Error('driver init failed: device not responding');
    if (spec.fn === 'starved') throw new VirtFunError('RESOURCES', 'the host cannot back this instance now (ENOSPC: the disk holding the tree is full)');
    const regionId = this.next++;
    this.regions.set(regionId, { instance: spec.instance, tenant: spec.tenant });
    const stats: ComputationStats = { calls: regionId, errors: {} };
    let stopped = false;
    return {
      region: { regionId },
      stats: () => stats,
      stop: async () => {
        stopped = true;
        this.regions.delete(regionId);
        this.failures.delete(spec.instance);
        return stats;
      },
      onRestart: () => undefined,
      onFailure: (l) => {
        this.failures.set(spec.instance, (d) => {
          if (!stopped) l(d);
        });
      },
    };
  }

  /** Make the service of an instance die, as a crashed worker would. */
  crash(instance: string): boolean {
    const f = this.failures.get(instance);
    if (!f) return false;
    f('service exited with code 1');
    return true;
  }
}
