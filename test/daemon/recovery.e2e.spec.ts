/**
 * vFunD killed -9 while a guest computes: its service processes die with it
 * (parent-death signal), and the next vFunD releases the instance as
 * `recovery` with the counters read from the control file that outlived both
 * (never a false 0).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/guest/connect.js';
import { ControlClient } from '../../src/guest/control-client.js';
import { processAlive } from '../../src/util/process.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const SECRET = 'recovery-test-tenant-secret';
const config = { tenants: [{ id: 'acme', secret: SECRET, maxInstances: 2 }], functions: [{ name: 'crc32', kinds: { sw: { slots: 2, driver: 'crc32' } } }] };

function up(root: string): Promise<ChildProcess> {
  const daemon = spawn(process.execPath, [CLI, 'up', '--config', join(root, 'config.json'), '--root', root], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    daemon.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve(daemon);
    });
    daemon.once('exit', (code) => reject(new Error(`vfun up exited (${code}) before ready: ${out}`)));
  });
}

describe('recovery after vFunD is killed -9', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'vfun-recovery-'));
    await writeFile(join(root, 'config.json'), JSON.stringify(config));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('journals the calls the service counted, read from its control file', async () => {
    const first = await up(root);
    const c = await ControlClient.connect(join(root, 'vmcli', 'acme', 'control.sock'));
    const creds = { tenant: 'acme', credential: SECRET };
    const n = await c.negotiate({ ...creds, app: 'app', fn: 'crc32', kind: 'sw' });
    if (!n.ok) throw new Error(n.detail);
    const a = await c.activate({ ...creds, instance: n.instance });
    if (!a.ok) throw new Error(a.detail);
    const client = connect(a.region);
    for (let i = 0; i < 1234; i++) client.call(new Uint8Array([i & 0xff, 1]));
    const servicePid = (JSON.parse(await readFile(join(root, 'admin', 'instances', `${n.instance}.json`), 'utf8')) as { pid: number }).pid;
    expect(servicePid).not.toBe(first.pid);

    const gone = new Promise((r) => first.once('exit', r));
    first.kill('SIGKILL');
    await gone;
    // The service process goes with it (its parent-death signal), leaving its control file.
    await expect.poll(() => processAlive(servicePid), { timeout: 10_000 }).toBe(false);
    client.close();
    c.close();

    const second = await up(root);
    const stopped = new Promise((r) => second.once('exit', r));
    second.kill('SIGTERM');
    await stopped;
    const events = (await readFile(join(root, 'admin', 'journal.ndjson'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data: { instance?: string; reason?: string; stats?: unknown } });
    const released = events.filter((e) => e.type === 'instance.released' && e.data.instance === n.instance);
    expect(released).toHaveLength(1);
    expect(released[0]!.data).toMatchObject({ reason: 'recovery', stats: { calls: 1234 } });
  });
});
