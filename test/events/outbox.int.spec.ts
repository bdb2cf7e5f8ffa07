/**
 * The outbox: the local file behind the JetStream journal when JetStream is
 * unreachable, and the fail-closed policy state. The server is killed (SIGKILL)
 * in the middle of a run and restarted on the same port and store.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { appendFile, chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { JournalCorruptError } from '../../src/errors.js';
import { encodeEnvelope } from '../../src/events/canonical.js';
import { verifyChain } from '../../src/events/chain.js';
import type { Envelope } from '../../src/events/envelope.js';
import { JetStreamJournal, type JetStreamJournalState } from '../../src/events/adapters/jetstream/index.js';
import { Outbox } from '../../src/events/adapters/outbox.js';
import { Recorder } from '../../src/events/recorder.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { counterIds, pending, steppingClock } from './arbitraries.js';
import { readAll, sealChain } from './journal-contract.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vfun-outbox-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lines = (envs: readonly Envelope[]): string => envs.map((e) => encodeEnvelope(e).canonical + '\n').join('');

describe('Outbox file', () => {
  test('appends are fsync-ed lines in the file-journal format; reopen gives them back; clear empties it', async () => {
    const path = join(dir, 'sub', 'outbox.ndjson');
    const envs = sealChain(6);
    const box = await Outbox.open(path);
    expect(box.length).toBe(0);
    // A slice of a chain: may start anywhere, must chain inside.
    await Promise.all([box.append(envs.slice(2, 4)), box.append(envs.slice(4))]);
    await expect(box.append(envs.slice(1, 2))).rejects.toThrow();
    expect(await readFile(path, 'utf8')).toBe(lines(envs.slice(2)));
    await box.close();
    const again = await Outbox.open(path);
    expect(again.entries()).toEqual(envs.slice(2));
    expect(again.openReport).toBeNull();
    await again.clear();
    expect(again.length).toBe(0);
    expect(await readFile(path, 'utf8')).toBe('');
    await again.append(envs.slice(0, 1)); // any start after a clear
    await again.close();
  });

  test('a torn last record is cut on open; damage before it is JournalCorruptError', async () => {
    const path = join(dir, 'outbox.ndjson');
    const envs = sealChain(3);
    await writeFile(path, lines(envs) + '{"id":"half');
    const box = await Outbox.open(path);
    expect(box.entries()).toEqual(envs);
    expect(box.openReport).toMatchObject({ truncatedBytes: 11, reason: expect.stringMatching(/torn/) });
    await box.close();
    expect(await readFile(path, 'utf8')).toBe(lines(envs));

    await writeFile(path, lines(envs.slice(0, 1)) + 'garbage\n' + lines(envs.slice(2)));
    await expect(Outbox.open(path)).rejects.toBeInstanceOf(JournalCorruptError);
    // A complete last record that does not chain is not a torn write: refused, never cut.
    const unchained = lines([envs[0]!, envs[2]!]);
    await writeFile(path, unchained);
    await expect(Outbox.open(path)).rejects.toThrow(/outbox line 2, its last complete line \(not a torn write: damage or tampering\) seq 3 where 2 was expected/);
    expect(await readFile(path, 'utf8')).toBe(unchained);
    await appendFile(path, lines([envs[2]!]) + lines([envs[1]!]));
    await expect(Outbox.open(path)).rejects.toBeInstanceOf(JournalCorruptError);
  });

  test.each([
    ['a bad hash', (l: string) => l.replace(/"hash":"[0-9a-f]/, (m) => m.slice(0, -1) + (m.endsWith('0') ? '1' : '0'))],
    ['not JSON', () => 'garbage'],
    ['an empty line', () => ''],
  ])('a complete last line with %s is refused and kept, with or without a torn record after it', async (_name, damage) => {
    const path = join(dir, 'outbox.ndjson');
    const envs = sealChain(3);
    const text = lines(envs.slice(0, 2)) + damage(encodeEnvelope(envs[2]!).canonical) + '\n';
    for (const content of [text, text + '{"torn']) {
      await writeFile(path, content);
      await expect(Outbox.open(path)).rejects.toThrow(/outbox line 3, its last complete line/);
      expect(await readFile(path, 'utf8')).toBe(content);
    }
  });

  test('created 0600 in a 0700 directory; an existing looser file is tightened to 0600', async () => {
    const path = join(dir, 'admin', 'outbox.ndjson');
    const box = await Outbox.open(path);
    await box.close();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'admin'))).mode & 0o777).toBe(0o700);
    await chmod(path, 0o644);
    const again = await Outbox.open(path);
    await again.close();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });
});

describe('JetStream unreachable', () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function streamCount(stream: string): Promise<number> {
    const nc = await connect({ servers: server.url });
    try {
      return (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
    } finally {
      await nc.close();
    }
  }

  test('kill the server mid-run, keep appending, restart: everything arrives exactly once, in order, chain verifies', async () => {
    const outbox = join(dir, 'admin', 'journal.outbox.ndjson');
    const journal = await JetStreamJournal.open({ servers: server.url, host: 'outage-1', outbox, ackTimeoutMs: 500, retryMs: 20 });
    const states: JetStreamJournalState[] = [];
    journal.onStateChange((s) => states.push(s));
    expect(journal.state()).toMatchObject({ reachable: true, available: true, failClosed: true, pending: 0, outboxed: 0, failure: null });
    const recorder = await Recorder.open({ journal, clock: steppingClock(), ids: counterIds('ev'), host: 'outage-1' });
    const recorded: Envelope[] = [];
    const record = async (n: number, from: number): Promise<void> => {
      // groups of concurrent calls, like vFunD under load
      for (let i = 0; i < n; i += 10) {
        const calls = Array.from({ length: Math.min(10, n - i) }, (_, j) => recorder.record([pending(from + i + j)]));
        for (const envs of await Promise.all(calls)) recorded.push(...envs);
      }
    };

    await record(300, 0);
    // Kill while a burst is in flight: once some of it has landed (rather than after a fixed pause).
    const burst = record(300, 1000);
    let settled = false;
    void burst.then(() => (settled = true), () => (settled = true));
    while (recorded.length === 300 && !settled) await new Promise((r) => setTimeout(r, 1));
    await server.kill('SIGKILL');
    await burst;
    // JetStream is gone: appends still resolve, from the outbox (fsync-ed).
    await record(200, 2000);
    expect(journal.reachable).toBe(false);
    expect(journal.available()).toBe(false); // fail-closed
    expect(journal.state().outboxed).toBeGreaterThan(0);
    expect(states.some((s) => !s.reachable && !s.available)).toBe(true);
    expect((await journal.head())?.seq).toBe(800);

    await server.restart();
    // The outbox is flushed in order; meanwhile more events keep coming.
    await record(200, 3000);
    expect(await journal.flushed(20_000)).toBe(true);
    await expect.poll(() => journal.state(), { timeout: 10_000 }).toMatchObject({ reachable: true, available: true, pending: 0, outboxed: 0 });
    expect(states.at(-1)).toMatchObject({ reachable: true, available: true });

    expect(recorded.map((e) => e.seq)).toEqual(recorded.map((_, i) => i + 1));
    const stored = await readAll(journal);
    expect(stored).toEqual(recorded);
    expect(await verifyChain(stored)).toEqual({ ok: true, count: 1000, head: { seq: 1000, hash: recorded[999]!.hash } });
    expect(new Set(stored.map((e) => e.id)).size).toBe(1000);
    expect(await streamCount(journal.stream)).toBe(1000);
    expect(await readFile(outbox, 'utf8')).toBe('');
    await journal.close();
  });

  test('closed during the outage: the outbox keeps the events and the next open delivers them', async () => {
    const outbox = join(dir, 'journal.outbox.ndjson');
    const host = 'outage-2';
    const journal = await JetStreamJournal.open({ servers: server.url, host, outbox, ackTimeoutMs: 300, retryMs: 20, failClosed: false });
    const envs = sealChain(60);
    await journal.append(envs.slice(0, 20));
    await server.kill();
    await journal.append(envs.slice(20, 40));
    expect(journal.reachable).toBe(false);
    expect(journal.available()).toBe(true); // fail-open: vFunD goes on
    await journal.close();
    expect((await Outbox.open(outbox).then(async (b) => (await b.close(), b.entries()))).map((e) => e.seq)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 21),
    );

    await server.restart();
    const again = await JetStreamJournal.open({ servers: server.url, host, outbox, ackTimeoutMs: 300, retryMs: 20 });
    expect(await again.head()).toEqual({ seq: 40, hash: envs[39]!.hash });
    await again.append(envs.slice(40));
    expect(await again.flushed(10_000)).toBe(true);
    expect(await readAll(again)).toEqual(envs);
    expect(await streamCount(again.stream)).toBe(60);
    await again.close();
  });

  test('without an outbox, an append waits for JetStream and lands exactly once', async () => {
    const host = 'outage-3';
    const journal = await JetStreamJournal.open({ servers: server.url, host, ackTimeoutMs: 300, retryMs: 20 });
    const envs = sealChain(30);
    await journal.append(envs.slice(0, 10));
    await server.kill();
    let done = false;
    const waiting = journal.append(envs.slice(10, 30)).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toBe(false);
    expect(await journal.head()).toEqual({ seq: 10, hash: envs[9]!.hash });
    await server.restart();
    await waiting;
    expect(await readAll(journal)).toEqual(envs);
    expect(await streamCount(journal.stream)).toBe(30);
    await journal.close();
  });
});
