/**
 * The file journal's segments on disk: the active file closes only after a
 * checkpoint once it is big enough; reads go across segments (and follow a
 * rotation made by another process); archived segments are named; a crash
 * between the rename and the new active file loses nothing.
 */
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { JournalCorruptError } from '../../src/errors.js';
import { encodeEnvelope } from '../../src/events/canonical.js';
import { sealEnvelope } from '../../src/events/chain.js';
import { GENESIS_HASH, HOST_SCOPE, type Envelope, type PendingEvent } from '../../src/events/envelope.js';
import { FileJournal, verifyFile } from '../../src/events/adapters/file/index.js';
import { segmentPath } from '../../src/events/adapters/file/segments.js';
import { pending } from './arbitraries.js';
import { readAll } from './journal-contract.js';

let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vfun-segments-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
const freshPath = (): string => join(root, `j${++n}`, 'journal.ndjson');

/** Seals events after `after`: `type` gives them that type (journal.checkpoint: the type the journal closes segments after). */
function seal(count: number, after: Envelope | null, checkpoint: boolean | string = false): Envelope[] {
  const out: Envelope[] = [];
  let prev = after;
  for (let i = 0; i < count; i++) {
    const seq = (prev?.seq ?? 0) + 1;
    const type = checkpoint === true ? 'journal.checkpoint' : checkpoint;
    const p: PendingEvent =
      type !== false
        ? ({ event: { type, data: { treeSize: seq - 1 } }, scope: HOST_SCOPE, causationId: null, correlationId: null } as unknown as PendingEvent)
        : pending(seq);
    const env = sealEnvelope(p, { seq, prevHash: prev?.hash ?? GENESIS_HASH, id: `e-${seq}`, at: new Date(Date.UTC(2026, 0, 1) + seq).toISOString(), host: 'h1' });
    out.push(env);
    prev = env;
  }
  return out;
}

/** Appends `count` events, then one checkpoint when `checkpoint`; returns all appended. */
async function appendSome(journal: FileJournal, count: number, checkpoint: boolean, after: Envelope | null): Promise<Envelope[]> {
  const events = seal(count, after);
  const all = checkpoint ? [...events, ...seal(1, events.at(-1) ?? after, true)] : events;
  await journal.append(all);
  return all;
}

const sizeOf = (envs: readonly Envelope[]): number => envs.reduce((b, e) => b + Buffer.byteLength(encodeEnvelope(e).canonical) + 1, 0);

