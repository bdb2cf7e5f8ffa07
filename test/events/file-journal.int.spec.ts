/**
 * What only the file journal does: group commit, the torn-tail rule, damage
 * detection by line, streaming reads with checkpoints. The shared behaviour
 * is in journal-contract.ts.
 */
import { appendFile, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { ConcurrencyError, JournalCorruptError, VirtFunError } from '../../src/errors.js';
import { encodeEnvelope } from '../../src/events/canonical.js';
import { verifyChain } from '../../src/events/chain.js';
import type { Envelope, PendingEvent } from '../../src/events/envelope.js';
import { FileJournal, verifyFile } from '../../src/events/adapters/file/index.js';
import { Recorder } from '../../src/events/recorder.js';
import { batchesArb, counterIds, pending, pendingArb, steppingClock } from './arbitraries.js';
import { readAll, sealChain } from './journal-contract.js';

let root: string;
let fileNo = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vfun-filejournal-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
function freshPath(): string {
  return join(root, `j${++fileNo}`, 'journal.vfj');
}

/** Byte offsets where each line starts, plus the file size at the end. */
function lineStarts(bytes: Buffer): number[] {
  const starts = [0];
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x0a && i + 1 < bytes.length) starts.push(i + 1);
  starts.push(bytes.length);
  return starts;
}

/** Records `count` events through a Recorder into a new file journal; returns them and the path. */
async function journalWith(events: Parameters<Recorder['record']>[0][]): Promise<{ path: string; envs: Envelope[] }> {
  const path = freshPath();
  const journal = await FileJournal.open(path);
  const recorder = await Recorder.open({ journal, clock: steppingClock(), ids: counterIds(), host: 'h1' });
  const envs: Envelope[] = [];
  for (const batch of events) envs.push(...(await recorder.record(batch)));
  await journal.close();
  return { path, envs };
}

async function collect(journal: FileJournal, fromSeq?: number): Promise<{ envs: Envelope[]; error: unknown }> {
  const envs: Envelope[] = [];
  try {
    for await (const env of journal.read(fromSeq === undefined ? undefined : { fromSeq })) envs.push(env);
    return { envs, error: null };
  } catch (error) {
    return { envs, error };
  }
}

describe('FileJournal: format and open', () => {
  test('one canonical envelope per line; the parent directory is created with mode 0700', async () => {
    const { path, envs } = await journalWith([[pending(1), pending(2)], [pending(3)]]);
    expect((await stat(dirname(path))).mode & 0o777).toBe(0o700);
    const text = await readFile(path, 'utf8');
    expect(text).toBe(envs.map((e) => encodeEnvelope(e).canonical + '\n').join(''));
    const journal = await FileJournal.open(path);
    expect(journal.openReport).toBeNull();
    expect(journal.url).toBe(`file:${path}`);
    expect(await journal.head()).toEqual({ seq: 3, hash: envs[2]!.hash });
    await journal.close();
    await journal.close(); // idempotent
    expect(await verifyFile(path)).toEqual({ ok: true, count: 3, head: { seq: 3, hash: envs[2]!.hash } });
  });

  test('appending or reading after close is refused', async () => {
    const journal = await FileJournal.open(freshPath());
    await journal.close();
    await expect(journal.append(sealChain(1))).rejects.toMatchObject({ code: 'JOURNAL_CLOSED' });
    await expect(collect(journal)).resolves.toMatchObject({ error: expect.any(VirtFunError) });
  });
});

describe('FileJournal: group commit', () => {
  test('appends made while a write is in flight share one write + fdatasync, and all resolve', async () => {
    const path = freshPath();
    const journal = await FileJournal.open(path);
    const envs = sealChain(20);
    const appends = envs.map((env) => journal.append([env])); // none awaited: each chains on the one before
    await Promise.all(appends);
    expect(journal.groupCommits).toBeGreaterThanOrEqual(1);
    expect(journal.groupCommits).toBeLessThan(20);
    expect(await journal.head()).toEqual({ seq: 20, hash: envs[19]!.hash });
    await journal.close();
    const again = await FileJournal.open(path);
    expect(await readAll(again)).toEqual(envs);
    await again.close();
  });

  test('groupCommitMs gathers appends for a while before writing', async () => {
    const journal = await FileJournal.open(freshPath(), { groupCommitMs: 5 });
    const envs = sealChain(10);
    await Promise.all(envs.map((env) => journal.append([env])));
    expect(journal.groupCommits).toBe(1);
    await journal.close();
    await expect(FileJournal.open(freshPath(), { groupCommitMs: -1 })).rejects.toThrow('groupCommitMs');
  });

  test('close() waits for pending appends', async () => {
    const path = freshPath();
    const journal = await FileJournal.open(path);
    const envs = sealChain(3);
    const pendingAppend = journal.append(envs);
    await journal.close();
    await expect(pendingAppend).resolves.toBeUndefined();
    const again = await FileJournal.open(path);
    expect(await readAll(again)).toEqual(envs);
    await again.close();
  });

  test('a journal whose file grew behind its back refuses to write', async () => {
    const path = freshPath();
    const journal = await FileJournal.open(path);
    const envs = sealChain(3);
    await journal.append(envs.slice(0, 1));
    await appendFile(path, encodeEnvelope(envs[1]!).canonical + '\n'); // another writer
    await expect(journal.append(envs.slice(1, 2))).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(journal.append(envs.slice(1, 2))).rejects.toBeInstanceOf(ConcurrencyError);
    await journal.close();
  });
});

