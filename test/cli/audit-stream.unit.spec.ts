/**
 * `vfun audit` streamed: the window (--limit reads no further, --tail keeps
 * the last n), the formats (json is exactly JSON.stringify of the array,
 * ndjson one envelope a line), the fixed-width table, and the summary added
 * up batch by batch equal to the summary of everything at once.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { mergeSummary, summarizeStream } from '../../src/cli/audit-commands.js';
import { printAudit, windowed, windowOf, type Window } from '../../src/cli/audit-stream.js';
import { tableRow, wrap } from '../../src/cli/audit-table.js';
import { summarize } from '../../src/cli/audit.js';
import { sealEnvelope } from '../../src/events/chain.js';
import { GENESIS_HASH, type Envelope, type PendingEvent } from '../../src/events/envelope.js';
import { pending, pendingArb } from '../events/arbitraries.js';

function seal(list: readonly PendingEvent[]): Envelope[] {
  const out: Envelope[] = [];
  let prev = GENESIS_HASH;
  list.forEach((p, i) => {
    const env = sealEnvelope(p, { seq: i + 1, prevHash: prev, id: `e${i + 1}`, at: '2026-01-01T00:00:00.000Z', host: 'h' });
    out.push(env);
    prev = env.hash;
  });
  return out;
}

/** A source that counts how many envelopes were pulled from it. */
function counting(envs: readonly Envelope[]): { source: AsyncIterable<Envelope>; pulled: () => number } {
  let n = 0;
  return {
    source: (async function* () {
      for (const e of envs) {
        n++;
        yield e;
      }
    })(),
    pulled: () => n,
  };
}

async function print(envs: readonly Envelope[], format: 'table' | 'json' | 'ndjson', w: Window, match: (e: Envelope) => boolean = () => true): Promise<string> {
  let out = '';
  await printAudit(counting(envs).source, match, format, w, async (t) => {
    out += t;
  });
  return out;
}

const windowArb: fc.Arbitrary<Window> = fc.oneof(
  fc.constant({ kind: 'all' } as const),
  fc.integer({ min: 1, max: 12 }).map((n) => ({ kind: 'limit', n }) as const),
  fc.integer({ min: 1, max: 12 }).map((n) => ({ kind: 'tail', n }) as const),
);

describe('vfun audit, streamed', () => {
  test.prop([fc.array(pendingArb, { maxLength: 25 }), windowArb, fc.nat(3)])('prints the first n, the last n or all of the matching events; json and ndjson as before', async (list, w, mod) => {
    const envs = seal(list);
    const match = (e: Envelope) => e.seq % 4 !== mod;
    const matching = envs.filter(match);
    const want = w.kind === 'all' ? matching : w.kind === 'limit' ? matching.slice(0, w.n) : matching.slice(Math.max(0, matching.length - w.n));
    expect(await print(envs, 'json', w, match)).toBe(`${JSON.stringify(want, null, 2)}\n`);
    expect(await print(envs, 'ndjson', w, match)).toBe(`${want.map((e) => JSON.stringify(e)).join('\n')}\n`);
    const table = await print(envs, 'table', w, match);
    expect(table.split('\n').filter((l) => /^ *\d+ \d{4}-/.test(l)).map((l) => Number(l.trim().split(' ')[0]))).toEqual(want.map((e) => e.seq));
    expect(table).toMatch(new RegExp(`^${want.length} events?( \\(.*\\))?$`, 'm'));
  });

  it('--limit stops reading the journal at the nth match', async () => {
    const envs = seal(Array.from({ length: 100 }, (_, i) => pending(i)));
    const { source, pulled } = counting(envs);
    const got: number[] = [];
    for await (const e of windowed(source, (e) => e.seq % 2 === 0, { kind: 'limit', n: 5 })) got.push(e.seq);
    expect(got).toEqual([2, 4, 6, 8, 10]);
    expect(pulled()).toBe(10);
  });

  it('keeps rows within 120 columns, cutting long names and wrapping what happened', () => {
    const [env] = seal([
      {
        event: { type: 'negotiation.nacked', data: { tenant: 'a-tenant-with-a-long-name', app: 'app', fn: 'crc32', kind: 'hw', reason: 'quota', detail: 'word '.repeat(40) } },
        scope: { tenant: 'a-tenant-with-a-long-name', app: 'app', fn: 'crc32', instance: null },
        causationId: null,
        correlationId: null,
      },
    ]);
    const lines = tableRow(env!).trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(2);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(120);
    expect(lines[0]).toContain('a-tenan… app');
    expect(wrap('abcdefghij', 4)).toEqual(['abcd', 'efgh', 'ij']);
  });

  it('refuses a bad count, and --limit with --tail', () => {
    expect(windowOf({ limit: '3' })).toEqual({ kind: 'limit', n: 3 });
    expect(() => windowOf({ tail: '0' })).toThrow(/--tail: expected a positive integer/);
    expect(() => windowOf({ limit: '1e3' })).toThrow(/--limit/);
    expect(() => windowOf({ limit: '1', tail: '1' })).toThrow(/not both/);
  });

  test.prop([fc.array(pendingArb, { maxLength: 40 }), fc.integer({ min: 1, max: 40 })])('the summary added up batch by batch is the summary of everything', async (list, cut) => {
    const envs = seal(list);
    const halves = [summarize(envs.slice(0, cut)), summarize(envs.slice(cut))];
    const merged = new Map<string, ReturnType<typeof summarize>[number]>();
    for (const r of halves.flat()) merged.set(r.tenant, merged.has(r.tenant) ? mergeSummary(merged.get(r.tenant)!, r) : r);
    const whole = summarize(envs);
    expect([...merged.values()].sort((a, b) => a.tenant.localeCompare(b.tenant))).toEqual(whole);
    expect(await summarizeStream(counting(envs).source)).toEqual(whole);
  });
});
