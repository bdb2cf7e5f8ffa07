/**
 * Events waiting in the outbox as read-only tools see them: what the journal
 * (its head) does not hold yet, continuing its chain; anything else is named.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { JournalCorruptError } from '../../src/errors.js';
import { pendingAfter } from '../../src/events/adapters/pending.js';
import { parseOutbox } from '../../src/events/adapters/outbox-lines.js';
import { encodeEnvelope } from '../../src/events/canonical.js';
import type { Envelope } from '../../src/events/envelope.js';
import type { JournalHead } from '../../src/events/journal.js';
import { printAudit } from '../../src/cli/audit-stream.js';
import { newTally, outboxPathOf, withPending, type Listed } from '../../src/cli/read-journal.js';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sealChain } from './journal-contract.js';

const chain = sealChain(12);
const headOf = (n: number): JournalHead | null => (n === 0 ? null : { seq: n, hash: chain[n - 1]!.hash });
const lines = (envs: readonly Envelope[]): string => envs.map((e) => encodeEnvelope(e).canonical + '\n').join('');

describe('pendingAfter', () => {
  test.prop([fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 12 })])(
    'an outbox slice [from, to) of the chain, journal head h: the pending events are those after h, when the slice reaches h',
    (h, a, b) => {
      const [from, to] = a <= b ? [a, b] : [b, a];
      const outbox = chain.slice(from, to); // seqs from+1 .. to
      const pending = (): Envelope[] => pendingAfter(headOf(h), outbox, '/o');
      if (from === to || from <= h) {
        expect(pending()).toEqual(from === to ? [] : chain.slice(h, Math.max(h, to)));
      } else {
        // The outbox starts after h + 1: events h+1..from are in neither.
        expect(pending).toThrow(new RegExp(`outbox starts at seq ${from + 1}, after .*seq ${h + 1}\\.\\.${from} are in neither`));
      }
    },
  );

  test('an outbox event at the head that differs from the journal, or a first pending one that does not chain, is named', () => {
    const other = sealChain(6, null, 'forged');
    expect(() => pendingAfter(headOf(4), other, '/o')).toThrow(/outbox seq 4 \(event forged-4\) differs from the journal's seq 4/);
    expect(() => pendingAfter(headOf(4), other.slice(4), '/o')).toThrow(JournalCorruptError);
    expect(() => pendingAfter(headOf(4), other.slice(4), '/o')).toThrow(/outbox seq 5 \(event forged-5\) does not chain on the journal's head seq 4/);
    expect(() => pendingAfter(null, other.slice(1), '/o')).toThrow(/outbox starts at seq 2, after the empty journal/);
    expect(pendingAfter(null, chain.slice(0, 2), '/o')).toEqual(chain.slice(0, 2));
  });
});

describe('parseOutbox', () => {
  test('a torn last record is left out; a damaged complete line, last or not, is named', () => {
    expect(parseOutbox(Buffer.from(lines(chain.slice(3, 6)) + '{"torn'), '/o')).toMatchObject({ envelopes: chain.slice(3, 6), torn: expect.stringMatching(/torn/) });
    expect(() => parseOutbox(Buffer.from(lines(chain.slice(3, 5)) + 'x\n'), '/o')).toThrow(/\/o:3: outbox line 3, its last complete line \(not a torn write/);
    expect(() => parseOutbox(Buffer.from(lines([chain[0]!, chain[2]!, chain[3]!])), '/o')).toThrow(/\/o:2: outbox line 2 seq 3 where 2 was expected/);
  });
});

describe('parseOutbox: generated damage of the last complete line', () => {
  const text = Buffer.from(lines(chain.slice(2, 7)));
  const lastStart = text.lastIndexOf(0x0a, text.length - 2) + 1;
  test.prop([fc.nat(), fc.integer({ min: 1, max: 255 }), fc.option(fc.string({ minLength: 1, maxLength: 20 }).filter((t) => !t.includes('\n')))])(
    'any one byte of it changed (a torn record after it or not) is refused, naming it; never read as a torn write',
    (at, delta, torn) => {
      const damaged = Buffer.concat([text, Buffer.from(torn ?? '', 'utf8')]);
      const pos = lastStart + (at % (text.length - 1 - lastStart));
      damaged[pos] = (damaged[pos]! + delta) % 256;
      // A byte turned into a newline splits the line in two: the first half is the damaged line 5 then.
      expect(() => parseOutbox(damaged, '/o')).toThrow(/^\/o:5: outbox line 5/);
    },
  );
});

describe('vfun audit with pending events', () => {
  test('printAudit lists them after the journal, marked in every format', async () => {
    const listed: Listed[] = [...chain.slice(0, 3), ...chain.slice(3, 5).map((e) => ({ ...e, pending: true as const }))];
    const print = async (format: 'table' | 'json' | 'ndjson') => {
      let out = '';
      await printAudit(
        (async function* () {
          yield* listed;
        })(),
        () => true,
        format,
        { kind: 'all' },
        async (t) => {
          out += t;
        },
      );
      return out;
    };
    const ndjson = (await print('ndjson')).trim().split('\n').map((l) => JSON.parse(l) as Listed);
    expect(ndjson.map((e) => [e.seq, e.pending])).toEqual([[1, undefined], [2, undefined], [3, undefined], [4, true], [5, true]]);
    const json = JSON.parse(await print('json')) as Listed[];
    expect(json.filter((e) => e.pending === true).map((e) => e.seq)).toEqual([4, 5]);
    const table = await print('table');
    expect(table).toMatch(/^ {5}4\* /m);
    expect(table).not.toMatch(/^ {5}3\* /m);
    expect(table).toMatch(/\n5 events\n2 of them pending \(seq\*: in the outbox, not yet in the journal\)\n$/);
  });

  test('withPending: the journal, then the outbox after its last event, counted; no outbox for a file journal', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vfun-pending-unit-'));
    try {
      const outbox = join(dir, 'admin', 'outbox.ndjson');
      await mkdir(join(dir, 'admin'));
      await writeFile(outbox, lines(chain.slice(2, 6)));
      const source = async function* () {
        yield* chain.slice(0, 4);
      };
      const tally = newTally();
      const out: Listed[] = [];
      for await (const e of withPending(source(), { root: dir, journal: 'nats://127.0.0.1:1' }, tally)) out.push(e);
      expect(out.map((e) => [e.seq, e.pending === true])).toEqual([[1, false], [2, false], [3, false], [4, false], [5, true], [6, true]]);
      expect(tally).toEqual({ journal: 4, pending: 2, outbox });
      expect(outboxPathOf({ root: dir, journal: 'nats://h:1?outbox=/x/o.ndjson&host=a' })).toBe('/x/o.ndjson');
      expect(outboxPathOf({ root: dir, journal: `file:${join(dir, 'j.ndjson')}` })).toBeNull();
      const fileTally = newTally();
      for await (const e of withPending(source(), { root: dir, journal: `file:${join(dir, 'j.ndjson')}` }, fileTally)) void e;
      expect(fileTally).toEqual({ journal: 4, pending: 0, outbox: null });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