describe('FileJournal: torn tail', () => {
  test.prop([batchesArb(4, 3).filter((b) => b.length > 0), fc.nat(), fc.array(pendingArb, { minLength: 1, maxLength: 3 })], {
    numRuns: 30,
  })('a last record cut anywhere is dropped on open; earlier events, head and later appends are fine', async (batches, cutAt, more) => {
    const { path, envs } = await journalWith(batches);
    const bytes = await readFile(path);
    const starts = lineStarts(bytes);
    const lastStart = starts.at(-2)!;
    // cut strictly inside the last line: keep between 1 byte of it and all of it but the newline
    const keep = lastStart + 1 + (cutAt % (bytes.length - lastStart - 1));
    await truncate(path, keep);

    const journal = await FileJournal.open(path);
    expect(journal.openReport).toMatchObject({ truncatedBytes: keep - lastStart, offset: lastStart });
    expect(journal.openReport!.reason).toMatch(/torn/);
    expect((await stat(path)).size).toBe(lastStart);
    const kept = envs.slice(0, -1);
    expect(await journal.head()).toEqual(kept.length === 0 ? null : { seq: kept.length, hash: kept.at(-1)!.hash });
    expect(await readAll(journal)).toEqual(kept);

    const recorder = await Recorder.open({ journal, clock: steppingClock(), ids: counterIds('after'), host: 'h1' });
    const added = await recorder.record(more);
    expect(added[0]!.seq).toBe(kept.length + 1);
    await journal.close();
    const report = await verifyFile(path);
    expect(report).toEqual({ ok: true, count: kept.length + more.length, head: recorder.head() });
  });

  test.each([
    ['not JSON', (line: string) => line.slice(0, 10) + '\u0000' + line.slice(11), /not valid JSON/],
    ['a changed field', (line: string) => line.replace('"host":"h1"', '"host":"h2"'), /hash/],
    ['not canonical', (line: string) => line.replace('{', '{ '), /canonical/],
    ['an empty line', () => '', /not valid JSON/],
  ])('a complete last line that is %s is damage, not a torn write: the writer refuses, nothing changes; read-only reads report it', async (_name, damage, reason) => {
    const { path, envs } = await journalWith([[pending(1), pending(2), pending(3)]]);
    const lines = (await readFile(path, 'utf8')).split('\n');
    lines[2] = damage(lines[2]!);
    await writeFile(path, lines.join('\n'));
    const before = await readFile(path);
    const error = await FileJournal.open(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JournalCorruptError);
    expect((error as JournalCorruptError).location).toBe(`${path}:3`);
    expect((error as Error).message).toMatch(reason);
    expect((error as Error).message).toMatch(/line 3\b.*its last complete line.*not a torn write.*Nothing was changed.*truncate -s/);
    expect(await readFile(path)).toEqual(before);
    // The lock was given back: a read-only open works, and its read stops at the damaged line.
    const ro = await FileJournal.open(path, { readOnly: true });
    expect(ro.openReport).toBeNull();
    expect(await ro.head()).toEqual({ seq: 2, hash: envs[1]!.hash });
    const { envs: read, error: readError } = await collect(ro);
    expect(read).toEqual(envs.slice(0, 2));
    expect((readError as Error).message).toMatch(/line 3 is damaged after seq 2/);
    await ro.close();
    expect(await verifyFile(path)).toMatchObject({ ok: false, count: 2, firstBad: { line: 3 } });
    expect(await readFile(path)).toEqual(before);
  });

  test('a complete last line that is a good envelope but does not chain (an earlier line repeated) is refused', async () => {
    const { path, envs } = await journalWith([[pending(1), pending(2), pending(3)]]);
    await appendFile(path, encodeEnvelope(envs[1]!).canonical + '\n');
    const before = await readFile(path);
    await expect(FileJournal.open(path)).rejects.toThrow(/line 4 \(seq 2\), its last complete line, seq 2 where 4 was expected/);
    expect(await readFile(path)).toEqual(before);
  });

  test('a torn record after a damaged complete line: the writer refuses and cuts nothing, not even the torn part', async () => {
    const { path, envs } = await journalWith([[pending(1), pending(2), pending(3)]]);
    await appendFile(path, 'garbage\n{"seq":5,"tor');
    const before = await readFile(path);
    await expect(FileJournal.open(path)).rejects.toThrow(/line 4 \(seq 4 expected\), its last complete line, is not valid JSON/);
    expect(await readFile(path)).toEqual(before);
    const ro = await FileJournal.open(path, { readOnly: true });
    expect(await ro.head()).toEqual({ seq: 3, hash: envs[2]!.hash });
    const { envs: read, error } = await collect(ro);
    expect(read).toEqual(envs);
    expect((error as Error).message).toMatch(/line 4 is damaged after seq 3: is not valid JSON/);
    await ro.close();
  });

  test('verifyFile (which never repairs) names a torn last line', async () => {
    const { path } = await journalWith([[pending(1), pending(2)]]);
    const size = (await stat(path)).size;
    await truncate(path, size - 1);
    const report = await verifyFile(path);
    expect(report).toMatchObject({ ok: false, count: 1, firstBad: { line: 2, seq: 2, id: null } });
  });
});

