/**
 * Runs the journal contract against every adapter: memory, file, and
 * JetStream (against a real nats-server this file starts on a free loopback
 * port; see test/support/nats-server.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { FileJournal } from '../../src/events/adapters/file/index.js';
import { JetStreamJournal } from '../../src/events/adapters/jetstream/index.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
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

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server?.stop();
});

let fixtures = 0;
journalContract('jetstream', async () => {
  // A fresh host (so a fresh per-host stream) for every case.
  const host = `contract-${++fixtures}`;
  const open = (): Promise<JetStreamJournal> => JetStreamJournal.open({ servers: server.url, host });
  let current = await open();
  return {
    journal: current,
    reopen: async () => {
      await current.close();
      current = await open();
      return current;
    },
    cleanup: async () => {
      await current.close();
    },
  };
});
