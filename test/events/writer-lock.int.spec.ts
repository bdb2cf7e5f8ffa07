/**
 * One writer per journal: a second writer (another process, or the same one)
 * is refused at open, naming the holder's pid, before it reads or cuts
 * anything; readers take no lock. Both ways of holding the lock: flock (the
 * native addon) and the pid file it falls back to, which takes a stale lock
 * over.
 */
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError, JournalLockedError } from '../../src/errors.js';
import { encodeEnvelope } from '../../src/events/canonical.js';
import type { JournalAvailability } from '../../src/events/journal.js';
import { FileJournal } from '../../src/events/adapters/file/index.js';
import { lockPathOf, type LockMechanism } from '../../src/events/adapters/writer-lock.js';
import { requireShm } from '../../src/native/shm.js';
import { LineProcess } from '../support/line-process.js';
import { readAll, sealChain } from './journal-contract.js';

const WRITER = new URL('./fixtures/journal-writer.ts', import.meta.url);

let root: string;
let n = 0;
const children: LineProcess[] = [];
beforeAll(async () => {
  requireShm(); // the flock half needs the addon (CI builds it)
  root = await mkdtemp(join(tmpdir(), 'vfun-lock-'));
});
afterEach(async () => {
  for (const c of children.splice(0)) await c.close();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const fresh = () => join(root, `j${++n}`, 'journal.ndjson');

async function holder(path: string, mechanism: LockMechanism): Promise<{ proc: LineProcess; pid: number }> {
  const proc = new LineProcess(WRITER, [path, mechanism]);
  children.push(proc);
  const { pid } = await proc.ready;
  return { proc, pid };
}

describe.each(['flock', 'file'] as const)('writer lock (%s)', (mechanism) => {
  it('refuses a second writer in another process, naming its pid; readers take no lock', async () => {
    const path = fresh();
    const { pid } = await holder(path, mechanism);
    const err = await FileJournal.open(path, { lock: mechanism }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JournalLockedError);
    expect(err).toMatchObject({ code: 'JOURNAL_LOCKED', holder: pid, lockPath: lockPathOf(path) });
    expect((err as Error).message).toContain(`pid ${pid}`);
    const reader = await FileJournal.open(path, { readOnly: true });
    expect(await readAll(reader)).toEqual([]);
    await reader.close();
  });

  it('refuses a second writer in the same process; the first one, closed, lets the next one in', async () => {
    const path = fresh();
    const first = await FileJournal.open(path, { lock: mechanism });
    await expect(FileJournal.open(path, { lock: mechanism })).rejects.toThrow(`this process (pid ${process.pid})`);
    const envs = sealChain(2);
    await first.append(envs.slice(0, 1));
    await first.close();
    const next = await FileJournal.open(path, { lock: mechanism });
    await next.append(envs.slice(1));
    expect(await readAll(next)).toEqual(envs);
    await next.close();
  });

  it('a refused writer leaves the holder’s file alone (it would otherwise cut a record being written)', async () => {
    const path = fresh();
    await holder(path, mechanism);
    await appendFile(path, '{"half a record');
    const before = await readFile(path);
    await expect(FileJournal.open(path, { lock: mechanism })).rejects.toBeInstanceOf(JournalLockedError);
    expect(await readFile(path)).toEqual(before);
  });

  it('a writer killed -9 does not keep the journal: the next writer takes it', async () => {
    const path = fresh();
    const { proc, pid } = await holder(path, mechanism);
    expect(await readFile(lockPathOf(path), 'utf8')).toBe(`${pid} ${mechanism}\n`);
    proc.child.kill('SIGKILL');
    await proc.exited;
    const next = await FileJournal.open(path, { lock: mechanism });
    expect(await readFile(lockPathOf(path), 'utf8')).toBe(`${process.pid} ${mechanism}\n`);
    await next.close();
  });
});

describe('writer lock: the two mechanisms together', () => {
  it('a live pid-file holder refuses a flock writer, and a live flock holder a pid-file writer', async () => {
    const a = fresh();
    const { pid: filePid } = await holder(a, 'file');
    await expect(FileJournal.open(a, { lock: 'flock' })).rejects.toMatchObject({ holder: filePid });
    const b = fresh();
    const { pid: flockPid } = await holder(b, 'flock');
    await expect(FileJournal.open(b, { lock: 'file' })).rejects.toMatchObject({ holder: flockPid });
  });

  it('the pid file: a lock naming a dead process, or this process from an earlier life, is stale and taken over; close removes it', async () => {
    const path = fresh();
    await FileJournal.open(path).then((j) => j.close()); // creates the directory
    for (const stale of ['999999999 file\n', `${process.pid} file\n`, '']) {
      await writeFile(lockPathOf(path), stale);
      const j = await FileJournal.open(path, { lock: 'file' });
      expect(await readFile(lockPathOf(path), 'utf8')).toBe(`${process.pid} file\n`);
      await j.close();
      await expect(readFile(lockPathOf(path))).rejects.toMatchObject({ code: 'ENOENT' });
    }
  });

  it('flock: a closed writer leaves an empty lock file (never removed: no race with the next opener)', async () => {
    const path = fresh();
    const j = await FileJournal.open(path, { lock: 'flock' });
    await j.close();
    expect(await readFile(lockPathOf(path), 'utf8')).toBe('');
  });
});

describe('a writer that bypasses the lock', () => {
  it('makes the journal refuse to write for good: said once to the listener, never naming the file to appenders', async () => {
    const path = fresh();
    const journal = await FileJournal.open(path);
    const changes: JournalAvailability[] = [];
    journal.onAvailabilityChange((c) => changes.push(c));
    const envs = sealChain(3);
    await journal.append(envs.slice(0, 1));
    await appendFile(path, encodeEnvelope(envs[1]!).canonical + '\n'); // not through the journal
    const err = await journal.append(envs.slice(1, 2)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConcurrencyError);
    expect((err as Error).message).not.toContain(root);
    expect(journal.available()).toBe(false);
    await expect(journal.append(envs.slice(1, 2))).rejects.toBeInstanceOf(ConcurrencyError);
    expect(changes).toEqual([{ available: false, reason: expect.stringContaining('changed under its writer'), waiting: 0 }]);
    await journal.close();
  });
});
