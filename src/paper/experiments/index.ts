/**
 * The experiments beyond the paper, by name (`vfun bench experiment <name>`), and the one call
 * that runs any of them.
 */
import type { ExperimentOptions } from './options.js';
import { concurrency } from './concurrency.js';
import { noisyNeighbour } from './noisy-neighbour.js';
import { payloadSweep } from './payload-sweep.js';
import { runExperiment, type ExperimentRun, type RunnerOptions } from './runner.js';

/** Run the experiment `o` names and write its results folder. */
export function runNamedExperiment(o: ExperimentOptions, r: RunnerOptions = {}): Promise<ExperimentRun> {
  switch (o.experiment) {
    case 'payload-sweep':
      return runExperiment(payloadSweep, o, r);
    case 'concurrency':
      return runExperiment(concurrency, o, r);
    case 'noisy-neighbour':
      return runExperiment(noisyNeighbour, o, r);
  }
}
