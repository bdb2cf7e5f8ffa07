/**
 * Authentication and permissions of the JetStream journal: a nats-server run
 * with the generated configuration (server-config.ts). vFunD's user writes its
 * own host's journal and nothing else: no stream update, delete or purge, no
 * other host's subjects; the auditor only reads; anonymous clients and wrong
 * passwords are refused, and no error shows a password.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, nkeys, type NatsConnection } from '@nats-io/transport-node';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { JetStreamJournal } from '../../src/events/adapters/jetstream/index.js';
import { openJournal } from '../../src/events/adapters/open-journal.js';
import { startNatsServer, testUsers, type NatsServer, type TestCredentials } from '../support/nats-server.js';
import { readAll, sealChain } from './journal-contract.js';

const users = testUsers(['a1', 'a2', 'a3']);
let server: NatsServer;
let dir: string;

beforeAll(async () => {
  server = await startNatsServer({ users: users.list });
  dir = await mkdtemp(join(tmpdir(), 'vfun-auth-'));
});
afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function as(c: TestCredentials): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
  const nc = await connect({ servers: server.url, user: c.user, pass: c.pass, timeout: 3000 });
  return { nc, jsm: await jetstreamManager(nc, { timeout: 3000 }) };
}

/** The permission error of a refused JetStream API call or publish. */
const refused = /permission|not authorized|authorization/i;

describe('vfund user', () => {
  test('writes and reads its own journal; cannot update, delete or purge the stream, nor write another host', async () => {
    const journal = await JetStreamJournal.open({ servers: server.url, host: 'a1', ...users.vfund('a1') });
    const envs = sealChain(5);
    await journal.append(envs);
    expect(await readAll(journal)).toEqual(envs);
    await journal.close();

    const { nc, jsm } = await as(users.vfund('a1'));
    try {
      const info = await jsm.streams.info('VFUN_EVT_a1');
      await expect(jsm.streams.update('VFUN_EVT_a1', { ...info.config, max_msgs: 2 })).rejects.toThrow(refused);
      await expect(jsm.streams.delete('VFUN_EVT_a1')).rejects.toThrow(refused);
      await expect(jsm.streams.purge('VFUN_EVT_a1')).rejects.toThrow(refused);
      await expect(jsm.streams.deleteMessage('VFUN_EVT_a1', 1)).rejects.toThrow(refused);
      const js = jetstream(nc, { timeout: 3000 });
      await expect(js.publish('vfun.evt.a2._._._', '{}')).rejects.toThrow(refused);
      await expect(js.publish('vfun.ack.a1', '{}')).rejects.toThrow(refused);
    } finally {
      await nc.close();
    }
    const { nc: anc, jsm: ajsm } = await as(users.admin);
    expect((await ajsm.streams.info('VFUN_EVT_a1')).config.max_msgs).toBe(-1);
    expect((await ajsm.streams.info('VFUN_EVT_a1')).state.messages).toBe(5);
    await anc.close();
  });

  test('the URL forms: nats://user:pass@…, ?passwordFile=; a wrong password is refused without showing it', async () => {
    const c = users.vfund('a2');
    const hostPort = server.url.slice('nats://'.length);
    const { journal } = await openJournal(`nats://${c.user}:${encodeURIComponent(c.pass)}@${hostPort}?host=a2`);
    expect(journal.url).not.toContain(c.pass);
    await journal.append(sealChain(2));
    await journal.close();
    const file = join(dir, 'a2.password');
    await writeFile(file, `${c.pass}\n`, { mode: 0o600 });
    const again = await openJournal(`nats://${c.user}@${hostPort}?host=a2&passwordFile=${encodeURIComponent(file)}`, { readOnly: true });
    expect((await readAll(again.journal)).length).toBe(2);
    await again.journal.close();

    const wrong = 'not-the-password-4711';
    const err = await openJournal(`nats://${c.user}:${wrong}@${hostPort}?host=a2`).catch((e: unknown) => e as Error);
    expect(err).toMatchObject({ code: 'CONFIG' });
    expect((err as Error).message).toMatch(/authentication refused \(as user vfund-a2\)/);
    expect((err as Error).message).not.toContain(wrong);
    expect(String((err as Error).stack)).not.toContain(wrong);
  });

  test('an nkey user: only its public key is in the config; the journal authenticates with ?nkeySeed=<file>', async () => {
    const kp = nkeys.createUser();
    const seedFile = join(dir, 'vfund-n1.nk');
    await writeFile(seedFile, new TextDecoder().decode(kp.getSeed()) + '\n', { mode: 0o600 });
    const nk = await startNatsServer({ users: [{ role: 'vfund', host: 'n1', credential: { kind: 'nkey', publicKey: kp.getPublicKey() } }] });
    try {
      const { journal } = await openJournal(`${nk.url}?host=n1&nkeySeed=${encodeURIComponent(seedFile)}`);
      await journal.append(sealChain(2));
      expect((await readAll(journal)).length).toBe(2);
      await journal.close();
      await expect(openJournal(`${nk.url}?host=n1`)).rejects.toThrow(/authentication refused/);
    } finally {
      await nk.stop();
    }
  });

  test('a vfund user cannot open another host’s journal', async () => {
    await expect(JetStreamJournal.open({ servers: server.url, host: 'a3', ...users.vfund('a1') })).rejects.toThrow(refused);
  });
});

describe('auditor and anonymous', () => {
  test('the auditor reads every journal and cannot publish, create, update or delete', async () => {
    const w = await JetStreamJournal.open({ servers: server.url, host: 'a3', ...users.vfund('a3') });
    await w.append(sealChain(3));
    await w.close();
    const r = await JetStreamJournal.open({ servers: server.url, host: 'a3', readOnly: true, ...users.auditor });
    expect((await readAll(r)).length).toBe(3);
    await r.close();
    const { nc, jsm } = await as(users.auditor);
    try {
      const js = jetstream(nc, { timeout: 3000 });
      await expect(js.publish('vfun.evt.a3._._._', '{}')).rejects.toThrow(refused);
      await expect(jsm.streams.add({ name: 'AUDITOR_MADE', subjects: ['x.>'] })).rejects.toThrow(refused);
      const info = await jsm.streams.info('VFUN_EVT_a3');
      await expect(jsm.streams.update('VFUN_EVT_a3', { ...info.config, max_msgs: 1 })).rejects.toThrow(refused);
      await expect(jsm.streams.delete('VFUN_EVT_a3')).rejects.toThrow(refused);
    } finally {
      await nc.close();
    }
  });

  test('an unauthenticated client is refused', async () => {
    await expect(connect({ servers: server.url, timeout: 3000, reconnect: false })).rejects.toThrow(/authorization/i);
    await expect(JetStreamJournal.open({ servers: server.url, host: 'a1' })).rejects.toThrow(/authentication refused \(without credentials\)/);
  });
});