describe('FileJournal: segments', () => {
  test('the active file closes only right after an append ending with a checkpoint, once it has reached segmentBytes', async () => {
    const path = freshPath();
    const journal = await FileJournal.open(path, { segmentBytes: 4000 });
    const all: Envelope[] = [];
    all.push(...(await appendSome(journal, 3, true, null))); // a checkpoint, but small
    expect(journal.closedSegments).toEqual([]);
    all.push(...(await appendSome(journal, 30, false, all.at(-1)!))); // big, but no checkpoint
    expect(sizeOf(all)).toBeGreaterThan(4000);
    expect(journal.closedSegments).toEqual([]);
    // A checkpoint in the middle of an append does not close it either.
    const mid = [...seal(1, all.at(-1)!, true)];
    mid.push(...seal(1, mid[0]!));
    await journal.append(mid);
    all.push(...mid);
    expect(journal.closedSegments).toEqual([]);
    all.push(...(await appendSome(journal, 2, true, all.at(-1)!)));
    const first = all.length;
    expect(journal.closedSegments).toEqual([{ path: segmentPath(path, 1, first), first: 1, last: first }]);
    expect((await stat(path)).size).toBe(0);
    expect((await stat(segmentPath(path, 1, first))).mode & 0o777).toBe(0o600);
    // Appends go on in the new active file; reads go across.
    all.push(...(await appendSome(journal, 40, true, all.at(-1)!)));
    expect(journal.closedSegments.map((s) => [s.first, s.last])).toEqual([[1, first], [first + 1, all.length]]);
    all.push(...(await appendSome(journal, 5, false, all.at(-1)!)));
    expect(await readAll(journal)).toEqual(all);
    for (const from of [1, first, first + 1, first + 2, all.length - 3, all.length]) expect(await readAll(journal, from), `from ${from}`).toEqual(all.slice(from - 1));
    expect(await journal.head()).toEqual({ seq: all.length, hash: all.at(-1)!.hash });
    await journal.close();
    expect((await readdir(dirname(path))).sort()).toEqual(
      ['journal.ndjson', 'journal.ndjson.lock', segmentPath('journal.ndjson', 1, first), segmentPath('journal.ndjson', first + 1, first + 41)].sort(),
    );

    // Reopened, for writing and read-only: same events, same head; the writer goes on.
    const ro = await FileJournal.open(path, { readOnly: true });
    expect(await readAll(ro)).toEqual(all);
    await ro.close();
    const again = await FileJournal.open(path, { segmentBytes: 4000 });
    expect(await again.head()).toEqual({ seq: all.length, hash: all.at(-1)!.hash });
    all.push(...(await appendSome(again, 1, false, all.at(-1)!)));
    expect(await readAll(again)).toEqual(all);
    await again.close();
  });

  test('a reader opened before another process closed the segment follows the renamed file', async () => {
    const path = freshPath();
    const writer = await FileJournal.open(path, { segmentBytes: 1 });
    const before = await appendSome(writer, 4, false, null);
    const ro = await FileJournal.open(path, { readOnly: true });
    const after = await appendSome(writer, 1, true, before.at(-1)!); // closes the active file
    expect(writer.closedSegments).toHaveLength(1);
    await appendSome(writer, 2, false, after.at(-1)!); // the new active file
    expect(await readAll(ro)).toEqual(before); // what the reader saw at open, from the renamed file
    await ro.close();
    await writer.close();
  });

  test('archived segments: reading from 1 names what is missing and where to start; reading from there works; the writer goes on', async () => {
    const path = freshPath();
    const journal = await FileJournal.open(path, { segmentBytes: 1 });
    const all: Envelope[] = [];
    for (let i = 0; i < 3; i++) all.push(...(await appendSome(journal, 3, true, all.at(-1) ?? null))); // three segments of 4
    all.push(...(await appendSome(journal, 2, false, all.at(-1)!)));
    await journal.close();
    const archive = join(root, `archive${n}`);
    await mkdir(archive);
    await rename(segmentPath(path, 1, 4), join(archive, 'first'));
    await rename(segmentPath(path, 5, 8), join(archive, 'second'));

    const ro = await FileJournal.open(path, { readOnly: true });
    const err = await readAll(ro).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JournalCorruptError);
    expect((err as Error).message).toMatch(/seqs 1\.\.8 are not here, needed to read from seq 1: .*archived or removed.*read from seq 9 on/);
    await expect(readAll(ro, 6)).rejects.toThrow(/seqs 1\.\.8 are not here, needed to read from seq 6/);
    expect(await readAll(ro, 9)).toEqual(all.slice(8));
    expect(await readAll(ro, 13)).toEqual(all.slice(12));
    await ro.close();

    const writer = await FileJournal.open(path, { segmentBytes: 1 });
    expect(await writer.head()).toEqual({ seq: 14, hash: all[13]!.hash });
    all.push(...(await appendSome(writer, 1, false, all.at(-1)!)));
    expect(await readAll(writer, 9)).toEqual(all.slice(8));
    await writer.close();

    // The middle one archived only: reading from 1 stops before seq 5, from 9 works.
    await rename(join(archive, 'first'), segmentPath(path, 1, 4));
    const mid = await FileJournal.open(path, { readOnly: true });
    await expect(readAll(mid)).rejects.toThrow(/seqs 5\.\.8 are not here, needed to read from seq 1.*read from seq 9 on/);
    expect(await readAll(mid, 9)).toEqual(all.slice(8));
    await mid.close();
    // The newest closed segment archived, an older one kept: the active file is read on its own prevHash.
    await rename(segmentPath(path, 9, 12), join(archive, 'third'));
    await rename(join(archive, 'second'), segmentPath(path, 5, 8));
    const newest = await FileJournal.open(path, { readOnly: true });
    await expect(readAll(newest)).rejects.toThrow(/seqs 9\.\.12 are not here, needed to read from seq 1.*read from seq 13 on/);
    expect(await readAll(newest, 13)).toEqual(all.slice(12));
    await newest.close();
  });

  test('readFromLast finds the last event of a type in the active file or in a closed segment, and reads across from there', async () => {
    const path = freshPath();
    const journal = await FileJournal.open(path, { segmentBytes: 1 });
    const all: Envelope[] = [];
    const add = async (envs: Envelope[]) => {
      await journal.append(envs);
      all.push(...envs);
    };
    expect(await journal.readFromLast('state.snapshot')).toBeNull();
    await add(seal(2, null));
    await add(seal(1, all.at(-1)!, 'state.snapshot')); // seq 3
    await add(seal(1, all.at(-1)!));
    await add(seal(1, all.at(-1)!, true)); // segment 1..5
    await add(seal(2, all.at(-1)!));
    await add(seal(1, all.at(-1)!, true)); // segment 6..8
    await add(seal(2, all.at(-1)!)); // active 9..10
    expect(journal.closedSegments.map((x) => [x.first, x.last])).toEqual([[1, 5], [6, 8]]);
    const collect = async (it: AsyncIterable<Envelope> | null) => {
      const out: Envelope[] = [];
      for await (const e of it ?? []) out.push(e);
      return out;
    };
    expect(await collect(await journal.readFromLast('state.snapshot'))).toEqual(all.slice(2));
    expect(await collect(await journal.readFromLast('journal.checkpoint'))).toEqual(all.slice(7));
    await add(seal(1, all.at(-1)!, 'state.snapshot')); // seq 11, in the active file
    await add(seal(1, all.at(-1)!));
    expect(await collect(await journal.readFromLast('state.snapshot'))).toEqual(all.slice(10));
    await journal.close();
    // Read-only, with the oldest segment archived: still found without it.
    await rename(segmentPath(path, 1, 5), `${path}.archived`);
    const ro = await FileJournal.open(path, { readOnly: true });
    expect(await collect(await ro.readFromLast('journal.checkpoint'))).toEqual(all.slice(7));
    expect(await collect(await ro.readFromLast('state.snapshot'))).toEqual(all.slice(10));
    await ro.close();
  });

  test('a crash between the rename and the new active file: readers and the next writer lose nothing', async () => {
    const path = freshPath();
    const journal = await FileJournal.open(path, { segmentBytes: 1 });
    const all = await appendSome(journal, 5, false, null);
    await journal.close();
    await rename(path, segmentPath(path, 1, 5)); // the rename happened, the new file did not

    const ro = await FileJournal.open(path, { readOnly: true });
    expect(await ro.head()).toEqual({ seq: 5, hash: all[4]!.hash });
    expect(await readAll(ro)).toEqual(all);
    await ro.close();
    const writer = await FileJournal.open(path);
    expect(writer.openReport).toBeNull();
    expect(await writer.head()).toEqual({ seq: 5, hash: all[4]!.hash });
    all.push(...(await appendSome(writer, 2, false, all.at(-1)!)));
    expect(await readAll(writer)).toEqual(all);
    await writer.close();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  test('a segment whose content does not match its name, or that does not chain on the one before, is damage', async () => {
    const path = freshPath();
    await mkdir(dirname(path), { recursive: true });
    const all = seal(9, null);
    const text = (envs: readonly Envelope[]) => envs.map((e) => encodeEnvelope(e).canonical + '\n').join('');
    await writeFile(segmentPath(path, 1, 4), text(all.slice(0, 4)));
    await writeFile(segmentPath(path, 5, 7), text(all.slice(4, 6))); // ends at 6, its name says 7
    await writeFile(path, text(all.slice(6)));
    const ro = await FileJournal.open(path, { readOnly: true });
    await expect(readAll(ro)).rejects.toThrow(/segment journal\.ndjson\.000000000005-000000000007 ends at seq 6, where its name says 7/);
    await ro.close();
    expect(await verifyFile(path)).toMatchObject({ ok: false, count: 6, firstBad: { reason: expect.stringMatching(/ends at seq 6, where its name says 7/) } });
    // The writer does not go on after a segment whose last line is not what its name says.
    await writeFile(path, '');
    await expect(FileJournal.open(path)).rejects.toThrow(/000000000007: refusing to write to the journal: the segment ends at seq 6, where its name says 7/);

    await writeFile(segmentPath(path, 5, 7), text(seal(3, null).slice(0, 3).map((e, i) => ({ ...e, seq: 5 + i })))); // right seqs, wrong chain
    expect((await verifyFile(path)).ok).toBe(false);
  });

  test.prop([fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 5 }), fc.nat()], { numRuns: 25 })(
    'verifyFile and read() agree with the events across any split into segments, with or without the older ones archived',
    async (sizes, active, archivedCount) => {
      const path = freshPath();
      await mkdir(dirname(path), { recursive: true });
      const total = sizes.reduce((a, b) => a + b, 0) + active;
      const all = seal(total, null);
      const text = (envs: readonly Envelope[]) => envs.map((e) => encodeEnvelope(e).canonical + '\n').join('');
      let at = 0;
      const archived = archivedCount % (sizes.length + 1);
      for (const [i, size] of sizes.entries()) {
        if (i >= archived) await writeFile(segmentPath(path, at + 1, at + size), text(all.slice(at, at + size)));
        at += size;
      }
      await writeFile(path, text(all.slice(at)));
      const firstHere = sizes.slice(0, archived).reduce((a, b) => a + b, 0) + 1;
      const report = await verifyFile(path);
      if (archived === 0) expect(report).toEqual({ ok: true, count: total, head: { seq: total, hash: all.at(-1)!.hash } });
      else if (firstHere > total) expect(report).toEqual({ ok: true, count: 0, head: null }); // nothing here: nothing tells what was
      else expect(report).toMatchObject({ ok: false, count: 0, firstBad: { seq: 1, reason: expect.stringMatching(/not here/) } });
      if (firstHere <= total) {
        expect(await verifyFile(path, { fromFirstPresent: true })).toMatchObject({ ok: true, count: total - firstHere + 1 });
      }
      const ro = await FileJournal.open(path, { readOnly: true });
      if (archived === 0) expect(await readAll(ro)).toEqual(all);
      else if (firstHere > total) expect(await readAll(ro)).toEqual([]);
      else await expect(readAll(ro)).rejects.toThrow(/not here/);
      if (firstHere <= total) expect(await readAll(ro, firstHere)).toEqual(all.slice(firstHere - 1));
      await ro.close();
    },
  );
});
