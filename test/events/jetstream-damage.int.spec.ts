/**
 * Damaged messages in a JetStream journal and the way out that leaves
 * evidence, on a server with authentication on: a foreign message stops vFunD
 * and every reader, naming its seq, what is wrong and the command; an auditor
 * cannot acknowledge it, an admin can (never a sound message); then readers
 * put `journal.damage-acknowledged` in its place, the chain verifies, and
 * vFunD appends after it.
 */
import { createHash } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodeEnvelope } from '../../src/events/canonical.js';
import { verifyChain } from '../../src/events/chain.js';
import type { Envelope } from '../../src/events/envelope.js';
import { DamagedMessageError, JetStreamJournal, acknowledgeDamage } from '../../src/events/adapters/jetstream/index.js';
import { startNatsServer, testUsers, type NatsServer } from '../support/nats-server.js';
import { readAll, sealChain } from './journal-contract.js';

const users = testUsers(['d1', 'd2']);
let server: NatsServer;
let admin: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer({ users: users.list });
  admin = await connect({ servers: server.url, ...users.admin });
});
afterAll(async () => {
  await admin?.close();
  await server?.stop();
});

const writer = (host: string) => JetStreamJournal.open({ servers: server.url, host, ...users.vfund(host) });
const reader = (host: string) => JetStreamJournal.open({ servers: server.url, host, readOnly: true, ...users.auditor });
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('a damaged message', () => {
  test('stops vFunD and readers with the way out; acknowledged by an admin, it is reported and the chain goes on', async () => {
    const envs = sealChain(3);
    const w = await writer('d1');
    await w.append(envs);
    await w.close();
    const foreign = '{"not":"an envelope"}';
    await jetstream(admin).publish('vfun.evt.d1.x.y.z', foreign);

    // vFunD and readers stop, naming seq 4, the fault, the bytes' sha256 and the command.
    const err = (await writer('d1').catch((e: unknown) => e)) as DamagedMessageError;
    expect(err).toBeInstanceOf(DamagedMessageError);
    expect(err).toMatchObject({ code: 'JOURNAL_CORRUPT', seq: 4, sha256: sha(foreign) });
    expect(err.message).toMatch(/stream message 4 is not an envelope .*sha256 of its bytes [0-9a-f]{64}.*vfun audit acknowledge --journal '.*' --seq 4 --reason/);
    const r0 = await reader('d1').catch((e: unknown) => e);
    expect(r0).toBeInstanceOf(DamagedMessageError);

    // An auditor may not acknowledge; an admin may not acknowledge a sound message.
    await expect(acknowledgeDamage({ servers: server.url, host: 'd1', ...users.auditor }, 4, 'seen')).rejects.toThrow(/permission/i);
    await expect(acknowledgeDamage({ servers: server.url, host: 'd1', ...users.admin }, 3, 'seen')).rejects.toThrow(/message 3 is sound/);
    const { ack, ref } = await acknowledgeDamage({ servers: server.url, host: 'd1', ...users.admin }, 4, 'test publish by the operator', new Date('2026-06-01T00:00:00Z'));
    expect(ack).toMatchObject({ seq: 4, sha256: sha(foreign), prevHash: envs[2]!.hash, by: 'admin', fault: expect.stringMatching(/is not an envelope/) });
    await expect(acknowledgeDamage({ servers: server.url, host: 'd1', ...users.admin }, 4, 'again')).rejects.toThrow(/already acknowledged/);

    // vFunD starts again: its head is the acknowledged event, and it appends after it.
    const again = await writer('d1');
    expect(again.acknowledged.map((a) => a.ack.seq)).toEqual([4]);
    const stand = again.acknowledged[0]!.event;
    expect(await again.head()).toEqual({ seq: 4, hash: stand.hash });
    const more = sealChain(2, stand as Envelope, 'after');
    await again.append(more);
    await again.close();

    // Readers report it in its place (visible, counted) and verify the whole chain.
    const r = await reader('d1');
    const all = await readAll(r);
    await r.close();
    expect(all.map((e) => e.type)).toEqual([...envs.map((e) => e.type), 'journal.damage-acknowledged', ...more.map((e) => e.type)]);
    expect(all[3]).toMatchObject({ seq: 4, prevHash: envs[2]!.hash, data: { sha256: sha(foreign), reason: 'test publish by the operator', by: 'admin', ack: ref } });
    expect(await verifyChain(all)).toMatchObject({ ok: true, count: 6 });
    // The message itself is still there, untouched.
    const js = await (await import('@nats-io/jetstream')).jetstreamManager(admin);
    expect(new TextDecoder().decode((await js.streams.getMessage('VFUN_EVT_d1', { seq: 4 }))!.data)).toBe(foreign);
    // Reading from the middle checks the link over it too.
    const mid = await reader('d1');
    expect((await readAll(mid, 5)).map((e) => e.seq)).toEqual([5, 6]);
    await mid.close();
  });

  test('a well-formed event with a wrong hash in the middle: named, acknowledged, then the events after it chain on its acknowledged event', async () => {
    const envs = sealChain(2);
    const w = await writer('d2');
    await w.append(envs);
    await w.close();
    const [third] = sealChain(1, envs[1]!, 'forged');
    const tampered = encodeEnvelope({ ...third!, data: { ...(third!.data as object), instance: 'i-999' } }).canonical.replace(/"hash":"[0-9a-f]+"/, `"hash":"${third!.hash}"`);
    await jetstream(admin).publish('vfun.evt.d2._._._', tampered);
    const err = (await reader('d2').catch((e: unknown) => e)) as DamagedMessageError;
    expect(err.message).toMatch(/stream message 3 has a hash that does not match its content/);
    await acknowledgeDamage({ servers: server.url, host: 'd2', ...users.admin }, 3, 'bit flip found by the audit');
    const again = await writer('d2');
    await again.append(sealChain(1, again.acknowledged[0]!.event as Envelope, 'next'));
    await again.close();
    const r = await reader('d2');
    const all = await readAll(r);
    await r.close();
    expect(all.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(all[2]!.type).toBe('journal.damage-acknowledged');
    expect((await verifyChain(all)).ok).toBe(true);
  });
});
