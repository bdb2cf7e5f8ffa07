/**
 * Deterministic edges for tests: a clock and an id source that give the same
 * values on every run, so a journal written under test can be compared byte
 * for byte and replayed. Pure: no I/O.
 */
import type { Clock, IdSource } from '../events/envelope.js';

/** A clock that starts at `start` (epoch ms) and moves 1 ms forward on every read. */
export function steppingClock(start = Date.UTC(2026, 0, 1)): Clock {
  let t = start;
  return { now: () => t++ };
}

/** Ids `<prefix>-1`, `<prefix>-2`, … */
export function counterIds(prefix = 'id'): IdSource {
  let n = 0;
  return { next: () => `${prefix}-${++n}` };
}