describe('FileJournal: damage before the last line', () => {
  let original: { path: string; envs: Envelope[] };
  let bytes: Buffer;
  let starts: number[];
  beforeAll(async () => {
    const odd: PendingEvent = {
      event: { type: 'vfund.stopped', data: { reason: 'café ☕ "quoted" \\ \u0001 \ud800 😀 1e21' } },
      scope: { tenant: 'tenant-é', app: null, fn: null, instance: null },
      causationId: null,
      correlationId: null,
    };
    original = await journalWith([[pending(1), odd, pending(3)], [pending(4)], [odd, pending(6)], [pending(7), pending(8)]]);
    bytes = await readFile(original.path);
    starts = lineStarts(bytes);
  });

  test.prop([fc.nat(), fc.integer({ min: 1, max: 255 })], { numRuns: 150 })(
    'changing any one byte is caught at exactly the line that holds it',
    async (at, delta) => {
      const lastStart = starts.at(-2)!;
      const pos = at % lastStart; // anywhere before the last line (newlines included)
      const k = starts.findIndex((s, i) => s <= pos && pos < starts[i + 1]!) + 1; // 1-based line holding pos
      const damaged = Buffer.from(bytes);
      damaged[pos] = (damaged[pos]! + delta) % 256;
      const path = freshPath();
      await FileJournal.open(path).then((j) => j.close()); // creates the directory
      await writeFile(path, damaged);

      const report = await verifyFile(path);
      expect(report.ok).toBe(false);
      if (report.ok) return;
      expect(report.count).toBe(k - 1);
      expect(report.firstBad.line).toBe(k);
      expect(report.firstBad.reason).toMatch(new RegExp(`^line ${k} `));

      if (pos === lastStart - 1) {
        // The newline before the last line was changed: the last two lines are now one complete, damaged last line.
        await expect(FileJournal.open(path)).rejects.toBeInstanceOf(JournalCorruptError);
        expect(await readFile(path)).toEqual(damaged);
        return;
      }
      const journal = await FileJournal.open(path);
      expect(journal.openReport).toBeNull();
      const n = original.envs.length;
      expect(await journal.head()).toEqual({ seq: n, hash: original.envs[n - 1]!.hash });
      const { envs, error } = await collect(journal);
      expect(envs).toEqual(original.envs.slice(0, k - 1));
      expect(error).toBeInstanceOf(JournalCorruptError);
      expect((error as JournalCorruptError).location).toBe(`${path}:${k}`);
      expect((error as Error).message).toMatch(k === 1 ? /before the first event/ : new RegExp(`after seq ${k - 1}\\b`));
      const viaRead = await verifyChain(journal.read());
      expect(viaRead).toMatchObject({ ok: false, count: k - 1, firstBad: { seq: k } });
      await journal.close();
    },
  );

  test.prop([fc.nat(), fc.integer({ min: 1, max: 255 }), fc.option(fc.string({ minLength: 1, maxLength: 40 }).filter((t) => !t.includes('\n')))], { numRuns: 120 })(
    'changing any one byte of the complete last line (a torn record after it or not): the writer refuses and changes nothing; readers stop there',
    async (at, delta, tornAfter) => {
      const lastStart = starts.at(-2)!;
      const k = starts.length - 1; // the last line's number
      const pos = lastStart + (at % (bytes.length - 1 - lastStart)); // a byte of the last line, its newline excluded
      const damaged = Buffer.concat([bytes, Buffer.from(tornAfter ?? '', 'utf8')]);
      damaged[pos] = (damaged[pos]! + delta) % 256;
      const path = freshPath();
      await FileJournal.open(path).then((j) => j.close()); // creates the directory
      await writeFile(path, damaged);

      await expect(FileJournal.open(path)).rejects.toThrow(/refusing to write to the journal: line \d+.*its last complete line.*not a torn write.*Nothing was changed/s);
      expect(await readFile(path)).toEqual(damaged);

      const report = await verifyFile(path);
      expect(report).toMatchObject({ ok: false, count: k - 1, firstBad: { line: k } });
      const ro = await FileJournal.open(path, { readOnly: true });
      const { envs, error } = await collect(ro);
      await ro.close();
      expect(envs).toEqual(original.envs.slice(0, k - 1));
      expect(error).toBeInstanceOf(JournalCorruptError);
      expect((error as JournalCorruptError).location).toBe(`${path}:${k}`);
      expect(await readFile(path)).toEqual(damaged);
    },
  );

  test('a damaged middle line: open succeeds, read stops there, appends continue after the last line', async () => {
    const path = freshPath();
    await FileJournal.open(path).then((j) => j.close());
    const lines = bytes.toString('utf8').split('\n');
    lines[3] = '{"this is":"not an envelope"}';
    await writeFile(path, lines.join('\n'));
    const journal = await FileJournal.open(path);
    expect(journal.openReport).toBeNull();
    const n = original.envs.length;
    expect(await journal.head()).toEqual({ seq: n, hash: original.envs[n - 1]!.hash });
    const more = sealChain(1, original.envs[n - 1]!);
    await journal.append(more);
    const { envs, error } = await collect(journal);
    expect(envs).toEqual(original.envs.slice(0, 3));
    expect(error).toBeInstanceOf(JournalCorruptError);
    expect((error as Error).message).toMatch(/line 4 is damaged after seq 3/);
    // reading from a later seq does not skip the damage
    expect((await collect(journal, 6)).error).toBeInstanceOf(JournalCorruptError);
    await journal.close();
    expect(await verifyFile(path)).toMatchObject({ ok: false, count: 3, firstBad: { line: 4, seq: 4 } });
  });
});

