/**
 * A start that fails leaves the root as it was: no pid file, no lock, no
 * socket, no region; it says so in one structured line (its code and
 * message, no stack). The root's lock is a flock: a pid file left by a
 * process that is gone, or naming a live unrelated process (a pid reused
 * after a reboot), does not block a start; a root held by a live vFunD does,
 * naming its pid, and the holder keeps its files.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, lstat, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/guest/control-client.js';

const exec = promisify(execFile);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const SECRET = 'failed-start-secret-0123';
const config = { tenants: [{ id: 't', secret: SECRET, maxInstances: 4 }], functions: [{ name: 'crc32', kinds: { sw: { slots: 4, driver: 'crc32' } } }] };

let base: string;
let n = 0;
const running: ChildProcess[] = [];
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'vfun-failed-start-'));
  await writeFile(join(base, 'config.json'), JSON.stringify(config));
  await writeFile(join(base, 'bad.json'), JSON.stringify({ ...config, tenants: [{ ...config.tenants[0], secret: 'short' }] }));
});
afterEach(() => {
  for (const c of running.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});
const fresh = () => join(base, `root${++n}`);

/** `vfun up` until `ready` on stdout; stop() sends SIGTERM and waits. */
async function up(root: string, extra: string[] = []): Promise<{ child: ChildProcess; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [CLI, 'up', '--config', join(base, 'config.json'), '--root', root, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()).includes('ready') && resolve());
    void exited.then((code) => reject(new Error(`vfun up exited (${code}) before ready: ${out}${err}`)));
  });
  return { child, stop: () => (child.kill('SIGTERM'), exited) };
}

/** `vfun up` that must fail: its exit code and its stderr, each line parsed as JSON. */
async function failing(args: string[]): Promise<{ code: number; records: Array<Record<string, unknown>> }> {
  const r = await exec(process.execPath, [CLI, 'up', ...args]).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  return { code: r.code, records: r.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/**
 * Every entry under a root, with its type and (for files) its size: what "as it was" compares. The tree's
 * own directories (admin/, service/, vmcli/ and a tenant's vmcli/<tenant>/, which a start empties of what a
 * vFunD that died left) are not listed; an instance's directory below them is.
 */
async function listing(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const name of (await readdir(d).catch(() => [] as string[])).sort()) {
      const st = await lstat(join(d, name));
      const r = `${rel}${name}`;
      if (st.isDirectory()) {
        if (r.split('/').length > 2 || !['admin', 'service', 'vmcli', 'admin/instances'].includes(r.split('/')[0]!)) out.push(`${r}/`);
        await walk(join(d, name), `${r}/`);
      } else out.push(`${r} ${st.isSocket() ? 'socket' : st.isFile() ? st.size : 'other'}`);
    }
  };
  await walk(root, '');
  return out;
}

/** The one error record of a failed start: its code and message, no stack. */
function theError(records: Array<Record<string, unknown>>): { code: string; message: string } {
  const errors = records.filter((r) => r['level'] === 'error');
  expect(errors).toHaveLength(1);
  expect(JSON.stringify(records)).not.toMatch(/\n\s+at /);
  expect(errors[0]).toMatchObject({ event: 'vfund.start-failed', msg: expect.stringContaining('vFunD did not start') });
  return errors[0]!['err'] as { code: string; message: string };
}

