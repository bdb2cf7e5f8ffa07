/**
 * Checkpointing as vFunD runs it (`vfun up`, `vfun demo`): loads or creates its
 * checkpoint key under `<root>/admin/`, opens the witnesses the operator named,
 * and starts a checkpointer on a started vFunD (src/events/checkpointer.ts).
 */
import { journalOrigin } from '../events/checkpoint.js';
import { loadOrCreateCheckpointKey } from '../events/adapters/checkpoint-key.js';
import { Checkpointer, type CheckpointPolicy, type CheckpointTarget } from '../events/checkpointer.js';
import type { Clock } from '../events/envelope.js';
import type { Journal } from '../events/journal.js';
import type { Witness } from '../events/witness.js';
import { openWitness } from '../events/adapters/witness-files.js';

/** How vFunD checkpoints: the policy and the witnesses (`--witness`: a path or a nats:// URL, each). */
export interface CheckpointOptions extends CheckpointPolicy {
  readonly witnesses?: readonly string[];
}

export interface CheckpointingSetup {
  readonly root: string;
  readonly host: string;
  readonly journal: Journal;
  readonly clock: Clock;
  readonly log: (line: string) => void;
  /** What is said once for information (the key created); default: `log`. */
  readonly note?: (line: string) => void;
  readonly options?: CheckpointOptions;
}

/** Opens the witnesses (ValidationError for a malformed one), before anything starts. */
export async function openWitnesses(specs: readonly string[] = []): Promise<Witness[]> {
  const out: Witness[] = [];
  for (const spec of specs) out.push(await openWitness(spec));
  return out;
}

/** Loads the key and starts checkpointing `vfund` (started already). Stop it after vFunD stopped. */
export async function startCheckpointing(vfund: CheckpointTarget, setup: CheckpointingSetup, witnesses: readonly Witness[]): Promise<Checkpointer> {
  const key = await loadOrCreateCheckpointKey(setup.root, journalOrigin(setup.host));
  if (key.created) (setup.note ?? setup.log)(`checkpoint key created: ${setup.root}/admin/checkpoint.key (public key ${setup.root}/admin/checkpoint.pub: ${key.verifierKey})`);
  const o = setup.options ?? {};
  const checkpointer = new Checkpointer({
    journal: setup.journal,
    host: setup.host,
    signer: key.signer,
    clock: setup.clock,
    witnesses,
    log: setup.log,
    ...(o.every !== undefined && { every: o.every }),
    ...(o.intervalMs !== undefined && { intervalMs: o.intervalMs }),
  });
  await checkpointer.start(vfund);
  return checkpointer;
}
