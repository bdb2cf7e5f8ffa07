/**
 * The file journal and its host: a writer told its host refuses a journal
 * whose last event names another one (unless renamed from it), changing
 * nothing; a read-only open told the host reports the first event of another.
 */
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { JournalHostError } from '../../src/errors.js';
import { sealEnvelope } from '../../src/events/chain.js';
import type { Envelope } from '../../src/events/envelope.js';
import { FileJournal, verifyFile } from '../../src/events/adapters/file/index.js';
import { openJournal } from '../../src/events/adapters/open-journal.js';
import { pending } from './arbitraries.js';
import { readAll, sealChain } from './journal-contract.js';

let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vfun-hosts-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** `count` events of host h1, then one of `last` when given. */
async function journalOf(count: number, last?: string): Promise<{ path: string; envs: Envelope[] }> {
  const path = join(root, `j${++n}`, 'journal.ndjson');
  const envs = sealChain(count);
  if (last !== undefined) {
    const prev = envs.at(-1)!;
    envs.push(sealEnvelope(pending(prev.seq + 1), { seq: prev.seq + 1, prevHash: prev.hash, id: `y-${prev.seq + 1}`, at: prev.at, host: last }));
  }
  const journal = await FileJournal.open(path);
  await journal.append(envs);
  await journal.close();
  return { path, envs };
}

describe('FileJournal: host', () => {
  test('a writer of another host is refused at open, naming the seq and the way out; nothing is cut, not even a torn record', async () => {
    const { path, envs } = await journalOf(3);
    await appendFile(path, '{"torn');
    const before = await readFile(path);
    const err = await FileJournal.open(path, { host: 'h2' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JournalHostError);
    expect((err as JournalHostError).seq).toBe(3);
    expect((err as Error).message).toMatch(/its last event, seq 3 \(event x-3\), was written by host 'h1', not this host 'h2'.*previousHost=h1/);
    expect(await readFile(path)).toEqual(before);
    // Its own host opens it (and cuts the torn record); so does a host renamed from h1.
    const own = await FileJournal.open(path, { host: 'h1' });
    expect(own.openReport).not.toBeNull();
    await own.close();
    const renamed = await FileJournal.open(path, { host: 'h2', previousHost: 'h1' });
    await renamed.append(sealChain(1, envs.at(-1)!).map((e) => sealEnvelope(pending(e.seq), { seq: e.seq, prevHash: e.prevHash, id: e.id, at: e.at, host: 'h2' })));
    await renamed.close();
    // From now on the journal is h2's: h2 opens it without previousHost, h1 no longer.
    await (await FileJournal.open(path, { host: 'h2' })).close();
    await expect(FileJournal.open(path, { host: 'h1' })).rejects.toThrow(/seq 4 .*written by host 'h2', not this host 'h1'/);
    // Read-only with the new host and its previous name: every event passes; without the previous name, seq 1 does not.
    const ro = await FileJournal.open(path, { readOnly: true, host: 'h2', previousHost: 'h1' });
    expect((await readAll(ro)).map((e) => e.host)).toEqual(['h1', 'h1', 'h1', 'h2']);
    await ro.close();
    expect(await verifyFile(path, { hosts: { host: 'h2' } })).toMatchObject({ ok: false, count: 0, firstBad: { seq: 1, line: 1 } });
  });

  test('read-only with a host: read() stops at the first event of another host, naming its seq; verifyFile names its line', async () => {
    const { path, envs } = await journalOf(4, 'intruder');
    const ro = await FileJournal.open(path, { readOnly: true, host: 'h1' });
    const seen: Envelope[] = [];
    const err = await (async () => {
      for await (const e of ro.read()) seen.push(e);
    })().catch((e: unknown) => e);
    await ro.close();
    expect(seen).toEqual(envs.slice(0, 4));
    expect(err).toBeInstanceOf(JournalHostError);
    expect((err as Error).message).toMatch(/^seq 5 \(event y-5\) was written by host 'intruder', not 'h1' \(the journal URL's host=\)/);
    const report = await verifyFile(path, { hosts: { host: 'h1' } });
    expect(report).toMatchObject({ ok: false, count: 4, firstBad: { seq: 5, line: 5, reason: expect.stringMatching(/^line 5 seq 5 .*'intruder'/) } });
    expect(await verifyFile(path)).toMatchObject({ ok: true, count: 5 });
  });

  test('openJournal: the writer takes its host from the URL, else from the caller (they must agree); readers only from the URL', async () => {
    const { path } = await journalOf(2);
    await expect(openJournal(`file:${path}`, { host: 'h9' })).rejects.toBeInstanceOf(JournalHostError);
    // A writer stamps its own host on every event: a URL naming another host is refused before the file is opened.
    await expect(openJournal(`file:${path}?host=h9`, { host: 'h1' })).rejects.toThrow(/the journal URL says host=h9, but this vFunD is host 'h1'/);
    await expect(openJournal(`file:${path}?host=h9`)).rejects.toBeInstanceOf(JournalHostError);
    await (await openJournal(`file:${path}?host=h9&previousHost=h1`, { host: 'h9' })).journal.close();
    const reader = (await openJournal(`file:${path}`, { readOnly: true, host: 'h9' })).journal;
    expect(await readAll(reader)).toHaveLength(2);
    await reader.close();
    const strict = (await openJournal(`file:${path}?host=h9`, { readOnly: true })).journal;
    await expect(readAll(strict)).rejects.toThrow(/seq 1 .*'h1', not 'h9'/);
    await strict.close();
  });
});
