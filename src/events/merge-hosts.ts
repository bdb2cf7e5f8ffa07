/**
 * Several hosts' journals read as one history (`vfun audit --host '*'`): each
 * host's envelopes come in its own seq order (its chain, verified by its
 * reader); the merge takes, each time, the first waiting envelope with the
 * earliest event time, then host name, then seq. When every host's times
 * grow with its seqs (one clock per host), the result is ordered by
 * (time, host, seq); a host whose clock stepped back keeps its own order, and
 * its later events wait behind their predecessors. Streamed: one envelope per
 * host is held at a time.
 */
import type { Envelope } from './envelope.js';

/** One host's envelopes, in its journal's order. */
export interface HostSource {
  readonly host: string;
  readonly events: AsyncIterable<Envelope>;
}

/** The merge order of two envelopes: event time, then host, then seq (negative: `a` first). */
export function compareAcrossHosts(a: Pick<Envelope, 'at' | 'host' | 'seq'>, b: Pick<Envelope, 'at' | 'host' | 'seq'>): number {
  const ta = Date.parse(a.at);
  const tb = Date.parse(b.at);
  if (ta !== tb) return ta < tb ? -1 : 1;
  if (a.host !== b.host) return a.host < b.host ? -1 : 1;
  return a.seq - b.seq;
}

/**
 * The envelopes of every source, merged (see above). A source that throws
 * (a broken chain, a damaged message) stops the merge with its error; the
 * others are closed.
 */
export async function* mergeHosts(sources: readonly HostSource[]): AsyncGenerator<Envelope> {
  const its = sources.map((s) => s.events[Symbol.asyncIterator]());
  const heads: (Envelope | null)[] = [];
  try {
    for (const it of its) {
      const r = await it.next();
      heads.push(r.done === true ? null : r.value);
    }
    for (;;) {
      let best = -1;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i];
        if (h === null || h === undefined) continue;
        if (best === -1 || compareAcrossHosts(h, heads[best]!) < 0) best = i;
      }
      if (best === -1) return;
      yield heads[best]!;
      const r = await its[best]!.next();
      heads[best] = r.done === true ? null : r.value;
    }
  } finally {
    await Promise.all(its.map((it, i) => (heads[i] !== null ? it.return?.() : undefined)));
  }
}
