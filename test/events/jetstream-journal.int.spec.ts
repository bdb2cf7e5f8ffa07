/**
 * The JetStream journal beyond the shared contract (journal-contract.ts):
 * subjects, headers and stream settings, the single-writer rule, dedupe,
 * corruption detection, URLs, read-only opening and the trace sink. Runs
 * against a real nats-server on a free loopback port, with authentication on:
 * each journal writes as its host's vfund user, readers read as the auditor,
 * and the test's own inspections and forgeries are an admin's.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ConcurrencyError, JournalCorruptError, VirtFunError } from '../../src/errors.js';
import { encodeEnvelope } from '../../src/events/canonical.js';
import { sealEnvelope, verifyChain } from '../../src/events/chain.js';
import { GENESIS_HASH, HOST_SCOPE, type Envelope, type PendingEvent } from '../../src/events/envelope.js';
import {
  JetStreamJournal,
  eventSubject,
  parseJetStreamUrl,
  subjectToken,
  traceSubject,
} from '../../src/events/adapters/jetstream/index.js';
import { openJournal } from '../../src/events/adapters/open-journal.js';
import { Recorder } from '../../src/events/recorder.js';
import { startNatsServer, testUsers, type NatsServer } from '../support/nats-server.js';
import { counterIds, pending, steppingClock } from './arbitraries.js';
import { readAll, sealChain } from './journal-contract.js';

let server: NatsServer;
let admin: NatsConnection;
let jsm: JetStreamManager;
let hosts = 0;
const freshHost = (): string => `js-${++hosts}`;
const users = testUsers(Array.from({ length: 40 }, (_, i) => `js-${i + 1}`));
/** Connection options of `host`'s vFunD. */
const as = (host: string) => ({ servers: server.url, ...users.vfund(host) });
/** The auditor's, for read-only opens. */
const auditor = () => ({ servers: server.url, ...users.auditor });
/** `nats://admin:…@127.0.0.1:port` (custom stream names are not in the vfund users' permissions). */
const adminUrl = () => server.url.replace('nats://', `nats://${users.admin.user}:${encodeURIComponent(users.admin.pass)}@`);

beforeAll(async () => {
  server = await startNatsServer({ users: users.list });
  admin = await connect({ servers: server.url, ...users.admin });
  jsm = await jetstreamManager(admin);
});
afterAll(async () => {
  await admin?.close();
  await server?.stop();
});

function scoped(seq: number, scope: PendingEvent['scope']): PendingEvent {
  return { ...pending(seq), scope };
}

/** Seals pending events into a chain after `after`. */
function sealAll(items: readonly PendingEvent[], after: Envelope | null = null, prefix = 'e', host = 'h1'): Envelope[] {
  const out: Envelope[] = [];
  let prev = after;
  for (const p of items) {
    const seq = prev === null ? 1 : prev.seq + 1;
    const env = sealEnvelope(p, {
      seq,
      prevHash: prev === null ? GENESIS_HASH : prev.hash,
      id: `${prefix}-${seq}`,
      at: new Date(Date.UTC(2026, 0, 1) + seq).toISOString(),
      host,
    });
    out.push(env);
    prev = env;
  }
  return out;
}

