/**
 * Runs the journal contract against every adapter that needs no server.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileJournal } from '../../src/events/adapters/file-journal.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { journalContract } from './journal-contract.js';

journalContract('memory', async () => {
  const journal = new MemoryJournal();
  return { journal, reopen: async () => journal, cleanup: async () => undefined };
});

journalContract('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vfun-journal-'));
  const path = join(dir, 'state', 'journal.vfj');
  let current = await FileJournal.open(path);
  return {
    journal: current,
    reopen: async () => {
      await current.close();
      current = await FileJournal.open(path);
      return current;
    },
    cleanup: async () => {
      await current.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
