/**
 * The JetStream journal on a 3-node JetStream cluster (three nats-server
 * processes on loopback, generated configs, authentication on: vFunD writes
 * as vfund-cluster-1, the test inspects as an admin): the stream has 3 replicas, the
 * stream leader is killed in the middle of a run of thousands of events, and
 * afterwards every event is there exactly once and the chain verifies.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { verifyChain } from '../../src/events/chain.js';
import type { Envelope } from '../../src/events/envelope.js';
import { JetStreamJournal } from '../../src/events/adapters/jetstream/index.js';
import { Recorder } from '../../src/events/recorder.js';
import { startNatsCluster, testUsers, type NatsCluster } from '../support/nats-server.js';
import { counterIds, pending, steppingClock } from './arbitraries.js';
import { readAll } from './journal-contract.js';

let cluster: NatsCluster;
let admin: NatsConnection;
let jsm: JetStreamManager;
let dir: string;
const users = testUsers(['cluster-1']);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vfun-cluster-'));
  cluster = await startNatsCluster({ size: 3, users: users.list });
  admin = await connect({ servers: cluster.urls, ...users.admin });
  // JetStream answers once the meta leader is elected, and places an R3 stream once every peer
  // has reported to it (before that: "no suitable peers for placement"). Wait for both.
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      jsm = await jetstreamManager(admin, { timeout: 2000 });
      await jsm.getAccountInfo();
      await jsm.streams.add({ name: 'cluster-ready', subjects: ['cluster-ready.>'], num_replicas: 3 });
      await jsm.streams.delete('cluster-ready');
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

afterAll(async () => {
  await admin?.close();
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('R3 stream: the stream leader is killed mid-run; every event arrives exactly once and the chain verifies', async () => {
  const host = 'cluster-1';
  const journal = await JetStreamJournal.open({
    servers: cluster.urls,
    ...users.vfund(host),
    host,
    replicas: 3,
    outbox: join(dir, 'outbox.ndjson'),
    ackTimeoutMs: 1000,
    retryMs: 50,
  });
  try {
    const info = await jsm.streams.info(journal.stream);
    expect(info.config.num_replicas).toBe(3);
    const recorder = await Recorder.open({ journal, clock: steppingClock(), ids: counterIds('c'), host });
    const recorded: Envelope[] = [];
    const record = async (n: number, from: number): Promise<void> => {
      for (let i = 0; i < n; i += 20) {
        const calls = Array.from({ length: Math.min(20, n - i) }, (_, j) => recorder.record([pending(from + i + j), pending(from + i + j + 1)]));
        for (const envs of await Promise.all(calls)) recorded.push(...envs);
      }
    };
    await record(1000, 0);
    const leaderName = (await jsm.streams.info(journal.stream)).cluster?.leader;
    const leader = cluster.nodes.find((n) => n.name === leaderName);
    expect(leader).toBeDefined();
    const run = record(1500, 10_000);
    // Kill once the run has started landing (rather than after a fixed pause).
    let settled = false;
    void run.then(() => (settled = true), () => (settled = true));
    while (recorded.length === 2000 && !settled) await new Promise((r) => setTimeout(r, 1));
    await leader!.kill('SIGKILL');
    await run;
    await record(500, 20_000);
    expect(await journal.flushed(30_000)).toBe(true);

    expect(recorded).toHaveLength(6000);
    const stored = await readAll(journal);
    expect(stored.length).toBe(6000);
    expect(stored).toEqual(recorded);
    expect(new Set(stored.map((e) => e.id)).size).toBe(6000);
    expect(await verifyChain(stored)).toEqual({ ok: true, count: 6000, head: { seq: 6000, hash: recorded[5999]!.hash } });
    const after = await jsm.streams.info(journal.stream);
    expect(after.state).toMatchObject({ messages: 6000, first_seq: 1, last_seq: 6000 });
    expect(after.cluster?.leader).not.toBe(leaderName);
    expect(journal.state()).toMatchObject({ reachable: true, pending: 0, failure: null });
  } finally {
    await journal.close();
  }
});