describe('subjects and streams', () => {
  test('subject tokens: names as they are, null as _, anything else hashed behind ~', () => {
    expect(subjectToken('acme')).toBe('acme');
    expect(subjectToken('fn_2-b')).toBe('fn_2-b');
    expect(subjectToken(null)).toBe('_');
    for (const odd of ['a.b', '*', '>', 'with space', '', '_x', '\u0000', 'é', 'x'.repeat(64)]) {
      const t = subjectToken(odd);
      expect(t).toMatch(/^~[0-9a-f]{24}$/);
      expect(subjectToken(odd)).toBe(t);
    }
    expect(subjectToken('a.b')).not.toBe(subjectToken('a b'));
    expect(eventSubject('h1', { tenant: 't', app: 'a', fn: 'f' })).toBe('vfun.evt.h1.t.a.f');
    expect(eventSubject('h1', HOST_SCOPE)).toBe('vfun.evt.h1._._._');
    expect(traceSubject('h1', { tenant: 't' })).toBe('vfun.trace.h1.t._._');
  });

  test('events land on vfun.evt.<host>.<tenant>.<app>.<fn> with msg-id and expectations; stream settings', async () => {
    const host = freshHost();
    const journal = await JetStreamJournal.open({ ...as(host), host });
    try {
      const envs = sealAll(
        [
          scoped(1, HOST_SCOPE),
          scoped(2, { tenant: 'acme', app: 'shop', fn: 'crc32', instance: 'i-1' }),
          scoped(3, { tenant: 'acme', app: 'shop', fn: 'crc32', instance: 'i-2' }),
          scoped(4, { tenant: 'a.b', app: null, fn: null, instance: null }),
        ],
        null,
        'id',
        host,
      );
      await journal.append(envs);
      const stored = await Promise.all(envs.map((e) => jsm.streams.getMessage(journal.stream, { seq: e.seq })));
      expect(stored.map((m) => m?.subject)).toEqual([
        `vfun.evt.${host}._._._`,
        `vfun.evt.${host}.acme.shop.crc32`,
        `vfun.evt.${host}.acme.shop.crc32`,
        `vfun.evt.${host}.${subjectToken('a.b')}._._`,
      ]);
      stored.forEach((m, i) => {
        const env = envs[i]!;
        expect(m!.seq).toBe(env.seq);
        expect(m!.header.get('Nats-Msg-Id')).toBe(env.id);
        expect(m!.header.get('Nats-Expected-Last-Sequence')).toBe(String(env.seq - 1));
        expect(m!.header.has('Nats-Expected-Last-Subject-Sequence')).toBe(true);
        expect(new TextDecoder().decode(m!.data)).toBe(encodeEnvelope(env).canonical);
      });
      // seq 3 follows seq 2 on the same subject
      expect(stored[2]!.header.get('Nats-Expected-Last-Subject-Sequence')).toBe('2');
      expect(stored[1]!.header.get('Nats-Expected-Last-Subject-Sequence')).toBe('0');

      const info = await jsm.streams.info(journal.stream);
      expect(journal.stream).toBe(`VFUN_EVT_${host}`);
      expect(info.config).toMatchObject({
        subjects: [`vfun.evt.${host}.>`],
        storage: 'file',
        deny_delete: true,
        deny_purge: true,
        retention: 'limits',
        max_msgs: -1,
        max_age: 0,
      });
      await expect(jsm.streams.deleteMessage(journal.stream, 1)).rejects.toThrow();
      await expect(jsm.streams.purge(journal.stream)).rejects.toThrow();
      const trace = await jsm.streams.info(journal.traceStream);
      expect(trace.config).toMatchObject({ subjects: ['vfun.trace.>'], retention: 'limits', storage: 'file' });
      expect(trace.config.max_age).toBeGreaterThan(0);
    } finally {
      await journal.close();
    }
  });

  test('a stream that captures other subjects is refused', async () => {
    await jsm.streams.add({ name: 'NOT_A_JOURNAL', subjects: ['other.>'] });
    await expect(JetStreamJournal.open({ servers: server.url, ...users.admin, host: freshHost(), stream: 'NOT_A_JOURNAL' })).rejects.toMatchObject({
      code: 'CONFIG',
    });
    await expect(JetStreamJournal.open({ servers: server.url, host: 'not a name' })).rejects.toMatchObject({ code: 'VALIDATION' });
  });
});

