/**
 * An honest guest's call loop for containment tests: batches of 50 calls
 * through a guest process (a LineProcess running guest-proc.ts) until
 * stopped, counting good answers and keeping anything else.
 */
import { expect } from 'vitest';

/** One answer of guest-proc.ts. */
export type GuestResult = { ok?: string; error?: string; thrown?: string; message?: string };

export interface CallLoop {
  readonly tally: { ok: number; readonly bad: GuestResult[] };
  /** Resolves once the loop made `n` more good calls than now (30 s at most). */
  progressed(n?: number): Promise<void>;
  /** Stop after the batch in flight; resolves when it is answered. */
  stop(): Promise<void>;
}

export function callLoop(calls: (ops: string[][]) => Promise<GuestResult[]>): CallLoop {
  const tally = { ok: 0, bad: [] as GuestResult[] };
  let running = true;
  const done = (async () => {
    while (running) {
      for (const r of await calls(Array.from({ length: 50 }, (_, i) => ['call', Buffer.from([i, 1, 2]).toString('hex')]))) {
        if (r.ok !== undefined) tally.ok++;
        else tally.bad.push(r);
      }
    }
  })();
  // A loop whose guest went away ends with its error, seen by stop(); never unhandled.
  done.catch(() => undefined);
  return {
    tally,
    progressed: async (n = 200) => {
      const from = tally.ok;
      await expect.poll(() => tally.ok - from, { timeout: 30_000 }).toBeGreaterThanOrEqual(n);
    },
    stop: async () => {
      running = false;
      await done;
    },
  };
}
