import { describe, expect, test } from 'vitest';
import { ConcurrencyError, ValidationError } from '../../src/errors.js';
import { verifyChain } from '../../src/events/chain.js';
import { GENESIS_HASH, type Envelope, type PendingEvent } from '../../src/events/envelope.js';
import type { Journal, JournalHead, ReadOptions } from '../../src/events/journal.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { Recorder } from '../../src/events/recorder.js';
import { counterIds, pending, steppingClock } from './arbitraries.js';
import { readAll, sealChain } from './journal-contract.js';

/** A memory journal whose appends can be made to fail, and that counts them. */
class FlakyJournal implements Journal {
  readonly url = 'memory:flaky';
  readonly inner = new MemoryJournal();
  appendCalls = 0;
  failNext = 0;
  head(): Promise<JournalHead | null> {
    return this.inner.head();
  }
  async append(envelopes: readonly Envelope[]): Promise<void> {
    this.appendCalls++;
    await Promise.resolve();
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('disk full');
    }
    await this.inner.append(envelopes);
  }
  read(options?: ReadOptions): AsyncIterable<Envelope> {
    return this.inner.read(options);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

function recorderOn(journal: Journal, head: JournalHead | null = null): Recorder {
  return new Recorder({ journal, clock: steppingClock(Date.UTC(2026, 0, 1)), ids: counterIds('evt'), host: 'h1', head });
}

describe('Recorder', () => {
  test('stamps id, at (ISO, from the clock), host, seq and the chain, in order', async () => {
    const journal = new MemoryJournal();
    const recorder = recorderOn(journal);
    expect(recorder.head()).toBeNull();
    const envs = await recorder.record([pending(1), pending(2)]);
    expect(envs.map((e) => [e.id, e.at, e.host, e.seq])).toEqual([
      ['evt-1', '2026-01-01T00:00:00.000Z', 'h1', 1],
      ['evt-2', '2026-01-01T00:00:00.001Z', 'h1', 2],
    ]);
    expect(envs[0]!.prevHash).toBe(GENESIS_HASH);
    expect(envs[1]!.prevHash).toBe(envs[0]!.hash);
    expect(envs[0]).toMatchObject({ tenant: 't1', app: 'app', fn: 'crc32', instance: 'i-1', causationId: 'cmd-1', correlationId: 'i-1' });
    expect(recorder.head()).toEqual({ seq: 2, hash: envs[1]!.hash });
    expect(await readAll(journal)).toEqual(envs);
  });

  test('open() continues after what the journal already holds', async () => {
    const journal = new MemoryJournal(sealChain(3));
    const recorder = await Recorder.open({ journal, clock: steppingClock(), ids: counterIds(), host: 'h1' });
    expect(recorder.head()).toEqual(await journal.head());
    const [env] = await recorder.record([pending(9)]);
    expect(env!.seq).toBe(4);
    expect((await verifyChain(journal.read())).ok).toBe(true);
  });

  test('record([]) resolves to [] without touching the journal', async () => {
    const journal = new FlakyJournal();
    expect(await recorderOn(journal).record([])).toEqual([]);
    expect(journal.appendCalls).toBe(0);
  });

  test('calls made while an append is in flight share the next append', async () => {
    const journal = new FlakyJournal();
    const recorder = recorderOn(journal);
    const first = recorder.record([pending(0)]);
    await Promise.resolve(); // the first call's append is now in flight
    const rest = Array.from({ length: 9 }, (_, i) => recorder.record([pending(i + 1), pending(i + 101)]));
    const results = await Promise.all([first, ...rest]);
    expect(journal.appendCalls).toBe(2);
    expect(results.map((r) => r.map((e) => e.seq))).toEqual([[1], ...Array.from({ length: 9 }, (_, i) => [2 + 2 * i, 3 + 2 * i])]);
    expect((await verifyChain(journal.read())).ok).toBe(true);
  });

  test('a failed append does not move the head; the error propagates; the next record reuses the seq', async () => {
    const journal = new FlakyJournal();
    const recorder = recorderOn(journal);
    await recorder.record([pending(1)]);
    const before = recorder.head();
    journal.failNext = 1;
    await expect(recorder.record([pending(2), pending(3)])).rejects.toThrow('disk full');
    expect(recorder.head()).toEqual(before);
    const [next] = await recorder.record([pending(4)]);
    expect(next!.seq).toBe(2);
    expect(next!.prevHash).toBe(before!.hash);
    expect(await readAll(journal)).toHaveLength(2);
    expect((await verifyChain(journal.read())).ok).toBe(true);
  });

  test('calls queued behind a failing append are not lost', async () => {
    const journal = new FlakyJournal();
    const recorder = recorderOn(journal);
    journal.failNext = 1;
    const failing = recorder.record([pending(1)]);
    await Promise.resolve();
    const queued = recorder.record([pending(2)]);
    await expect(failing).rejects.toThrow('disk full');
    const [env] = await queued;
    expect(env!.seq).toBe(1);
    expect(recorder.head()).toEqual({ seq: 1, hash: env!.hash });
  });

  test('a call whose events cannot be encoded fails alone', async () => {
    const journal = new MemoryJournal();
    const recorder = recorderOn(journal);
    const bad = { ...pending(2), event: { type: 'activation.started', data: { instance: 'i', capacity: Number.NaN } } } as PendingEvent;
    const [a, b, c] = await Promise.allSettled([recorder.record([pending(1)]), recorder.record([bad]), recorder.record([pending(3)])]);
    expect(a.status).toBe('fulfilled');
    expect(b.status).toBe('rejected');
    expect(b.status === 'rejected' && b.reason).toBeInstanceOf(ValidationError);
    expect(c.status === 'fulfilled' && c.value.map((e) => e.seq)).toEqual([2]);
    expect((await verifyChain(journal.read())).ok).toBe(true);
  });

  test('another writer makes the append fail with ConcurrencyError', async () => {
    const journal = new MemoryJournal();
    const recorder = recorderOn(journal);
    await journal.append(sealChain(1));
    await expect(recorder.record([pending(1)])).rejects.toBeInstanceOf(ConcurrencyError);
    expect(recorder.head()).toBeNull();
  });

  test('a clock that returns garbage is a ValidationError', async () => {
    const recorder = new Recorder({ journal: new MemoryJournal(), clock: { now: () => Number.NaN }, ids: counterIds(), host: 'h' });
    await expect(recorder.record([pending(1)])).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('MemoryJournal', () => {
  test('checks hashes on the way in', async () => {
    const journal = new MemoryJournal();
    const [env] = sealChain(1);
    await expect(journal.append([{ ...env!, host: 'forged' } as Envelope])).rejects.toBeInstanceOf(ValidationError);
    expect(await journal.head()).toBeNull();
  });

  test('can start with envelopes, checked like an append', async () => {
    const envs = sealChain(3);
    const journal = new MemoryJournal(envs);
    expect(journal.size).toBe(3);
    expect(await readAll(journal)).toEqual(envs);
    expect(() => new MemoryJournal(envs.slice(1))).toThrow(ConcurrencyError);
  });

  test('rejects a bad fromSeq', async () => {
    await expect(readAll(new MemoryJournal(), 0)).rejects.toBeInstanceOf(ValidationError);
  });

  test('a read sees the journal as it was when it started', async () => {
    const envs = sealChain(4);
    const journal = new MemoryJournal(envs.slice(0, 2));
    const seen: number[] = [];
    for await (const env of journal.read()) {
      seen.push(env.seq);
      if (env.seq === 1) await journal.append(envs.slice(2));
    }
    expect(seen).toEqual([1, 2]);
  });
});
