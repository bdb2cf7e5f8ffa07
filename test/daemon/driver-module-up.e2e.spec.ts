/**
 * `vfun up --driver-module`: a module in TypeScript outside the project,
 * written as an integrator writes one, is loaded by the Node running the test
 * (through tsx when the module's project has it, else by Node >= 22.18's type
 * stripping, else a start refused saying to install tsx), listed at start and
 * journaled, and served to a guest by a service process; a module that
 * breaks at load makes `vfun up` exit non-zero naming it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/guest/control-client.js';
import { connectFds } from '../../src/guest/connect.js';
import { ServiceError } from '../../src/dataplane/client.js';

const exec = promisify(execFile);
const DIST = join(import.meta.dirname, '../../dist/src');
const CLI = join(DIST, 'cli/main.js');
const SECRET = 'driver-module-up-secret';
const config = { tenants: [{ id: 't', secret: SECRET, maxInstances: 2 }], functions: [{ name: 'reverse', kinds: { sw: { slots: 2, driver: 'reverse' } } }] };

// What an integrator writes: `import { defineDriver, DriverInputError } from 'virtfun/daemon'` (here the built file itself).
const module = `import { defineDriver, DriverInputError } from ${JSON.stringify(pathToFileURL(join(DIST, 'api/daemon.js')).href)};
import type { DriverSpec } from ${JSON.stringify(pathToFileURL(join(DIST, 'api/daemon.js')).href)};

const spec: DriverSpec = {
  name: 'reverse',
  version: '2.0.0',
  description: 'the input bytes in reverse order',
  input: { minBytes: 1, maxBytes: 256 },
  maxOutputBytes: 256,
  call(input: Uint8Array, output: Uint8Array): number {
    if (input[0] === 0) throw new DriverInputError('reverse: a first byte of 0 is refused');
    output.set(input.toReversed());
    return input.length;
  },
};
export default defineDriver(spec);
`;

let base: string;
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'vfun-drvmod-up-'));
  await writeFile(join(base, 'config.json'), JSON.stringify(config), { mode: 0o600 });
  await writeFile(join(base, 'reverse.ts'), module);
  await writeFile(join(base, 'broken.mjs'), "throw new Error('broken at load');\n");
  // A project of its own with tsx as its devDependency (this repository's copy).
  await mkdir(join(base, 'with-tsx', 'node_modules'), { recursive: true });
  await writeFile(join(base, 'with-tsx', 'reverse.ts'), module);
  await symlink(join(import.meta.dirname, '../../node_modules/tsx'), join(base, 'with-tsx', 'node_modules', 'tsx'));
});

/** `vfun up` with these arguments until `ready` (resolves the child) or its exit (rejects with its output). */
function up(args: string[]): { child: ChildProcess; ready: Promise<void>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, 'up', '--config', join(base, 'config.json'), '--log-format', 'json', ...args], { cwd: base, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()).includes('ready') && resolve());
    void exited.then((code) => reject(new Error(`vfun up exited (${code}) before ready: ${out}${err}`)));
  });
  return { child, ready, exited };
}
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('vfun up --driver-module', () => {
  it('exits non-zero naming a module that breaks at load', async () => {
    const r = await exec(process.execPath, [CLI, 'up', '--config', join(base, 'config.json'), '--root', join(base, 'root-broken'), '--driver-module', 'broken.mjs', '--log-format', 'json'], { cwd: base }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`driverModules.0: driver module '${join(base, 'broken.mjs')}' (${join(base, 'broken.mjs')}): cannot be loaded: broken at load`);
  });

  it('without tsx: Node >= 22.18 loads a TypeScript module itself; Node 20 refuses the start saying to install tsx', async () => {
    const { child, ready, exited } = up(['--root', join(base, 'root-plain'), '--driver-module', 'reverse.ts']);
    const stripsTypes = Boolean((process.features as { typescript?: unknown }).typescript);
    if (stripsTypes) {
      await ready;
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } else {
      await expect(ready).rejects.toThrow(/driverModules\.0: driver module .*reverse\.ts.* is TypeScript, which Node 20\.\d+\.\d+ cannot load by itself .*npm install --save-dev tsx/);
      expect(await exited).toBe(1);
    }
  });

  it('with tsx in the module\'s project: serves a TypeScript driver module to a guest, and journals it', async () => {
    const root = join(base, 'root');
    const { child, ready, exited } = up(['--root', root, '--driver-module', 'with-tsx/reverse.ts']);
    try {
      await ready;
      const c = await ControlClient.connect(join(root, 'vmcli', 't', 'control.sock'));
      const creds = { tenant: 't', credential: SECRET };
      const n = await c.negotiate({ ...creds, app: 'a', fn: 'reverse', kind: 'sw' });
      if (!n.ok) throw new Error(JSON.stringify(n));
      const a = await c.activate({ ...creds, instance: n.instance });
      if (!a.ok || !('dataoutFd' in a.region)) throw new Error(JSON.stringify(a));
      const guest = connectFds(a.region.dataoutFd, a.region.datainFd, { timeoutMs: 10_000 });
      expect(Buffer.from(guest.call(new Uint8Array([1, 2, 3]))).toString('hex')).toBe('030201');
      expect(() => guest.call(new Uint8Array([0, 1]))).toThrow(ServiceError);
      guest.close();
      expect(await c.release({ ...creds, instance: n.instance })).toMatchObject({ ok: true });
      c.close();
      const started = (await readFile(join(root, 'admin', 'journal.ndjson'), 'utf8')).split('\n').find((l) => l.includes('"vfund.started"'))!;
      expect((JSON.parse(started) as { data: { config: { driverModules: unknown } } }).data.config.driverModules).toEqual([
        expect.objectContaining({ specifier: join(base, 'with-tsx', 'reverse.ts'), url: pathToFileURL(join(base, 'with-tsx', 'reverse.ts')).href, drivers: [{ name: 'reverse', kind: 'sw', version: '2.0.0' }] }),
      ]);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
