/**
 * The JetStream journal against someone with more rights than vFunD, on a
 * server with authentication on: a stream whose limits an admin changed, and
 * a stream deleted and re-created with its messages copied back, are refused
 * at open by vFunD and by readers, naming the field, the value expected and
 * the value found.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { JetStreamJournal } from '../../src/events/adapters/jetstream/index.js';
import { StreamConfigError } from '../../src/events/adapters/jetstream/stream-check.js';
import { openJournal } from '../../src/events/adapters/open-journal.js';
import { JournalHostError } from '../../src/errors.js';
import { startNatsServer, testUsers, type NatsServer } from '../support/nats-server.js';
import { readAll, sealChain } from './journal-contract.js';

const HOSTS = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8'];
const users = testUsers(HOSTS);
let server: NatsServer;
let admin: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await startNatsServer({ users: users.list });
  admin = await connect({ servers: server.url, ...users.admin });
  jsm = await jetstreamManager(admin);
});
afterAll(async () => {
  await admin?.close();
  await server?.stop();
});

const writer = (host: string) => JetStreamJournal.open({ servers: server.url, host, ...users.vfund(host) });
const reader = (host: string) => JetStreamJournal.open({ servers: server.url, host, readOnly: true, ...users.auditor });

async function seeded(host: string, n: number): Promise<void> {
  const j = await writer(host);
  await j.append(sealChain(n));
  await j.close();
}

describe('stream check at open', () => {
  test('an admin’s max_msgs update is refused by vFunD and by readers, naming the field', async () => {
    await seeded('k1', 6);
    const info = await jsm.streams.info('VFUN_EVT_k1');
    await jsm.streams.update('VFUN_EVT_k1', { ...info.config, max_msgs: 3 });
    // JetStream has already discarded seq 1..3 for good: the state check would see it too.
    for (const open of [writer, reader]) {
      const err = await open('k1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StreamConfigError);
      expect((err as StreamConfigError).faults).toContainEqual({ field: 'max_msgs', expected: '-1 (unlimited)', actual: '3' });
      expect((err as Error).message).toContain('max_msgs: expected -1 (unlimited), found 3');
    }
  });

  test('per-subject and age limits set by an admin, and a hand-made stream without deny_purge, are each refused', async () => {
    // JetStream itself refuses to turn deny_delete or deny_purge off on an existing stream (and rollups need purge).
    const info0 = (await seeded('k2', 1), await jsm.streams.info('VFUN_EVT_k2'));
    await expect(jsm.streams.update('VFUN_EVT_k2', { ...info0.config, deny_purge: false })).rejects.toThrow(/deny purge/);
    const cases = [
      ['k3', { max_msgs_per_subject: 1 }, 'max_msgs_per_subject'],
      ['k4', { max_age: 3600 * 1e9 }, 'max_age'],
    ] as const;
    for (const [host, patch, field] of cases) {
      await seeded(host, 2);
      const info = await jsm.streams.info(`VFUN_EVT_${host}`);
      await jsm.streams.update(`VFUN_EVT_${host}`, { ...info.config, ...patch });
      const err = (await writer(host).catch((e: unknown) => e)) as StreamConfigError;
      expect(err.faults.map((f) => f.field)).toEqual([field]);
    }
    await jsm.streams.delete('VFUN_EVT_k2');
    await jsm.streams.add({ ...info0.config, deny_purge: false });
    const err = (await writer('k2').catch((e: unknown) => e)) as StreamConfigError;
    expect(err.faults).toEqual([{ field: 'deny_purge', expected: 'true', actual: 'false' }]);
  });

  test('a stream deleted and re-created, its messages copied back with their headers, is refused naming created', async () => {
    const envs = sealChain(5);
    const j = await writer('k5');
    await j.append(envs);
    await j.close();
    const info = await jsm.streams.info('VFUN_EVT_k5');
    const copies = await Promise.all(envs.map((e) => jsm.streams.getMessage('VFUN_EVT_k5', { seq: e.seq })));
    // deny_delete is about messages: an admin may still delete the whole stream.
    await jsm.streams.delete('VFUN_EVT_k5');
    await new Promise((r) => setTimeout(r, 1100)); // a creation time that differs
    await jsm.streams.add(info.config);
    const js = jetstream(admin);
    for (const m of copies) {
      const h = headers();
      for (const [k, v] of m!.header) for (const x of v) h.append(k, x);
      await js.publish(m!.subject, m!.data, { headers: h });
    }
    expect((await jsm.streams.info('VFUN_EVT_k5')).state.messages).toBe(5);
    for (const open of [writer, reader]) {
      const err = (await open('k5').catch((e: unknown) => e)) as StreamConfigError;
      expect(err).toBeInstanceOf(StreamConfigError);
      expect(err.faults[0]).toMatchObject({ field: 'created' });
      expect(err.message).toMatch(/created: expected .* \(recorded by message 1 when it was published\), found .*re-created/);
    }
  });

  test('the stream as vFunD made it opens, and reopens, for the writer and the auditor', async () => {
    await seeded('k6', 3);
    const w = await writer('k6');
    await w.append(sealChain(4).slice(3));
    await w.close();
    const r = await reader('k6');
    expect((await readAll(r)).length).toBe(4);
    await r.close();
  });
});

describe('the writer and its host', () => {
  test('a writer told to check its host refuses a stream whose last event another host wrote; openJournal checks for writers and refuses a URL naming another host', async () => {
    await seeded('k7', 2); // sealChain's events name host h1
    const err = await JetStreamJournal.open({ servers: server.url, host: 'k7', checkHost: true, ...users.vfund('k7') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JournalHostError);
    expect((err as Error).message).toMatch(/its last event, seq 2 .* was written by host 'h1', not this host 'k7'/);
    const creds = users.vfund('k7');
    const url = `nats://${creds.user}:${creds.pass}@${server.url.replace(/^nats:\/\//, '')}`;
    await expect(openJournal(url, { host: 'k7' })).rejects.toBeInstanceOf(JournalHostError);
    const refused = await openJournal(`${url}?host=k7`, { host: 'k8' }).catch((e: unknown) => e);
    expect((refused as Error).message).toMatch(/the journal URL says host=k7, but this vFunD is host 'k8'/);
    expect((refused as Error).message).not.toContain(creds.pass);
    // Readers are not writers: they open it.
    const r = (await openJournal(`${url}?host=k7`, { readOnly: true, host: 'k8' })).journal;
    expect((await readAll(r)).length).toBe(2);
    await r.close();
  });
});