describe('single writer', () => {
  test('a second writer on the same host is refused with ConcurrencyError and fenced', async () => {
    const host = freshHost();
    const a = await JetStreamJournal.open({ ...as(host), host });
    const b = await JetStreamJournal.open({ ...as(host), host });
    try {
      const ra = await Recorder.open({ journal: a, clock: steppingClock(), ids: counterIds('a'), host });
      const rb = await Recorder.open({ journal: b, clock: steppingClock(), ids: counterIds('b'), host });
      await ra.record([pending(1), pending(2)]);
      // b still believes the journal is empty: its seq 1 is refused by the stream, not merged.
      await expect(rb.record([pending(3)])).rejects.toBeInstanceOf(ConcurrencyError);
      expect(b.state().failure).toBeInstanceOf(ConcurrencyError);
      expect(b.available()).toBe(false);
      await expect(rb.record([pending(4)])).rejects.toBeInstanceOf(ConcurrencyError);
      // a goes on
      await ra.record([pending(5)]);
      const stored = await readAll(a);
      expect(stored.map((e) => e.id)).toEqual(['a-1', 'a-2', 'a-3']);
      expect((await verifyChain(stored)).ok).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('two writers racing pipelined batches from the same head: one wins whole, nothing interleaves', async () => {
    for (let round = 0; round < 5; round++) {
      const host = freshHost();
      const seed = await JetStreamJournal.open({ ...as(host), host });
      const base = sealChain(3, null, 'base');
      await seed.append(base);
      await seed.close();
      const a = await JetStreamJournal.open({ ...as(host), host });
      const b = await JetStreamJournal.open({ ...as(host), host });
      try {
        const chainA = sealChain(200, base[2]!, 'A');
        const chainB = sealChain(200, base[2]!, 'B');
        // Many appends each, interleaved in time, all pipelined.
        const results = await Promise.allSettled([
          ...Array.from({ length: 20 }, (_, i) => a.append(chainA.slice(i * 10, i * 10 + 10))),
          ...Array.from({ length: 20 }, (_, i) => b.append(chainB.slice(i * 10, i * 10 + 10))),
        ]);
        const rejected = results.filter((r) => r.status === 'rejected');
        for (const r of rejected) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyError);
        const reader = await JetStreamJournal.open({ ...auditor(), host, readOnly: true });
        const stored = await readAll(reader);
        await reader.close();
        expect((await verifyChain(stored)).ok).toBe(true);
        const writers = new Set(stored.slice(3).map((e) => e.id.split('-')[0]));
        expect(writers.size).toBeLessThanOrEqual(1);
        expect(stored.slice(0, 3)).toEqual(base);
        // exactly one of them was fenced
        expect([a.state().failure, b.state().failure].filter((f) => f !== null)).toHaveLength(1);
      } finally {
        await a.close();
        await b.close();
      }
    }
  });
});

describe('exactly once', () => {
  test('envelopes left in the outbox that the stream already has are not stored twice', async () => {
    const host = freshHost();
    const dir = await mkdtemp(join(tmpdir(), 'vfun-outbox-'));
    try {
      const envs = sealChain(8, null, 'o');
      const first = await JetStreamJournal.open({ ...as(host), host });
      await first.append(envs.slice(0, 5));
      await first.close();
      // A previous run wrote 3..8 to its outbox (3..5 reached the stream, the acks were lost).
      const outbox = join(dir, 'outbox.ndjson');
      await writeFile(outbox, envs.slice(2).map((e) => encodeEnvelope(e).canonical + '\n').join(''));
      const again = await JetStreamJournal.open({ ...as(host), host, outbox });
      expect(await again.head()).toEqual({ seq: 8, hash: envs[7]!.hash });
      expect(await again.flushed(10_000)).toBe(true);
      expect(await readAll(again)).toEqual(envs);
      expect((await jsm.streams.info(again.stream)).state.messages).toBe(8);
      await again.close();
      const reopened = await JetStreamJournal.open({ ...as(host), host, outbox });
      expect(reopened.state().outboxed).toBe(0);
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a repeated publish of a stored envelope is deduplicated by its msg-id', async () => {
    const host = freshHost();
    const journal = await JetStreamJournal.open({ ...as(host), host });
    const envs = sealChain(2);
    await journal.append(envs);
    const js = jetstream(admin);
    const ack = await js.publish(`vfun.evt.${host}._._._`, encodeEnvelope(envs[0]!).canonical, { msgID: envs[0]!.id });
    expect(ack).toMatchObject({ duplicate: true, seq: 1 });
    expect((await jsm.streams.info(journal.stream)).state.messages).toBe(2);
    await journal.close();
  });

  test('an outbox that does not continue the stream is refused', async () => {
    const host = freshHost();
    const dir = await mkdtemp(join(tmpdir(), 'vfun-outbox-'));
    try {
      const first = await JetStreamJournal.open({ ...as(host), host });
      await first.append(sealChain(2, null, 'mine'));
      await first.close();
      const outbox = join(dir, 'outbox.ndjson');
      await writeFile(outbox, sealChain(3, null, 'other').map((e) => encodeEnvelope(e).canonical + '\n').join(''));
      await expect(JetStreamJournal.open({ ...as(host), host, outbox })).rejects.toBeInstanceOf(ConcurrencyError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('damage', () => {
  test('a foreign message in the stream is reported by open and by read', async () => {
    const host = freshHost();
    const journal = await JetStreamJournal.open({ ...as(host), host });
    const envs = sealChain(3);
    await journal.append(envs);
    await journal.close();
    const js = jetstream(admin);
    await js.publish(`vfun.evt.${host}.x.y.z`, '{"not":"an envelope"}');
    await expect(JetStreamJournal.open({ ...as(host), host })).rejects.toBeInstanceOf(JournalCorruptError);

    const host2 = freshHost();
    const j2 = await JetStreamJournal.open({ ...as(host2), host: host2 });
    await j2.append(envs.slice(0, 1));
    await j2.close();
    // seq 2 of someone else's chain, then our real seq 2 and 3: the head is fine, the chain is not.
    await js.publish(`vfun.evt.${host2}._._._`, encodeEnvelope(sealChain(2, { ...envs[0]!, hash: 'e'.repeat(64) } as Envelope, 'z')[0]!).canonical);
    await js.publish(`vfun.evt.${host2}._._._`, encodeEnvelope(envs[2]!).canonical);
    const again = await JetStreamJournal.open({ ...as(host2), host: host2 });
    await expect(readAll(again)).rejects.toBeInstanceOf(JournalCorruptError);
    // reading from seq 3 checks that it chains on seq 2 too
    await expect(readAll(again, 3)).rejects.toThrow(/stream message 3 prevHash/);
    expect(await readAll(again, 2).catch(() => 'refused')).toBe('refused');
    await again.close();
  });
});

describe('urls and read-only', () => {
  test('parseJetStreamUrl', () => {
    expect(parseJetStreamUrl('nats://127.0.0.1:4222?stream=VFUN_EVT&traceStream=VFUN_TRACE')).toEqual({
      servers: ['nats://127.0.0.1:4222'],
      stream: 'VFUN_EVT',
      traceStream: 'VFUN_TRACE',
    });
    expect(parseJetStreamUrl('nats://a:1,b:2/?host=h7&replicas=3&failClosed=false&outbox=/tmp/o.ndjson&ackTimeoutMs=500')).toEqual({
      servers: ['nats://a:1', 'nats://b:2'],
      host: 'h7',
      replicas: 3,
      failClosed: false,
      outbox: '/tmp/o.ndjson',
      ackTimeoutMs: 500,
    });
    expect(() => parseJetStreamUrl('nats://a:1?bogus=1')).toThrow(/unknown parameter 'bogus'/);
    expect(() => parseJetStreamUrl('nats://?stream=x')).toThrow(/names no server/);
    expect(() => parseJetStreamUrl('nats://a:1?failClosed=maybe')).toThrow(VirtFunError);
  });

  test('openJournal(nats://…) opens a JetStream journal; read-only never creates or writes', async () => {
    const host = freshHost();
    const ro = await openJournal(`${adminUrl()}?host=${host}`, { readOnly: true });
    expect(await ro.journal.head()).toBeNull();
    expect(await readAll(ro.journal)).toEqual([]);
    await expect(ro.journal.append(sealChain(1))).rejects.toMatchObject({ code: 'CONFIG' });
    await ro.journal.close();
    await expect(jsm.streams.info(`VFUN_EVT_${host}`)).rejects.toThrow();

    const { journal, repaired } = await openJournal(`${adminUrl()}?host=${host}&stream=EVT_${host}&failClosed=false`);
    expect(repaired).toBeNull();
    expect(journal).toBeInstanceOf(JetStreamJournal);
    const js = journal as JetStreamJournal;
    expect(js.stream).toBe(`EVT_${host}`);
    expect(js.policy.failClosed).toBe(false);
    expect(js.url).toContain(`stream=EVT_${host}`);
    await journal.append(sealChain(4));
    await journal.close();
    const again = await openJournal(`${adminUrl()}?host=${host}&stream=EVT_${host}`, { readOnly: true });
    expect((await readAll(again.journal)).length).toBe(4);
    await again.journal.close();
  });
});

describe('traces', () => {
  test('push() batches records in memory; flush publishes one message per batch, per subject', async () => {
    const host = freshHost();
    const journal = await JetStreamJournal.open({ ...as(host), host, trace: { maxBatch: 100, flushMs: 10 } });
    try {
      const sink = journal.traces;
      for (let i = 0; i < 1050; i++) sink.push({ tenant: 'acme', app: 'shop', fn: i % 2 === 0 ? 'crc32' : 'sha256', instance: 'i-1', call: i, ns: 1000 + i });
      for (let i = 0; i < 7; i++) sink.push({ call: i });
      await sink.flush();
      expect(sink.stats).toMatchObject({ pushed: 1057, published: 1057, dropped: 0, buffered: 0 });
      const info = await jsm.streams.info(journal.traceStream, { subjects_filter: `vfun.trace.${host}.>` });
      // 525 per fn in batches of 100: 6 messages each; host-wide: 1
      expect(info.state.subjects).toEqual({
        [`vfun.trace.${host}.acme.shop.crc32`]: 6,
        [`vfun.trace.${host}.acme.shop.sha256`]: 6,
        [`vfun.trace.${host}._._._`]: 1,
      });
      const last = await jsm.streams.getMessage(journal.traceStream, { last_by_subj: `vfun.trace.${host}._._._` });
      const body = JSON.parse(new TextDecoder().decode(last!.data)) as { host: string; count: number; records: { call: number }[] };
      expect(body).toMatchObject({ v: 1, host, tenant: null, app: null, fn: null, count: 7 });
      expect(body.records.map((r) => r.call)).toEqual([0, 1, 2, 3, 4, 5, 6]);
      // a partial batch goes out by itself after flushMs
      sink.push({ tenant: 'acme', call: -1 });
      await expect
        .poll(async () => (await jsm.streams.info(journal.traceStream, { subjects_filter: `vfun.trace.${host}.acme._._` })).state.subjects, {
          timeout: 5000,
          interval: 20,
        })
        .toEqual({ [`vfun.trace.${host}.acme._._`]: 1 });
    } finally {
      await journal.close();
    }
  });
});
