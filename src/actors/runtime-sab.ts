/**
 * The in-process runtime: each instance's region is a pair of
 * SharedArrayBuffers and its service a worker thread (src/dataplane).
 */
import type { ComputationStats } from '../events/catalogue.js';
import { createSabRegion, type SabRegion } from '../dataplane/region.js';
import { startService, type ServiceHandle } from '../dataplane/service-host.js';
import type { ServiceStats } from '../dataplane/service.js';
import type { WaitStrategy } from '../dataplane/wait.js';
import type { ActivationSpec, InstanceRuntime, RuntimeFactory } from './runtime.js';

/** Service counters as journaled: only the error codes that occurred. */
export function toComputationStats(s: ServiceStats): ComputationStats {
  return { calls: s.calls, errors: Object.fromEntries(Object.entries(s.errors).filter(([, n]) => n > 0)) };
}

export class SabRuntime implements RuntimeFactory<SabRegion> {
  constructor(private readonly options: { strategy?: WaitStrategy } = {}) {}

  async activate(spec: ActivationSpec): Promise<InstanceRuntime<SabRegion>> {
    const region = createSabRegion(spec.capacity);
    const failureListeners: ((detail: string) => void)[] = [];
    let failure: string | null = null;
    const handle: ServiceHandle = await startService({
      region,
      driver: spec.driver,
      ...(this.options.strategy ? { strategy: this.options.strategy } : {}),
      onExit: (exit) => {
        if (exit.expected) return;
        failure = `service of ${spec.instance} (${spec.driver}) exited with code ${exit.exitCode}${exit.error ? `: ${exit.error.message}` : ''}`;
        for (const l of failureListeners) l(failure);
      },
    });
    let final: Promise<ComputationStats> | null = null;
    return {
      region,
      stats: () => toComputationStats(handle.stats()),
      stop: () => (final ??= handle.stop().then(toComputationStats)),
      onFailure: (l) => {
        failureListeners.push(l);
        if (failure !== null) l(failure);
      },
    };
  }
}
