/**
 * vFunD's state at start-up: from the latest `state.snapshot` of its journal,
 * folding only the events after it, or, when there is none it can read, from
 * the whole journal (docs/events.md, "State snapshots"). Either way the state
 * is the one a full fold gives (checked by test/actors/snapshot.property.unit.spec.ts).
 */
import { readFromLast } from '../events/journal.js';
import type { StateSnapshotTaken } from '../events/catalogue.js';
import { eventOf, type Envelope } from '../events/envelope.js';
import type { Journal } from '../events/journal.js';
import { evolve } from './evolve.js';
import { readableSnapshot, stateOfSnapshot } from './snapshot.js';
import { initialState, type VFunDState } from './state.js';

/** The state at the head of a journal, and how it was reached. */
export interface Restored {
  readonly state: VFunDState;
  /** Seq of the snapshot it started from; null: folded from the first event. */
  readonly snapshotSeq: number | null;
  /** Events folded (after the snapshot, or all). */
  readonly folded: number;
}

/** Is this envelope a snapshot this build can start from (its layout, and the seq it names is the one before it)? */
export function usableSnapshot(env: Envelope): env is Envelope<StateSnapshotTaken> {
  return env.type === 'state.snapshot' && env.data.seq === env.seq - 1 && readableSnapshot(env.data);
}

/** Fold `envelopes` into `state`; returns the state and how many were folded. */
async function foldFrom(state: VFunDState, envelopes: AsyncIterator<Envelope>): Promise<{ state: VFunDState; folded: number }> {
  let s = state;
  let folded = 0;
  for (let n = await envelopes.next(); n.done !== true; n = await envelopes.next()) {
    s = evolve(s, eventOf(n.value));
    folded++;
  }
  return { state: s, folded };
}

/** vFunD's state at the head of `journal`: from its latest usable snapshot, else from the start. */
export async function restoreState(journal: Journal): Promise<Restored> {
  const fromLast = await readFromLast(journal, 'state.snapshot');
  if (fromLast !== null) {
    const it = fromLast[Symbol.asyncIterator]();
    const first = await it.next();
    if (first.done !== true && usableSnapshot(first.value)) {
      const { state, folded } = await foldFrom(stateOfSnapshot(first.value.data), it);
      return { state, snapshotSeq: first.value.seq, folded };
    }
    await it.return?.();
  }
  const { state, folded } = await foldFrom(initialState, journal.read()[Symbol.asyncIterator]());
  return { state, snapshotSeq: null, folded };
}