describe('FileJournal: reads', () => {
  test('fromSeq works across checkpoints, on a fresh open and after a full read', async () => {
    const path = freshPath();
    const journal = await FileJournal.open(path);
    const envs = sealChain(2600);
    for (let i = 0; i < envs.length; i += 500) await journal.append(envs.slice(i, i + 500));
    await journal.close();

    const fresh = await FileJournal.open(path);
    expect((await collect(fresh, 2049)).envs).toEqual(envs.slice(2048));
    expect(await readAll(fresh)).toEqual(envs); // passes checkpoints 1024 and 2048
    for (const from of [1, 1024, 1025, 2048, 2049, 2600, 2601]) {
      expect((await readAll(fresh, from)).map((e) => e.seq)).toEqual(envs.slice(from - 1).map((e) => e.seq));
    }
    // appends after a full read extend the checked prefix
    const more = sealChain(1000, envs.at(-1)!);
    await fresh.append(more.slice(0, 600));
    await fresh.append(more.slice(600));
    const all = [...envs, ...more];
    for (const from of [3072, 3073, 3600]) expect(await readAll(fresh, from)).toEqual(all.slice(from - 1));
    expect(await readAll(fresh)).toEqual(all);
    await fresh.close();
    expect(await verifyFile(path)).toMatchObject({ ok: true, count: 3600 });
  });

  test('a read sees the durable file as it was when it started, and can stop early', async () => {
    const journal = await FileJournal.open(freshPath());
    const envs = sealChain(6);
    await journal.append(envs.slice(0, 3));
    const seen: number[] = [];
    for await (const env of journal.read()) {
      seen.push(env.seq);
      if (env.seq === 1) await journal.append(envs.slice(3));
    }
    expect(seen).toEqual([1, 2, 3]);
    for await (const env of journal.read({ fromSeq: 2 })) {
      expect(env.seq).toBe(2);
      break;
    }
    await expect(collect(journal, 0)).resolves.toMatchObject({ error: expect.any(Error) });
    await journal.close();
  });

  test('lines longer than the read buffer are fine', async () => {
    const journal = await FileJournal.open(freshPath());
    const big = { ...pending(1), event: { type: 'vfund.stopped' as const, data: { reason: 'x'.repeat(3 << 20) } } };
    const recorder = await Recorder.open({ journal, clock: steppingClock(), ids: counterIds(), host: 'h1' });
    const envs = await recorder.record([pending(0), big, pending(2)]);
    envs.push(...(await recorder.record([big]))); // a long last line too: open reads it backwards
    const again = await FileJournal.open(journal.path, { readOnly: true }); // the first one still writes it
    expect(again.openReport).toBeNull();
    expect(await again.head()).toEqual(recorder.head());
    expect(await readAll(again)).toEqual(envs);
    await journal.close();
    await again.close();
  });
});
