/**
 * Tenant isolation by the OS: two tenants whose guests run as two different
 * users. A tenant cannot open, map, connect to, or list the names of another
 * tenant's regions and socket; its own work goes through. Needs root to
 * create the users (CI runs as root); without root it checks the ownership
 * and modes that give this isolation.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/guest/control-client.js';

const exec = promisify(execFile);
const DIST = join(import.meta.dirname, '../../dist');
const CLI = join(DIST, 'src/cli/main.js');
const OFFLOAD = join(DIST, 'examples/offload.js');
const isRoot = process.getuid?.() === 0;
const SECRET = { ta: 'tenant-a-secret-isolation-test', tb: 'tenant-b-secret-isolation-test' };

function ensureUser(name: string): { uid: number; gid: number } {
  try {
    execFileSync('id', ['-u', name], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', name]);
  }
  return { uid: Number(execFileSync('id', ['-u', name], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', name], { encoding: 'utf8' })) };
}

/** Run a small probe as a user; it prints what each attempt gave (an errno code or 'ok'). */
async function probeAs(user: { uid: number; gid: number }, targets: Record<string, string>): Promise<Record<string, string>> {
  const script = `
    const fs = require('node:fs'); const net = require('node:net');
    const t = ${JSON.stringify(targets)}; const out = {};
    const tryIt = (k, f) => { try { f(); out[k] = 'ok'; } catch (e) { out[k] = e.code; } };
    tryIt('listTenants', () => fs.readdirSync(t.vmcli));
    tryIt('listOther', () => fs.readdirSync(t.otherTenantDir));
    tryIt('openRegion', () => fs.closeSync(fs.openSync(t.otherDataout, 'r')));
    tryIt('statRegion', () => fs.statSync(t.otherDataout));
    const s = net.connect(t.otherSocket);
    s.on('connect', () => { out.connectSocket = 'ok'; s.end(); done(); });
    s.on('error', (e) => { out.connectSocket = e.code; done(); });
    function done() { console.log(JSON.stringify(out)); }`;
  const { stdout } = await exec(process.execPath, ['-e', script], { uid: user.uid, gid: user.gid });
  return JSON.parse(stdout) as Record<string, string>;
}

describe(`tenant isolation (${isRoot ? 'two OS users' : 'modes and owners only: not root'})`, () => {
  let root: string;
  let daemon: ChildProcess;
  let users: Record<'ta' | 'tb', { uid: number; gid: number }>;
  const sock = (t: string) => join(root, 'vmcli', t, 'control.sock');

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'vfun-iso-'));
    await chmod(root, 0o711);
    const me = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    users = isRoot ? { ta: ensureUser('vfun-test-ta'), tb: ensureUser('vfun-test-tb') } : { ta: me, tb: me };
    const config = {
      tenants: (['ta', 'tb'] as const).map((id) => ({ id, secret: SECRET[id], maxInstances: 4, ...(isRoot ? users[id] : {}) })),
      functions: [{ name: 'crc32', kinds: { sw: { slots: 4, driver: 'crc32' } } }],
    };
    await writeFile(join(root, 'config.json'), JSON.stringify(config), { mode: 0o600 }); // its directory is open to the tenants' uids
    daemon = spawn(process.execPath, [CLI, 'up', '--config', join(root, 'config.json'), '--root', join(root, 'vf')], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      daemon.stdout!.on('data', (d: Buffer) => (out += d.toString()).includes('ready') && resolve());
      daemon.once('exit', (c) => reject(new Error(`daemon exited ${c}: ${out}`)));
    });
    root = join(root, 'vf');
  });
  afterAll(async () => {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('exit', r));
    await rm(join(root, '..'), { recursive: true, force: true });
  });

  it('each tenant runs all four phases as its own user', async () => {
    for (const t of ['ta', 'tb'] as const) {
      const { stdout } = await exec(process.execPath, [OFFLOAD, '--socket', sock(t), '--tenant', t, '--app', 'app', '--fn', 'crc32', '--kind', 'sw', '--arg', 'hello'], {
        env: { ...process.env, VFUN_SECRET: SECRET[t] },
        ...users[t],
      });
      expect(JSON.parse(stdout)).toMatchObject({ phases: ['negotiation', 'activation', 'computation', 'release', 'released'], result: '86a61036' });
    }
  });

  it("a tenant cannot open, map, connect to or list another tenant's regions and socket", async () => {
    // ta holds an active instance while tb probes.
    const c = await ControlClient.connect(sock('ta'));
    const n = await c.negotiate({ tenant: 'ta', credential: SECRET.ta, app: 'held', fn: 'crc32', kind: 'sw' });
    expect(n.ok).toBe(true);
    const a = n.ok ? await c.activate({ tenant: 'ta', credential: SECRET.ta, instance: n.instance }) : null;
    expect(a?.ok).toBe(true);
    // The region is sealed memory handed over ta's socket; its name and metadata are in the tree.
    const dataout = join(root, 'vmcli', 'ta', 'held', 'crc32', 'region.json');
    const tenantDir = await stat(join(root, 'vmcli', 'ta'));
    expect({ mode: (tenantDir.mode & 0o777).toString(8), uid: tenantDir.uid }).toEqual({ mode: isRoot ? '750' : '700', uid: process.getuid?.() });
    const file = await stat(dataout);
    expect({ mode: (file.mode & 0o777).toString(8), uid: file.uid, gid: file.gid }).toEqual({ mode: '600', ...users.ta });
    if (isRoot) {
      const seen = await probeAs(users.tb, { vmcli: join(root, 'vmcli'), otherTenantDir: join(root, 'vmcli', 'ta'), otherDataout: dataout, otherSocket: sock('ta') });
      expect(seen).toEqual({ listTenants: 'EACCES', listOther: 'EACCES', openRegion: 'EACCES', statRegion: 'EACCES', connectSocket: 'EACCES' });
      // And the owner can reach its own.
      const own = await probeAs(users.ta, { vmcli: join(root, 'vmcli'), otherTenantDir: join(root, 'vmcli', 'ta'), otherDataout: dataout, otherSocket: sock('ta') });
      expect(own).toMatchObject({ listTenants: 'EACCES', listOther: 'ok', openRegion: 'ok', connectSocket: 'ok' });
    }
    if (isRoot && n.ok) {
      // The instance's service process runs as ta, not as vFunD's root, and is sandboxed.
      const entry = JSON.parse(await readFile(join(root, 'admin', 'instances', `${n.instance}.json`), 'utf8')) as { pid: number };
      const status = await readFile(`/proc/${entry.pid}/status`, 'utf8');
      const field = (k: string) => status.match(new RegExp(`^${k}:\\s*(.*)$`, 'm'))?.[1]?.trim().split(/\s+/)[0];
      expect({ uid: Number(field('Uid')), gid: Number(field('Gid')), noNewPrivs: field('NoNewPrivs'), seccomp: field('Seccomp') }).toEqual({ ...users.ta, noNewPrivs: '1', seccomp: '2' });
    }
    if (n.ok) await c.release({ tenant: 'ta', credential: SECRET.ta, instance: n.instance });
    c.close();
  });
});
