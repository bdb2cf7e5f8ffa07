/**
 * Steering `vfun up` as an operator does: SIGHUP reloads its configuration file (a tenant added,
 * one removed with its instance released, a quota changed), a bad file changes nothing, and
 * `vfun admin …` (root from VFUN_ROOT, no admin secret: the peer check alone) drains, evicts and
 * reloads; against a root where no vFunD runs it says so.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/guest/control-client.js';

const exec = promisify(execFile);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const SECRETS = { acme: 'acme-secret-for-the-reload-test', globex: 'globex-secret-for-the-reload-test', initech: 'initech-secret-for-the-reload-test' };
type TenantId = keyof typeof SECRETS;

const configOf = (tenants: [TenantId, number][]) => ({
  tenants: tenants.map(([id, maxInstances]) => ({ id, secret: SECRETS[id], maxInstances })),
  functions: [{ name: 'crc32', kinds: { sw: { slots: 4, driver: 'crc32' } } }],
});

describe('vfun up, steered: SIGHUP and vfun admin', () => {
  let dir: string;
  let root: string;
  let configPath: string;
  let daemon: ChildProcess;
  let out = '';
  const waiters: { text: string; from: number; resolve: (s: string) => void }[] = [];
  /** The next line containing `text` logged after this call. */
  const next = (text: string): Promise<string> =>
    new Promise((resolve) => {
      waiters.push({ text, from: out.length, resolve });
    });
  const vfun = (args: string[], env: Record<string, string> = { VFUN_ROOT: root }) =>
    exec(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
  const journal = async () => (await readFile(join(root, 'admin', 'journal.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; instance: string | null; data: Record<string, unknown> });
  const negotiate = async (tenant: TenantId, app: string, c?: ControlClient) => {
    const client = c ?? (await ControlClient.connect(join(root, 'vmcli', tenant, 'control.sock')));
    const a = await client.negotiate({ tenant, credential: SECRETS[tenant], app, fn: 'crc32', kind: 'sw' });
    if (c === undefined) client.close();
    return a;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-reload-'));
    root = join(dir, 'root');
    configPath = join(dir, 'config.json');
    await writeFile(configPath, JSON.stringify(configOf([['acme', 2], ['globex', 2]])), { mode: 0o600 });
    daemon = spawn(process.execPath, [CLI, 'up', '--config', configPath, '--root', root], { stdio: ['ignore', 'pipe', 'inherit'] });
    daemon.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      for (const w of [...waiters]) {
        const line = out.slice(w.from).split('\n').find((l) => l.includes(w.text));
        if (line !== undefined) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
    await next('ready');
  });
  afterAll(async () => {
    daemon.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('announces its admin socket', () => {
    expect(out).toContain(`admin socket ${join(root, 'admin', 'admin.sock')} (root and vFunD's user, peer check only)`);
  });

  it('SIGHUP reloads the file: tenant added, tenant removed (its instance released), quota changed, journaled as config.reloaded', async () => {
    const held = await ControlClient.connect(join(root, 'vmcli', 'globex', 'control.sock'));
    const g = await negotiate('globex', 'leaving', held);
    if (!g.ok) throw new Error(g.detail);
    await writeFile(configPath, JSON.stringify(configOf([['acme', 3], ['initech', 1]])));
    const reloaded = next('configuration reloaded:');
    daemon.kill('SIGHUP');
    expect(await reloaded).toContain(`configuration reloaded: tenant added initech; tenant removed globex; tenant acme changed maxInstances; released ${g.instance}`);
    const events = await journal();
    const e = events.find((x) => x.type === 'config.reloaded')!;
    expect(e.data['by']).toEqual({ via: 'signal', signal: 'SIGHUP' });
    expect(e.data['changes']).toMatchObject({ tenants: { added: ['initech'], removed: ['globex'], changed: [{ name: 'acme', fields: [{ field: 'maxInstances', from: 2, to: 3 }] }] } });
    expect(events.find((x) => x.type === 'instance.released' && x.instance === g.instance)!.data['reason']).toBe('reconfigured');
    expect(await negotiate('initech', 'welcome')).toMatchObject({ ok: true });
    held.close();
  });

  it('SIGHUP with a bad file changes nothing and says why', async () => {
    // (The guests of the test before leave asynchronously: count reloads, not events.)
    const reloads = async () => (await journal()).filter((e) => e.type === 'config.reloaded' || e.data['reason'] === 'reconfigured').length;
    const before = await reloads();
    await writeFile(configPath, JSON.stringify({ ...configOf([['acme', 3]]), functions: [] }));
    const refused = next('configuration reload refused, nothing changed');
    daemon.kill('SIGHUP');
    expect(await refused).toContain('functions');
    expect(await reloads()).toBe(before);
    expect(await negotiate('initech', 'still-here')).toMatchObject({ ok: true });
  });

  it('vfun admin drain / undrain / evict / reload, with the root from VFUN_ROOT', async () => {
    let r = await vfun(['admin', 'drain']);
    expect(r).toMatchObject({ code: 0, stdout: expect.stringContaining('the host drains') });
    expect(await negotiate('acme', 'late')).toMatchObject({ ok: false, reason: 'draining' });
    r = await vfun(['admin', 'drain', '--off']);
    expect(r).toMatchObject({ code: 0, stdout: expect.stringContaining('the host admits new negotiations again') });
    const c = await ControlClient.connect(join(root, 'vmcli', 'acme', 'control.sock'));
    const a = await negotiate('acme', 'evictee', c);
    if (!a.ok) throw new Error(a.detail);
    r = await vfun(['admin', 'evict', a.instance]);
    expect(r).toMatchObject({ code: 0, stdout: expect.stringContaining(`evicted ${a.instance}`) });
    r = await vfun(['admin', 'evict', a.instance]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`unknown-instance: no live instance '${a.instance}'`);
    c.close();
    await writeFile(configPath, JSON.stringify(configOf([['acme', 3], ['initech', 1]])));
    r = await vfun(['admin', 'reload']);
    expect(r).toMatchObject({ code: 0, stdout: expect.stringContaining('configuration reloaded: nothing changed') });
    const evicted = (await journal()).find((x) => x.type === 'admin.evicted')!;
    expect(evicted.data['by']).toMatchObject({ via: 'admin-socket', uid: process.getuid!() });
  });

  it('vfun admin against a root where no vFunD runs: exit 1, saying so', async () => {
    const r = await vfun(['admin', 'reload', '--root', join(dir, 'nothing-here')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`no vFunD is running with root ${join(dir, 'nothing-here')} (no admin socket at ${join(dir, 'nothing-here', 'admin', 'admin.sock')})`);
  });

  it('SIGTERM still stops it cleanly', async () => {
    const exited = new Promise<number | null>((resolve) => daemon.once('exit', (code) => resolve(code)));
    daemon.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
