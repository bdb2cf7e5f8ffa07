/**
 * The events tests' arbitraries: virtfun/testing's (src/testing/arbitraries/events.ts),
 * plus a deterministic clock and id source with the prefix these tests use.
 */
import type { Clock, IdSource } from '../../src/events/envelope.js';

export * from '../../src/testing/arbitraries/events.js';

export function steppingClock(start = Date.UTC(2026, 0, 1)): Clock {
  let t = start;
  return { now: () => t++ };
}

export function counterIds(prefix = 'evt'): IdSource {
  let n = 0;
  return { next: () => `${prefix}-${++n}` };
}
