/**
 * Reading a JetStream journal ends when the stream's last sequence is read,
 * and closing the journal leaves no timer behind: nothing a `vfun` command
 * does on a nats: journal waits out a fixed timeout. Checked on a fake
 * clock, not by wall time: the reader opens, reads and closes with
 * setTimeout and setInterval faked, so a read that waited for an idle
 * timeout, or a close that waited out a bound, would never end (the test
 * times out), and a timer left pending after close (one that would keep the
 * command's process alive until it fires) is counted.
 */
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import type { Envelope } from '../../src/events/envelope.js';
import { JetStreamJournal } from '../../src/events/adapters/jetstream/index.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { readAll, sealChain } from './journal-contract.js';

const EVENTS = 300;
let server: NatsServer;
let chain: Envelope[];

beforeAll(async () => {
  server = await startNatsServer();
  chain = sealChain(EVENTS);
  const writer = await JetStreamJournal.open({ servers: server.url, host: 'h1' });
  await writer.append(chain);
  await writer.close();
});
afterAll(async () => {
  await server?.stop();
});
afterEach(() => {
  vi.useRealTimers();
});

const fakeClock = (): void => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
};

describe('a read of a fresh single-server stream', () => {
  test('ends at the last seq on a clock that never moves, and close leaves no timer pending', { timeout: 20_000 }, async () => {
    fakeClock();
    const journal = await JetStreamJournal.open({ servers: server.url, host: 'h1', readOnly: true });
    const read = await readAll(journal);
    expect(read.map((e) => e.seq)).toEqual(chain.map((e) => e.seq));
    expect(read.at(-1)?.hash).toBe(chain.at(-1)?.hash);
    await journal.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  test('a journal on a shared connection ends its status loop at close (no bound waited out, no timer left)', { timeout: 20_000 }, async () => {
    const nc = await connect({ servers: server.url });
    try {
      fakeClock();
      // The connection's own timers (heartbeats) were set before the fake clock: only the journal's are counted.
      const journal = await JetStreamJournal.open({ servers: server.url, host: 'h1', readOnly: true, connection: nc });
      expect((await readAll(journal)).length).toBe(EVENTS);
      await journal.close();
      expect(vi.getTimerCount()).toBe(0);
      expect(nc.isClosed()).toBe(false);
    } finally {
      vi.useRealTimers();
      await nc.close();
    }
  });
});
