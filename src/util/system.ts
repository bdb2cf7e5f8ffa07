/** The real clock and id source, injected at the edges (CLI, daemon); core logic never reads them itself. */
import { randomUUID } from 'node:crypto';
import type { Clock, IdSource } from '../events/envelope.js';

/** The wall clock (`Date.now()`): the Clock vFunD runs on outside tests. */
export const systemClock: Clock = { now: () => Date.now() };
/** Random UUIDs (v4): the IdSource vFunD uses outside tests. */
export const randomIds: IdSource = { next: () => randomUUID() };
