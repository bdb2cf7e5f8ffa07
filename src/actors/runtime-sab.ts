/**
 * The in-process runtime: each instance's region is a pair of
 * SharedArrayBuffers and its service a supervised worker thread (src/dataplane).
 */
import { createSabRegion, type SabRegion } from '../dataplane/region.js';
import type { ActivationSpec, InstanceRuntime, RuntimeFactory } from './runtime.js';
import { supervisedRuntime, type SupervisedRuntimeOptions } from './supervisor.js';

export { toComputationStats } from './supervisor.js';

export class SabRuntime implements RuntimeFactory<SabRegion> {
  constructor(private readonly options: SupervisedRuntimeOptions = {}) {}

  activate(spec: ActivationSpec): Promise<InstanceRuntime<SabRegion>> {
    return supervisedRuntime(createSabRegion(spec.capacity), spec, this.options);
  }
}
