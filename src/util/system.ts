/** The real clock and id source, injected at the edges (CLI, daemon); core logic never reads them itself. */
import { randomUUID } from 'node:crypto';
import type { Clock, IdSource } from '../events/envelope.js';

export const systemClock: Clock = { now: () => Date.now() };
export const randomIds: IdSource = { next: () => randomUUID() };
