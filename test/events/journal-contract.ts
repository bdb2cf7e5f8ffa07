/**
 * The journal contract: what every adapter (memory, file, JetStream) must do.
 * Run it with `journalContract(name, makeJournal)` from a spec file; each case
 * gets a fresh, empty journal and cleans it up.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { ConcurrencyError } from '../../src/errors.js';
import { sealEnvelope, verifyChain } from '../../src/events/chain.js';
import { GENESIS_HASH, eventOf, type Envelope, type PendingEvent } from '../../src/events/envelope.js';
import type { Journal } from '../../src/events/journal.js';
import { Recorder } from '../../src/events/recorder.js';
import { batchesArb, counterIds, pending, steppingClock } from './arbitraries.js';

export interface JournalFixture {
  /** A fresh, empty journal. */
  readonly journal: Journal;
  /** Closes the journal and opens it again on the same storage (memory: the same instance). */
  readonly reopen: () => Promise<Journal>;
  /** Closes whatever is open and removes the storage. */
  readonly cleanup: () => Promise<void>;
}

export async function readAll(journal: Journal, fromSeq?: number): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for await (const env of journal.read(fromSeq === undefined ? undefined : { fromSeq })) out.push(env);
  return out;
}

/** Seals `count` simple events chained after `after` (null: from genesis). */
export function sealChain(count: number, after: Envelope | null = null, idPrefix = 'x'): Envelope[] {
  const out: Envelope[] = [];
  let prev = after;
  for (let i = 0; i < count; i++) {
    const seq = prev === null ? 1 : prev.seq + 1;
    const env = sealEnvelope(pending(seq), {
      seq,
      prevHash: prev === null ? GENESIS_HASH : prev.hash,
      id: `${idPrefix}-${seq}`,
      at: new Date(Date.UTC(2026, 0, 1) + seq).toISOString(),
      host: 'h1',
    });
    out.push(env);
    prev = env;
  }
  return out;
}

