/**
 * The in-process runtime: each instance's region is a pair of
 * SharedArrayBuffers and its service a supervised worker thread (src/dataplane).
 */
import { createSabRegion, type SabRegion } from '../dataplane/region.js';
import type { ActivationSpec, InstanceRuntime, RuntimeFactory } from './runtime.js';
import { supervisedRuntime, type SupervisedRuntimeOptions } from './supervisor.js';

export { toComputationStats } from './supervisor.js';

/**
 * The in-process backend: regions are SharedArrayBuffers and each service a supervised worker thread of
 * vFunD's process (the guest must be in the same process). The fastest path, with no isolation between
 * tenants: for tests, benchmarks and single-process use.
 */
export class SabRuntime implements RuntimeFactory<SabRegion> {
  /** `options`: driver modules, wait strategy and supervision policy of the services it starts. */
  constructor(private readonly options: SupervisedRuntimeOptions = {}) {}

  /** Create a SharedArrayBuffer region and start its service in a worker (see RuntimeFactory.activate). */
  activate(spec: ActivationSpec): Promise<InstanceRuntime<SabRegion>> {
    return supervisedRuntime(createSabRegion(spec.capacity), spec, this.options);
  }
}
