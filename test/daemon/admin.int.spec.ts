/**
 * Steering a running vFunD through its admin socket (startDaemon, as `vfun up` runs it), with
 * guests calling through the shared-memory channel: evict, drain, tenant disable/enable and
 * reload, each journaled with who asked (this process: its uid and pid, through SO_PEERCRED);
 * a bad reload changes nothing; unsigned, badly signed, replayed requests and refused peers are
 * refused; a root without a vFunD says so.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon/index.js';
import { ControlClient } from '../../src/guest/control-client.js';
import { connect } from '../../src/guest/connect.js';
import { adminRequest, fetchStatus } from '../../src/admin/client.js';
import { adminSocketPath } from '../../src/admin/protocol.js';
import { signBody } from '../../src/control/protocol.js';
import { AdminRefusedError, NoDaemonError } from '../../src/errors.js';

const ADMIN_SECRET = 'the admin secret of this host, 16+';
const SECRETS = { acme: 'acme secret, 16+ characters', beta: 'beta secret, 16+ characters', gamma: 'gamma secret, 16+ characters', delta: 'delta secret, 16+ characters' };
type TenantId = keyof typeof SECRETS;

const fn = { name: 'crc32', kinds: { sw: { slots: 8, driver: 'crc32' } } };
const configOf = (tenants: { id: TenantId; maxInstances: number }[]) => ({
  tenants: tenants.map((t) => ({ ...t, secret: SECRETS[t.id] })),
  functions: [fn],
  admin: { secret: ADMIN_SECRET },
});

describe('the admin socket of a running vFunD', () => {
  let dir: string;
  let root: string;
  let configPath: string;
  let daemon: Daemon;
  const log: string[] = [];
  const me = { uid: process.getuid!(), pid: process.pid };
  const opts = { secret: ADMIN_SECRET };

  const journal = async (): Promise<{ seq: number; type: string; instance: string | null; data: Record<string, unknown> }[]> =>
    (await readFile(join(root, 'admin', 'journal.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));

  /** A guest of `tenant` with a live instance in computation, calling through its region. */
  async function guest(tenant: TenantId, app: string) {
    const c = await ControlClient.connect(daemon.sockets[tenant]!);
    const creds = { tenant, credential: SECRETS[tenant] };
    const n = await c.negotiate({ ...creds, app, fn: 'crc32', kind: 'sw' });
    if (!n.ok) throw new Error(`${n.reason}: ${n.detail}`);
    const a = await c.activate({ ...creds, instance: n.instance });
    if (!a.ok) throw new Error(a.detail);
    const region = connect(a.region);
    return { c, creds, instance: n.instance, call: () => region.call(new Uint8Array([1, 2, 3])), close: () => (region.close(), c.close()) };
  }

  const negotiate = async (tenant: TenantId, app: string) => {
    const c = await ControlClient.connect(daemon.sockets[tenant]!);
    try {
      return await c.negotiate({ tenant, credential: SECRETS[tenant], app, fn: 'crc32', kind: 'sw' });
    } finally {
      c.close();
    }
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-admin-'));
    root = join(dir, 'root');
    configPath = join(dir, 'config.json');
    await writeFile(configPath, JSON.stringify(configOf([{ id: 'acme', maxInstances: 3 }, { id: 'beta', maxInstances: 2 }, { id: 'gamma', maxInstances: 2 }])), { mode: 0o600 });
    daemon = await startDaemon({ configPath, root, journal: `file:${join(root, 'admin', 'journal.ndjson')}`, log: (l) => log.push(l) });
  });

  afterAll(async () => {
    await daemon?.stop('test over');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('listens on <root>/admin/admin.sock, 0600 without an admin group, and answers status', async () => {
    expect(daemon.adminSocket).toBe(adminSocketPath(root));
    const { stat } = await import('node:fs/promises');
    expect((await stat(daemon.adminSocket)).mode & 0o777).toBe(0o600);
    const s = await fetchStatus(root, opts);
    expect(s).toMatchObject({ pid: process.pid, accepting: true });
    expect(s.tenants.map((t) => t.id)).toEqual(['acme', 'beta', 'gamma']);
  });

  it('evict releases the instance (its guest finds the region closed) and journals it with the admin uid and pid', async () => {
    const g = await guest('acme', 'evictee');
    g.call();
    const r = await adminRequest(root, 'evict', { instance: g.instance }, opts);
    expect(r).toEqual({ events: ['admin.evicted', 'instance.released'], released: [g.instance] });
    expect(() => g.call()).toThrow();
    const events = await journal();
    const evicted = events.find((e) => e.type === 'admin.evicted')!;
    expect(evicted).toMatchObject({ instance: g.instance, data: { instance: g.instance, by: { via: 'admin-socket', uid: me.uid, pid: me.pid, user: 'root' } } });
    const released = events[events.indexOf(evicted) + 1]!;
    expect(released).toMatchObject({ type: 'instance.released', data: { instance: g.instance, reason: 'evicted' } });
    expect((released.data['stats'] as { calls: number }).calls).toBe(1);
    await expect(adminRequest(root, 'evict', { instance: g.instance }, opts)).rejects.toMatchObject({ reason: 'unknown-instance' });
    g.close();
  });

  it('drain refuses new negotiations (draining) while a live instance keeps answering; undrain admits again', async () => {
    const g = await guest('beta', 'steady');
    await adminRequest(root, 'drain', {}, opts);
    expect(daemon.status().accepting).toBe(false);
    expect(daemon.status().tenants.every((t) => t.draining)).toBe(true);
    expect(await negotiate('acme', 'newcomer')).toMatchObject({ ok: false, reason: 'draining' });
    for (let i = 0; i < 10; i++) g.call();
    await expect(adminRequest(root, 'drain', {}, opts)).rejects.toMatchObject({ reason: 'unchanged' });
    await adminRequest(root, 'undrain', {}, opts);
    expect(daemon.status().accepting).toBe(true);
    // A tenant's drain: only its negotiations are refused.
    await adminRequest(root, 'drain', { tenant: 'acme' }, opts);
    expect(daemon.status().tenants.filter((t) => t.draining).map((t) => t.id)).toEqual(['acme']);
    expect(await negotiate('acme', 'newcomer')).toMatchObject({ ok: false, reason: 'draining' });
    const other = await negotiate('gamma', 'fine');
    expect(other.ok).toBe(true);
    await adminRequest(root, 'undrain', { tenant: 'acme' }, opts);
    g.call();
    expect((await g.c.release({ ...g.creds, instance: g.instance })).ok).toBe(true);
    g.close();
    const drains = (await journal()).filter((e) => e.type === 'drain.changed').map((e) => [e.data['tenant'], e.data['draining']]);
    expect(drains).toEqual([[null, true], [null, false], ['acme', true], ['acme', false]]);
  });

  it('tenant disable releases its instances and refuses its negotiations (tenant-disabled); enable admits it again', async () => {
    const g = await guest('beta', 'doomed');
    const r = await adminRequest(root, 'tenant-disable', { tenant: 'beta' }, opts);
    expect(r).toEqual({ events: ['tenant.disabled', 'instance.released'], released: [g.instance] });
    expect(() => g.call()).toThrow();
    expect(await negotiate('beta', 'again')).toMatchObject({ ok: false, reason: 'tenant-disabled' });
    expect(daemon.status().tenants.find((t) => t.id === 'beta')).toMatchObject({ disabled: true, instances: 0 });
    const released = (await journal()).find((e) => e.type === 'instance.released' && e.instance === g.instance)!;
    expect(released.data['reason']).toBe('disabled');
    await adminRequest(root, 'tenant-enable', { tenant: 'beta' }, opts);
    expect(daemon.status().tenants.find((t) => t.id === 'beta')).toMatchObject({ disabled: false });
    await expect(adminRequest(root, 'tenant-disable', { tenant: 'nobody' }, opts)).rejects.toMatchObject({ reason: 'unknown-tenant' });
    g.close();
  });

  it('refuses unsigned, badly signed and replayed requests', async () => {
    await expect(adminRequest(root, 'status', {}, {})).rejects.toMatchObject({ reason: 'credential' });
    await expect(adminRequest(root, 'drain', {}, { secret: 'not the admin secret at all' })).rejects.toBeInstanceOf(AdminRefusedError);
    expect(daemon.status().accepting).toBe(true);
    const line = JSON.stringify(signBody({ v: 1, op: 'status', args: {}, nonce: randomBytes(16).toString('hex'), ts: Date.now() }, ADMIN_SECRET)) + '\n';
    const send = () =>
      new Promise<{ ok: boolean; code?: string }>((resolve, reject) => {
        const s = createConnection(daemon.adminSocket);
        s.on('connect', () => s.write(line));
        s.on('error', reject);
        s.setEncoding('utf8');
        s.once('data', (d: string) => (s.destroy(), resolve(JSON.parse(d.split('\n')[0]!))));
      });
    expect(await send()).toMatchObject({ ok: true });
    expect(await send()).toMatchObject({ ok: false, code: 'replayed' });
    // Refusals change nothing and are not journaled.
    expect((await journal()).some((e) => e.type.startsWith('admin.') && (e.data['by'] as { pid: number }).pid !== me.pid)).toBe(false);
  });

  it("refuses a peer that is neither root, vFunD's user nor in the admin group, by SO_PEERCRED, with a clear answer", async () => {
    const nobody = 65534;
    const client = `
      const s = require('node:net').createConnection(process.argv[1]);
      s.on('error', (e) => { console.log(JSON.stringify({ error: e.code })); });
      s.on('connect', () => s.write(process.argv[2] + '\\n'));
      s.setEncoding('utf8');
      s.on('data', (d) => { console.log(d.split('\\n')[0]); s.destroy(); });`;
    const line = JSON.stringify(signBody({ v: 1, op: 'drain', args: {}, nonce: randomBytes(16).toString('hex'), ts: Date.now() }, ADMIN_SECRET));
    const asNobody = () =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const child = spawn(process.execPath, ['-e', client, daemon.adminSocket, line], { uid: nobody, gid: nobody, stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('error', reject);
        child.on('exit', () => resolve(JSON.parse(out.trim() || '{}')));
      });
    // First gate: the socket's mode and the 0700 tree keep it out.
    expect(await asNobody()).toEqual({ error: 'EACCES' });
    // Second gate, with the first opened up: its peer credentials.
    for (const p of [dir, root, join(root, 'admin')]) await chmod(p, 0o711);
    await chmod(daemon.adminSocket, 0o666);
    try {
      const answer = await asNobody();
      expect(answer).toMatchObject({ ok: false, code: 'refused' });
      expect(String(answer['detail'])).toContain(`uid ${nobody}`);
      expect(daemon.status().accepting).toBe(true);
      expect(log.some((l) => l.includes('admin socket: refused a connection') && l.includes(`uid ${nobody}`))).toBe(true);
    } finally {
      await chmod(daemon.adminSocket, 0o600);
      for (const p of [join(root, 'admin'), root, dir]) await chmod(p, 0o700);
    }
  });

  it('reload adds a tenant, removes one (its instance released) and changes a quota, journaled as config.reloaded with exactly that diff', async () => {
    const g = await guest('gamma', 'leaving');
    await writeFile(configPath, JSON.stringify(configOf([{ id: 'acme', maxInstances: 5 }, { id: 'beta', maxInstances: 2 }, { id: 'delta', maxInstances: 1 }])));
    const r = await adminRequest(root, 'reload', {}, opts);
    const changes = {
      tenants: { added: ['delta'], removed: ['gamma'], changed: [{ name: 'acme', fields: [{ field: 'maxInstances', from: 3, to: 5 }] }] },
      functions: { added: [], removed: [], changed: [] },
      devices: { added: [], removed: [], changed: [] },
    };
    expect(r).toMatchObject({ changes, released: expect.arrayContaining([g.instance]) });
    const events = await journal();
    const reloaded = events.find((e) => e.type === 'config.reloaded')!;
    expect(reloaded.data['changes']).toEqual(changes);
    expect(reloaded.data['by']).toMatchObject({ via: 'admin-socket', uid: me.uid, pid: me.pid });
    expect(JSON.stringify(reloaded)).not.toContain(SECRETS.delta);
    expect(events.find((e) => e.type === 'instance.released' && e.instance === g.instance)!.data['reason']).toBe('reconfigured');
    expect(Object.keys(daemon.sockets).sort()).toEqual(['acme', 'beta', 'delta']);
    expect(daemon.status().tenants.find((t) => t.id === 'acme')!.maxInstances).toBe(5);
    const d = await guest('delta', 'newcomer');
    d.call();
    d.close();
    g.close();
  });

  it('a bad reload changes nothing and answers the ConfigError', async () => {
    // (The guest of the test before leaves asynchronously: count reloads, not events.)
    const reloads = async () => (await journal()).filter((e) => e.type === 'config.reloaded').length;
    const head = await reloads();
    const quotas = () => daemon.status().tenants.map((t) => [t.id, t.maxInstances, t.disabled]);
    const before = quotas();
    await writeFile(configPath, JSON.stringify({ ...configOf([{ id: 'acme', maxInstances: 1 }]), tenantz: [] }));
    const err = await adminRequest(root, 'reload', {}, opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdminRefusedError);
    expect(err).toMatchObject({ reason: 'config' });
    expect((err as Error).message).toContain('tenantz: unknown key');
    await writeFile(configPath, '{ "tenants": [');
    await expect(adminRequest(root, 'reload', {}, opts)).rejects.toMatchObject({ reason: 'config' });
    expect(await reloads()).toBe(head);
    expect(quotas()).toEqual(before);
    expect(log.some((l) => l.startsWith('configuration reload refused, nothing changed'))).toBe(true);
  });

  it('a root without a running vFunD: NoDaemonError, code ENOENT', async () => {
    const err = await fetchStatus(join(dir, 'elsewhere')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoDaemonError);
    expect(err).toMatchObject({ code: 'ENOENT' });
    expect((err as Error).message).toBe(`no vFunD is running with root ${join(dir, 'elsewhere')} (no admin socket at ${adminSocketPath(join(dir, 'elsewhere'))})`);
  });
});