export function journalContract(name: string, makeJournal: () => Promise<JournalFixture>): void {
  async function withJournal(fn: (fx: JournalFixture) => Promise<void>): Promise<void> {
    const fx = await makeJournal();
    try {
      await fn(fx);
    } finally {
      await fx.cleanup();
    }
  }

  describe(`journal contract: ${name}`, () => {
    test('an empty journal has a null head and reads nothing', () =>
      withJournal(async ({ journal }) => {
        expect(await journal.head()).toBeNull();
        expect(await readAll(journal)).toEqual([]);
        expect(typeof journal.url).toBe('string');
        expect(journal.url.length).toBeGreaterThan(0);
      }));

    test('append then read gives the envelopes back in order; head follows', () =>
      withJournal(async ({ journal }) => {
        const envs = sealChain(5);
        await journal.append(envs.slice(0, 2));
        expect(await journal.head()).toEqual({ seq: 2, hash: envs[1]!.hash });
        await journal.append(envs.slice(2));
        expect(await journal.head()).toEqual({ seq: 5, hash: envs[4]!.hash });
        expect(await readAll(journal)).toEqual(envs);
        await journal.append([]);
        expect(await journal.head()).toEqual({ seq: 5, hash: envs[4]!.hash });
      }));

    test('read({ fromSeq }) starts at that seq', () =>
      withJournal(async ({ journal }) => {
        const envs = sealChain(6);
        await journal.append(envs);
        expect(await readAll(journal, 1)).toEqual(envs);
        expect(await readAll(journal, 4)).toEqual(envs.slice(3));
        expect(await readAll(journal, 6)).toEqual(envs.slice(5));
        expect(await readAll(journal, 7)).toEqual([]);
        expect(await readAll(journal, 100)).toEqual([]);
      }));

    test('an append with a seq gap rejects with ConcurrencyError and stores nothing', () =>
      withJournal(async ({ journal }) => {
        const envs = sealChain(4);
        await journal.append(envs.slice(0, 2));
        // seq 4 right after seq 2 (its prevHash is right for seq 3, so only the gap is wrong)
        await expect(journal.append([envs[3]!])).rejects.toBeInstanceOf(ConcurrencyError);
        // starting again from seq 1
        await expect(journal.append(envs.slice(0, 1))).rejects.toBeInstanceOf(ConcurrencyError);
        expect(await journal.head()).toEqual({ seq: 2, hash: envs[1]!.hash });
        expect(await readAll(journal)).toEqual(envs.slice(0, 2));
        await journal.append(envs.slice(2));
        expect(await readAll(journal)).toEqual(envs);
      }));

    test('an append with a wrong prevHash rejects with ConcurrencyError and stores nothing', () =>
      withJournal(async ({ journal }) => {
        const [first] = sealChain(1);
        await journal.append([first!]);
        // Another writer's seq 2 and 3, chained on a different seq 1.
        const foreign = sealChain(2, { ...first!, hash: 'f'.repeat(64) } as Envelope, 'other');
        expect(foreign[0]!.seq).toBe(2);
        await expect(journal.append(foreign)).rejects.toBeInstanceOf(ConcurrencyError);
        expect(await journal.head()).toEqual({ seq: 1, hash: first!.hash });
        expect(await readAll(journal)).toEqual([first]);
      }));

    test('an empty journal rejects a first envelope that is not seq 1 after genesis', () =>
      withJournal(async ({ journal }) => {
        const envs = sealChain(2);
        await expect(journal.append([envs[1]!])).rejects.toBeInstanceOf(ConcurrencyError);
        expect(await journal.head()).toBeNull();
        expect(await readAll(journal)).toEqual([]);
      }));

    test('a batch that breaks the chain inside is rejected as a whole', () =>
      withJournal(async ({ journal }) => {
        const envs = sealChain(4);
        await expect(journal.append([envs[0]!, envs[1]!, envs[3]!])).rejects.toThrow();
        expect(await journal.head()).toBeNull();
        expect(await readAll(journal)).toEqual([]);
      }));

    test('reopening keeps everything', () =>
      withJournal(async ({ journal, reopen }) => {
        const envs = sealChain(7);
        await journal.append(envs.slice(0, 3));
        await journal.append(envs.slice(3));
        const again = await reopen();
        expect(await again.head()).toEqual({ seq: 7, hash: envs[6]!.hash });
        expect(await readAll(again)).toEqual(envs);
        const more = sealChain(2, envs[6]!);
        await again.append(more);
        const third = await reopen();
        expect(await readAll(third)).toEqual([...envs, ...more]);
        expect(await verifyChain(third.read())).toEqual({ ok: true, count: 9, head: { seq: 9, hash: more[1]!.hash } });
      }));

    test('concurrent records through a Recorder keep the chain linear', () =>
      withJournal(async ({ journal }) => {
        const recorder = await Recorder.open({ journal, clock: steppingClock(), ids: counterIds(), host: 'h1' });
        const calls: Promise<Envelope[]>[] = [];
        for (let i = 0; i < 30; i++) {
          calls.push(recorder.record(Array.from({ length: 1 + (i % 3) }, (_, j) => pending(i * 10 + j))));
          if (i % 7 === 0) await Promise.resolve(); // some calls arrive while an append is in flight
        }
        const results = await Promise.all(calls);
        const stored = await readAll(journal);
        expect(stored).toEqual(results.flat());
        expect(stored.map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1));
        // each call got its own events, contiguous and in order
        for (const [i, envs] of results.entries()) {
          expect(envs.map((e) => (e.data as { instance: string }).instance)).toEqual(
            Array.from({ length: 1 + (i % 3) }, (_, j) => `i-${i * 10 + j}`),
          );
        }
        const report = await verifyChain(journal.read());
        expect(report).toEqual({ ok: true, count: stored.length, head: recorder.head() });
        expect(await journal.head()).toEqual(recorder.head());
      }));

    test.prop([batchesArb()], { numRuns: 25 })(
      'random batches of random events read back deep-equal and verify',
      (batches) =>
        withJournal(async ({ journal, reopen }) => {
          const recorder = await Recorder.open({ journal, clock: steppingClock(), ids: counterIds(), host: 'h1' });
          // half the batches concurrently, the rest one after the other
          const half = Math.ceil(batches.length / 2);
          const recorded = await Promise.all(batches.slice(0, half).map((b) => recorder.record(b)));
          for (const b of batches.slice(half)) recorded.push(await recorder.record(b));
          const expected = recorded.flat();
          const pendings: PendingEvent[] = batches.flat();
          expect(expected.map(eventOf)).toEqual(pendings.map((p) => p.event));
          expect(await readAll(journal)).toEqual(expected);
          const again = await reopen();
          expect(await readAll(again)).toEqual(expected);
          const report = await verifyChain(again.read());
          expect(report).toEqual({
            ok: true,
            count: expected.length,
            head: expected.length === 0 ? null : { seq: expected.length, hash: expected.at(-1)!.hash },
          });
          expect(await again.head()).toEqual(report.ok ? report.head : undefined);
        }),
    );
  });
}
