/**
 * Steering a vFunD over NATS (a real nats-server with the generated users and permissions): a
 * vFunD with a JetStream journal and an admin secret serves `vfun.svc.<host>.admin`; drain and
 * evict sent there by the admin NATS user (and by `vfun admin … --fleet --host`) work and are
 * journaled with the NATS identity (subject and nonce); unsigned, badly signed and replayed
 * requests are refused with the admin socket's codes; the auditor may not publish there at all;
 * a vFunD without an admin secret serves no admin endpoint (the request gets no responder).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, testUsers, type NatsServer } from '../support/nats-server.js';
import { startDaemon, type Daemon } from '../../src/daemon/index.js';
import { ControlClient } from '../../src/guest/control-client.js';
import { connect } from '../../src/guest/connect.js';
import { askAdmin } from '../../src/admin/client.js';
import { natsTransport } from '../../src/admin/nats-transport.js';
import { signBody } from '../../src/control/protocol.js';
import { openJournal } from '../../src/events/adapters/open-journal.js';
import type { Envelope } from '../../src/events/envelope.js';
import { AdminRefusedError, NoAdminEndpointError } from '../../src/errors.js';

const exec = promisify(execFile);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const ADMIN_SECRET = 'the admin secret of the fleet test, 16+';
const TENANT_SECRET = 'acme secret, 16+ characters';
const SIGNED = 'adm-1';
const UNSIGNED = 'adm-2';
const configOf = (admin: boolean) => ({
  tenants: [{ id: 'acme', secret: TENANT_SECRET, maxInstances: 4 }],
  functions: [{ name: 'crc32', kinds: { sw: { slots: 4, driver: 'crc32' } } }],
  ...(admin && { admin: { secret: ADMIN_SECRET } }),
});

describe('the admin endpoint of a vFunD in the fleet', () => {
  const users = testUsers([SIGNED, UNSIGNED]);
  let server: NatsServer;
  let dir: string;
  const daemons = new Map<string, Daemon>();
  const log: string[] = [];
  let admin: NatsConnection;
  let auditor: NatsConnection;
  const hostPort = () => server.url.replace('nats://', '');
  const journalUrl = (host: string) => `nats://${users.vfund(host).user}:${users.vfund(host).pass}@${hostPort()}?host=${host}`;
  const opts = { secret: ADMIN_SECRET, timeoutMs: 5000 };
  const subject = `vfun.svc.${SIGNED}.admin`;

  /** Every event of `host`'s journal, read as the admin user. */
  const journal = async (host: string): Promise<Envelope[]> => {
    const { journal: reader } = await openJournal(`nats://${users.admin.user}:${users.admin.pass}@${hostPort()}?host=${host}`, { readOnly: true });
    const events: Envelope[] = [];
    try {
      for await (const e of reader.read()) events.push(e);
    } finally {
      await reader.close();
    }
    return events;
  };

  /** A live instance of acme on the signed host, in computation. */
  async function guest(app: string) {
    const c = await ControlClient.connect(daemons.get(SIGNED)!.sockets['acme']!);
    const creds = { tenant: 'acme', credential: TENANT_SECRET };
    const n = await c.negotiate({ ...creds, app, fn: 'crc32', kind: 'sw' });
    if (!n.ok) throw new Error(`${n.reason}: ${n.detail}`);
    const a = await c.activate({ ...creds, instance: n.instance });
    if (!a.ok) throw new Error(a.detail);
    const region = connect(a.region);
    return { instance: n.instance, call: () => region.call(new Uint8Array([1, 2, 3])), close: () => (region.close(), c.close()) };
  }

  /** A request line as the CLI sends it, signed with `secret` (or not). */
  const requestLine = (op: string, secret?: string) => {
    const body = { v: 1, op, args: {}, nonce: randomBytes(16).toString('hex'), ts: Date.now() };
    return JSON.stringify(secret === undefined ? body : signBody(body, secret));
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-fleet-admin-'));
    server = await startNatsServer({ users: users.list });
    for (const host of [SIGNED, UNSIGNED]) {
      const configPath = join(dir, `${host}.json`);
      await writeFile(configPath, JSON.stringify(configOf(host === SIGNED)), { mode: 0o600 });
      daemons.set(host, await startDaemon({ configPath, root: join(dir, host), journal: journalUrl(host), log: (l) => log.push(l) }));
    }
    admin = await natsConnect({ servers: server.url, ...users.admin });
    auditor = await natsConnect({ servers: server.url, ...users.auditor });
  });

  afterAll(async () => {
    await admin?.close();
    await auditor?.close();
    for (const d of daemons.values()) await d.stop('test over');
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('registers the admin endpoint only where an admin secret is configured', () => {
    expect(log.some((l) => l.startsWith('fleet: registered as NATS service vfun') && l.endsWith(`endpoints vfun.svc.${SIGNED}.{status,metrics,admin}`))).toBe(true);
    expect(log.some((l) => l.includes(`vfun.svc.${UNSIGNED}.{status,metrics} (no admin endpoint: no admin secret)`))).toBe(true);
  });

  it('drain and undrain over NATS work and are journaled with the nats identity (subject, nonce)', async () => {
    const d = daemons.get(SIGNED)!;
    const nats = natsTransport(admin, SIGNED);
    expect(await askAdmin(nats, 'drain', {}, opts)).toEqual({ events: ['drain.changed'], released: [] });
    expect(d.status().accepting).toBe(false);
    await expect(askAdmin(nats, 'drain', {}, opts)).rejects.toMatchObject({ reason: 'unchanged' });
    await askAdmin(nats, 'undrain', {}, opts);
    expect(d.status().accepting).toBe(true);
    const drains = (await journal(SIGNED)).filter((e) => e.type === 'drain.changed');
    expect(drains.map((e) => (e.data as { draining: boolean }).draining)).toEqual([true, false]);
    for (const e of drains) expect((e.data as { by: unknown }).by).toEqual({ via: 'nats', subject, nonce: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(daemons.get(UNSIGNED)!.status().accepting).toBe(true);
  });

  it('evict over NATS releases the instance (its guest finds the region closed), journaled with the nats identity', async () => {
    const g = await guest('evictee');
    g.call();
    const r = await askAdmin(natsTransport(admin, SIGNED), 'evict', { instance: g.instance }, opts);
    expect(r).toEqual({ events: ['admin.evicted', 'instance.released'], released: [g.instance] });
    expect(() => g.call()).toThrow();
    const events = await journal(SIGNED);
    const evicted = events.find((e) => e.type === 'admin.evicted')!;
    expect(evicted).toMatchObject({ instance: g.instance, data: { instance: g.instance, by: { via: 'nats', subject } } });
    expect(events[events.indexOf(evicted) + 1]).toMatchObject({ type: 'instance.released', data: { instance: g.instance, reason: 'evicted' } });
    g.close();
  });

  it('refuses unsigned, badly signed and replayed requests with the admin socket\'s codes; nothing changes', async () => {
    const nats = natsTransport(admin, SIGNED);
    const refused = (p: Promise<unknown>) => p.then(() => 'accepted', (e: unknown) => (e instanceof AdminRefusedError ? e.reason : String(e)));
    expect(await refused(askAdmin(nats, 'drain', {}, { timeoutMs: 5000 }))).toBe('credential');
    expect(await refused(askAdmin(nats, 'drain', {}, { secret: 'not the admin secret, but long', timeoutMs: 5000 }))).toBe('credential');
    const line = requestLine('drain', ADMIN_SECRET);
    expect((await admin.request(subject, line, { timeout: 5000 })).json()).toMatchObject({ ok: true, op: 'drain' });
    expect((await admin.request(subject, line, { timeout: 5000 })).json()).toMatchObject({ ok: false, code: 'replayed' });
    expect((await admin.request(subject, 'not json', { timeout: 5000 })).json()).toMatchObject({ ok: false, code: 'malformed' });
    await askAdmin(nats, 'undrain', {}, opts);
    expect(log.some((l) => l.startsWith(`fleet admin: refused a request on ${subject}: credential: the request is not signed`))).toBe(true);
  });

  it('the auditor may not publish to the admin endpoint: the server refuses it, vFunD never sees it', async () => {
    const before = (await journal(SIGNED)).length;
    const err = await auditor.request(subject, requestLine('drain', ADMIN_SECRET), { timeout: 2000 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(String((err as Error).cause ?? err)).toMatch(/Permissions Violation for Publish to "vfun\.svc\.adm-1\.admin"/i);
    expect(daemons.get(SIGNED)!.status().accepting).toBe(true);
    expect((await journal(SIGNED)).length).toBe(before);
  });

  it('without an admin secret there is no admin endpoint: the request gets no responder (status still answers)', async () => {
    const err = await askAdmin(natsTransport(admin, UNSIGNED), 'drain', {}, opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoAdminEndpointError);
    expect((err as Error).message).toContain(`no vFunD of host ${UNSIGNED} answers admin requests on vfun.svc.${UNSIGNED}.admin`);
    expect((await admin.request(`vfun.svc.${UNSIGNED}.status`, '', { timeout: 5000 })).json()).toMatchObject({ host: UNSIGNED, accepting: true });
    expect(daemons.get(UNSIGNED)!.status().accepting).toBe(true);
  });

  it('vfun admin drain --fleet <url> --host H sends the same request over NATS', async () => {
    await writeFile(join(dir, 'admin.password'), `${users.admin.pass}\n`, { mode: 0o600 });
    await writeFile(join(dir, 'admin.secret'), `${ADMIN_SECRET}\n`, { mode: 0o600 });
    const url = `nats://${users.admin.user}@${hostPort()}?passwordFile=${join(dir, 'admin.password')}`;
    const run = (args: string[]) =>
      exec(process.execPath, [CLI, 'admin', ...args, '--fleet', url, '--secret-file', join(dir, 'admin.secret')]).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    const drained = await run(['drain', '--host', SIGNED]);
    expect(drained.stdout).toBe(`the host drains: new negotiations are refused (draining), live instances go on (host ${SIGNED})\n`);
    expect(daemons.get(SIGNED)!.status().accepting).toBe(false);
    expect((await run(['undrain', '--host', SIGNED])).code).toBe(0);
    expect(daemons.get(SIGNED)!.status().accepting).toBe(true);
    const none = await run(['drain', '--host', UNSIGNED]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`no vFunD of host ${UNSIGNED} answers admin requests`);
    const wildcard = await run(['drain', '--host', '*']);
    expect(wildcard.code).toBe(1);
    expect(wildcard.stderr).toContain("--host: '*' is not a host name");
    const audit = await exec(process.execPath, [CLI, 'audit', '--journal', `nats://${users.admin.user}@${hostPort()}?passwordFile=${join(dir, 'admin.password')}&host=${SIGNED}`, '--type', 'drain.changed', '--wide']);
    expect(audit.stdout).toMatch(new RegExp(`host draining by NATS vfun\\.svc\\.${SIGNED}\\.admin request [0-9a-f]{32}`));
  });
});