describe('a failed start', () => {
  it('a bad configuration: one structured error line naming the field; no root is made', async () => {
    const root = fresh();
    const { code, records } = await failing(['--config', join(base, 'bad.json'), '--root', root]);
    expect(code).toBe(1);
    expect(theError(records)).toMatchObject({ code: 'CONFIG', message: expect.stringContaining('tenants.0.secret') });
    expect(await listing(root)).toEqual([]);
  });

  it('a journal another vFunD writes, and a checkpoint key that cannot be read: the root is left as it was', async () => {
    const root = fresh();
    await (await up(root)).stop(); // a root that served once: its journal, key, tree
    const before = await listing(root);
    expect(before).not.toContainEqual(expect.stringMatching(/vfund\.(pid|lock)|control\.sock/));

    // Another vFunD (another root) writes the journal this one is given: refused after the root was taken.
    const other = fresh();
    const holder = await up(other);
    const held = await failing(['--config', join(base, 'config.json'), '--root', root, '--journal', `file:${join(other, 'admin', 'journal.ndjson')}`]);
    expect(held.code).toBe(1);
    expect(theError(held.records)).toMatchObject({ code: 'JOURNAL_LOCKED', message: expect.stringContaining(`pid ${holder.child.pid}`) });
    expect(await listing(root)).toEqual(before);
    expect(await holder.stop()).toBe(0);

    // A damaged checkpoint key: vFunD had started (journaled) when it failed; it stops (journaled), and gives everything back.
    const key = join(root, 'admin', 'checkpoint.key');
    const keyText = await readFile(key, 'utf8');
    await writeFile(key, 'not a key\n');
    const damaged = await failing(['--config', join(base, 'config.json'), '--root', root]);
    expect(damaged.code).toBe(1);
    expect(theError(damaged.records).code).toBe('CHECKPOINT_KEY');
    const after = await listing(root);
    expect(after.filter((l) => !l.startsWith('admin/journal.ndjson ') && !l.startsWith('admin/checkpoint.key '))).toEqual(
      before.filter((l) => !l.startsWith('admin/journal.ndjson ') && !l.startsWith('admin/checkpoint.key ')),
    );
    const journal = (await readFile(join(root, 'admin', 'journal.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; data: { reason?: string } });
    expect(journal.slice(-2).map((e) => e.type)).toEqual(['vfund.started', 'vfund.stopped']);
    expect(journal.at(-1)!.data.reason).toBe('start-up failed');
    await writeFile(key, keyText);
    await chmod(key, 0o600);
    await (await up(root)).stop(); // and the root serves again
  }, 60_000);
});

describe('the root lock', () => {
  it('a pid file naming a live unrelated process (a pid reused after a reboot) does not block a start; the pid file then names this vFunD', async () => {
    const root = fresh();
    await (await up(root)).stop();
    await writeFile(join(root, 'admin', 'vfund.pid'), '1\n', { mode: 0o600 }); // pid 1 is alive, and no vFunD
    await writeFile(join(root, 'admin', 'vfund.lock'), '1\n', { mode: 0o600 });
    const d = await up(root);
    expect(Number((await readFile(join(root, 'admin', 'vfund.pid'), 'utf8')).trim())).toBe(d.child.pid);
    expect(await d.stop()).toBe(0);
    expect(await readdir(join(root, 'admin'))).not.toContainEqual(expect.stringMatching(/^vfund\.(pid|lock)$/));
  });

  it('a root held by a live vFunD is refused naming its pid; the holder keeps its lock and serves on', async () => {
    const root = fresh();
    const first = await up(root);
    const second = await failing(['--config', join(base, 'config.json'), '--root', root, '--journal', `file:${join(base, `j${n}.ndjson`)}`]);
    expect(second.code).toBe(1);
    expect(theError(second.records)).toMatchObject({ code: 'REGION', message: expect.stringContaining(`in use by vFunD pid ${first.child.pid}`) });
    expect(Number((await readFile(join(root, 'admin', 'vfund.pid'), 'utf8')).trim())).toBe(first.child.pid);
    const c = await ControlClient.connect(join(root, 'vmcli', 't', 'control.sock'));
    expect(await c.negotiate({ tenant: 't', credential: SECRET, app: 'a', fn: 'crc32', kind: 'sw' })).toMatchObject({ ok: true });
    c.close();
    expect(await first.stop()).toBe(0);
  });
});

describe('vfun --version', () => {
  it('names the package version, Node.js and the native addon', async () => {
    const { stdout } = await exec(process.execPath, [CLI, '--version']);
    const pkg = JSON.parse(await readFile(join(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string };
    expect(stdout.trim()).toBe(`vfun ${pkg.version} (node ${process.version}; native addon loaded, ABI ${stdout.match(/ABI (\d+)/)?.[1]})`);
    expect(stdout).toMatch(/ABI \d+\)$/m);
  });
});
