/**
 * vFunD as a daemon, guests as separate processes driving all four phases
 * through their tenant's control socket; every refusal journaled; a clean
 * SIGTERM releases everything and journals it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/guest/control-client.js';
import { sign, PROTOCOL_VERSION } from '../../src/control/protocol.js';
import { waitFor } from '../support/wait-output.js';

const exec = promisify(execFile);
const DIST = join(import.meta.dirname, '../../dist');
const CLI = join(DIST, 'src/cli/main.js');
const OFFLOAD = join(DIST, 'examples/offload.js');
const SECRETS = { acme: 'acme-secret-for-the-daemon-test', globex: 'globex-secret-for-the-daemon-test' };

const config = {
  tenants: [
    { id: 'acme', secret: SECRETS.acme, maxInstances: 4 },
    { id: 'globex', secret: SECRETS.globex, maxInstances: 4 },
  ],
  functions: [
    { name: 'factorial', kinds: { sw: { slots: 4, driver: 'factorial' } } },
    { name: 'crc32', kinds: { sw: { slots: 4, driver: 'crc32' } } },
    { name: 'sha256', kinds: { hw: { slots: 1, driver: 'sim-fpga:sha256' }, sw: { slots: 4, driver: 'sha256' } } },
  ],
};

describe('vfun up', () => {
  let root: string;
  let daemon: ChildProcess;
  let log: string;
  const sock = (t: string) => join(root, 'vmcli', t, 'control.sock');
  const offload = (tenant: keyof typeof SECRETS, args: string[], secret: string = SECRETS[tenant]) =>
    exec(process.execPath, [OFFLOAD, '--socket', sock(tenant), '--tenant', tenant, ...args], { env: { ...process.env, VFUN_SECRET: secret } }).then(
      (r) => JSON.parse(r.stdout),
      (e: { stdout: string }) => JSON.parse(e.stdout),
    );

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'vfun-up-'));
    await writeFile(join(root, 'config.json'), JSON.stringify(config));
    daemon = spawn(process.execPath, [CLI, 'up', '--config', join(root, 'config.json'), '--root', root], { stdio: ['ignore', 'pipe', 'inherit'] });
    log = await waitFor(daemon, 'ready');
  });
  afterAll(async () => {
    daemon.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  });

  it('announces one control socket per tenant, inside the tenant tree, 0600', async () => {
    expect(log).toContain(`tenant acme: control socket ${sock('acme')}`);
    const { stdout } = await exec('stat', ['-c', '%a', sock('acme'), join(root, 'vmcli', 'acme')]);
    expect(stdout.split('\n').slice(0, 2)).toEqual(['600', '700']);
  });

  it('guest processes run all four phases through the control channel, with the hw->sw fallback', async () => {
    const [a, b] = await Promise.all([
      offload('acme', ['--app', 'billing', '--fn', 'factorial', '--kind', 'sw', '--arg', '51', '--calls', '1000']),
      offload('globex', ['--app', 'search', '--fn', 'crc32', '--kind', 'sw', '--arg', 'hello']),
    ]);
    expect(a).toMatchObject({ phases: ['negotiation', 'activation', 'computation', 'release', 'released'], kind: 'sw', result: '18284192274659147776', stats: { calls: 1000 } });
    expect(b).toMatchObject({ result: '86a61036', stats: { calls: 1 } });
    // Two guests at once for the single hardware sha256 slot: one gets hw, the other falls back to sw.
    const both = await Promise.all(['x', 'y'].map((app) => offload('acme', ['--app', app, '--fn', 'sha256', '--kind', 'hw', '--arg', 'abc', '--calls', '50'])));
    expect(both.every((r) => r.result === 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')).toBe(true);
    expect(both.map((r) => r.kind).sort()).toEqual(expect.arrayContaining(['hw']));
    // Release left nothing behind but the tenant's socket.
    expect(await readdir(join(root, 'vmcli', 'acme'))).toEqual(['control.sock']);
  });

  it('refuses and journals a bad signature, a replayed request, another tenant, garbage', async () => {
    const bad = await offload('acme', ['--app', 'a', '--fn', 'crc32', '--kind', 'sw'], 'not-the-secret-at-all');
    expect(bad.refused).toMatchObject({ phase: 'negotiation', reason: 'credential' });

    const c = await ControlClient.connect(sock('acme'));
    const req = sign({ v: PROTOCOL_VERSION, op: 'negotiate', tenant: 'acme', nonce: randomBytes(16).toString('hex'), ts: Date.now(), app: 'r', fn: 'crc32', kind: 'sw' }, SECRETS.acme);
    const first = await c.sendRaw(JSON.stringify(req));
    expect(first).toMatchObject({ ok: true, op: 'negotiate' });
    expect(await c.sendRaw(JSON.stringify(req))).toMatchObject({ ok: false, reason: 'replayed' });
    const old = sign({ ...req, nonce: randomBytes(16).toString('hex'), ts: Date.now() - 120_000 } as never, SECRETS.acme);
    expect(await c.sendRaw(JSON.stringify(old))).toMatchObject({ ok: false, reason: 'replayed' });
    const asGlobex = sign({ ...req, nonce: randomBytes(16).toString('hex'), tenant: 'globex' } as never, SECRETS.globex);
    expect(await c.sendRaw(JSON.stringify(asGlobex))).toMatchObject({ ok: false, reason: 'not-owner' });
    expect(await c.sendRaw('{"op":"negotiate"')).toMatchObject({ ok: false, reason: 'malformed' });
    expect(await c.sendRaw(JSON.stringify({ ...req, nonce: 'xyz' }))).toMatchObject({ ok: false, reason: 'malformed', detail: expect.stringContaining('nonce') });
    if (first.ok && first.op === 'negotiate') {
      const rel = sign({ v: PROTOCOL_VERSION, op: 'release', tenant: 'acme', nonce: randomBytes(16).toString('hex'), ts: Date.now(), instance: first.instance }, SECRETS.acme);
      expect(await c.sendRaw(JSON.stringify(rel))).toMatchObject({ ok: true, op: 'release' });
    }
    c.close();

    const { stdout } = await exec(process.execPath, [CLI, 'audit', '--root', root, '--type', 'request.refused', '--format', 'ndjson']);
    const reasons = stdout.trim().split('\n').map((l) => JSON.parse(l).data.reason).sort();
    // A wrong secret never reaches a decision: the signature fails at the channel.
    expect(reasons).toEqual(['credential', 'malformed', 'malformed', 'not-owner', 'replayed', 'replayed']);
    const summary = JSON.parse((await exec(process.execPath, [CLI, 'audit', 'summary', '--root', root, '--format', 'json'])).stdout) as { tenant: string; security: number }[];
    expect(summary.find((r) => r.tenant === 'acme')!.security).toBe(6);
  });

  it('a guest killed -9 mid-call: its lease ends, vFunD journals client.lost and releases; others go on', async () => {
    const victim = spawn(process.execPath, [OFFLOAD, '--socket', sock('acme'), '--tenant', 'acme', '--app', 'doomed', '--fn', 'crc32', '--kind', 'sw', '--arg', 'x', '--calls', '1000000000'], {
      env: { ...process.env, VFUN_SECRET: SECRETS.acme },
      stdio: 'ignore',
    });
    const region = join(root, 'vmcli', 'acme', 'doomed', 'crc32', 'region.json');
    await expect.poll(() => readFile(region).then(() => true, () => false), { timeout: 10_000 }).toBe(true);
    // Calls are going on: the service counts them in its control file (CONTROL.calls, u32 at byte 8).
    const control = join(root, 'service', 'acme', 'doomed', 'crc32', 'control');
    await expect.poll(() => readFile(control).then((b) => b.readUInt32LE(8), () => 0), { timeout: 20_000 }).toBeGreaterThan(0);
    victim.kill('SIGKILL');
    // Meanwhile another tenant is not disturbed.
    const other = await offload('globex', ['--app', 'calm', '--fn', 'crc32', '--kind', 'sw', '--arg', 'hello', '--calls', '100']);
    expect(other).toMatchObject({ result: '86a61036', stats: { calls: 100 } });
    await expect.poll(() => readFile(region).then(() => true, () => false), { timeout: 10_000 }).toBe(false);
    const { stdout } = await exec(process.execPath, [CLI, 'audit', '--root', root, '--tenant', 'acme', '--app', 'doomed', '--format', 'ndjson']);
    const events = stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => e.type)).toEqual(['negotiation.acked', 'activation.started', 'activation.acked', 'client.lost', 'instance.released']);
    expect(events.at(-1).data.reason).toBe('lease');
    expect(events.at(-1).data.stats.calls).toBeGreaterThan(0);
  });

  it('SIGTERM releases what is held, journals it, and exits 0; the journal verifies and replays', async () => {
    const c = await ControlClient.connect(sock('globex'));
    const held = await c.negotiate({ tenant: 'globex', credential: SECRETS.globex, app: 'kept', fn: 'factorial', kind: 'sw' });
    expect(held.ok).toBe(true);
    const exited = new Promise<number | null>((r) => daemon.once('exit', (code) => r(code)));
    daemon.kill('SIGTERM');
    expect(await exited).toBe(0);
    c.close();
    const lines = (await readFile(join(root, 'admin', 'journal.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.at(-3)).toMatchObject({ type: 'instance.released', tenant: 'globex', data: { reason: 'shutdown' } });
    expect(lines.at(-2)).toMatchObject({ type: 'vfund.stopped', data: { reason: 'SIGTERM' } });
    expect(lines.at(-1)).toMatchObject({ type: 'journal.checkpoint', data: { size: lines.length - 1 } }); // the closing checkpoint
    expect((await exec(process.execPath, [CLI, 'audit', 'verify', '--root', root])).stdout).toContain('hash chain verified');
    expect((await exec(process.execPath, [CLI, 'replay', '--root', root])).stdout).toMatch(/decide reproduces all \d+ recorded decisions/);
  });

  it('refuses a bad configuration, naming each field', async () => {
    const path = join(root, 'bad.json');
    await writeFile(path, JSON.stringify({ tenants: [{ id: 'a/b', secret: 'short', maxInstances: 0 }], functions: [{ name: 'f', kinds: { sw: { slots: 1, driver: 'nope' } } }] }));
    const err = await exec(process.execPath, [CLI, 'up', '--config', path, '--root', join(root, 'other')]).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 1 });
    const stderr = (err as { stderr: string }).stderr;
    for (const field of ['tenants.0.id', 'tenants.0.secret', 'tenants.0.maxInstances', 'functions.0.kinds.sw.driver']) expect(stderr).toContain(field);
  });
});
