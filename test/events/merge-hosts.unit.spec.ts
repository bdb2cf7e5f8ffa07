/**
 * Several hosts' journals merged into one history (src/events/merge-hosts.ts):
 * nothing lost or repeated, each host in its own seq order, and, when every
 * host's clock only moves forward, the whole ordered by (time, host, seq);
 * a failing source stops the merge with its error, an early stop closes
 * every source.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/events/envelope.js';
import { compareAcrossHosts, mergeHosts, type HostSource } from '../../src/events/merge-hosts.js';

const T0 = Date.UTC(2026, 0, 1);

/** Envelopes of `host` at these times (ms after T0), seq 1.. (only the fields the merge reads matter). */
function hostEvents(host: string, times: readonly number[]): Envelope[] {
  return times.map((t, i) => ({ host, seq: i + 1, at: new Date(T0 + t).toISOString() }) as Envelope);
}

async function* from<T>(xs: readonly T[]): AsyncGenerator<T> {
  for (const x of xs) yield x;
}

async function collect(source: AsyncIterable<Envelope>): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for await (const e of source) out.push(e);
  return out;
}

/** Times that only grow (a host's clock), or any times. */
const monotoneTimes = fc.array(fc.nat({ max: 5 }), { maxLength: 12 }).map((ds) => ds.map((_, i) => ds.slice(0, i + 1).reduce((a, b) => a + b, 0)));
const anyTimes = fc.array(fc.nat({ max: 20 }), { maxLength: 12 });
const hostsArb = (times: fc.Arbitrary<number[]>) =>
  fc.uniqueArray(fc.constantFrom('a', 'b', 'node-1', 'node-2', 'z'), { minLength: 1, maxLength: 4 }).chain((hosts) =>
    fc.tuple(...hosts.map((h) => times.map((ts) => ({ host: h, events: hostEvents(h, ts) })))),
  );

const key = (e: Envelope): string => `${e.host}#${e.seq}`;

describe('mergeHosts', () => {
  test.prop([hostsArb(monotoneTimes)])('every event once, ordered by (time, host, seq) when each host is', async (hosts) => {
    const merged = await collect(mergeHosts(hosts.map((h) => ({ host: h.host, events: from(h.events) }))));
    expect(merged.map(key).sort()).toEqual(hosts.flatMap((h) => h.events.map(key)).sort());
    for (let i = 1; i < merged.length; i++) expect(compareAcrossHosts(merged[i - 1]!, merged[i]!)).toBeLessThan(0);
  });

  test.prop([hostsArb(anyTimes)])('a host whose clock steps back keeps its own seq order; nothing lost', async (hosts) => {
    const merged = await collect(mergeHosts(hosts.map((h) => ({ host: h.host, events: from(h.events) }))));
    expect(merged).toHaveLength(hosts.reduce((n, h) => n + h.events.length, 0));
    for (const h of hosts) expect(merged.filter((e) => e.host === h.host).map((e) => e.seq)).toEqual(h.events.map((e) => e.seq));
  });

  it('same time: host name first, then seq', async () => {
    const merged = await collect(mergeHosts([{ host: 'b', events: from(hostEvents('b', [0, 0])) }, { host: 'a', events: from(hostEvents('a', [0, 1])) }]));
    expect(merged.map(key)).toEqual(['a#1', 'b#1', 'b#2', 'a#2']);
  });

  it("a failing host's error stops the merge; stopping early closes every source", async () => {
    const closed: string[] = [];
    const tracked = (host: string, events: Envelope[], fail = false): HostSource => ({
      host,
      events: (async function* () {
        try {
          yield* events;
          if (fail) throw new Error(`chain of ${host} broken`);
        } finally {
          closed.push(host);
        }
      })(),
    });
    await expect(collect(mergeHosts([tracked('a', hostEvents('a', [0, 1])), tracked('b', hostEvents('b', [0]), true)]))).rejects.toThrow('chain of b broken');
    expect(closed.sort()).toEqual(['a', 'b']);
    closed.length = 0;
    for await (const e of mergeHosts([tracked('a', hostEvents('a', [0, 1, 2])), tracked('b', hostEvents('b', [0, 1]))])) if (e.seq === 1) break;
    expect(closed.sort()).toEqual(['a', 'b']);
  });
});
