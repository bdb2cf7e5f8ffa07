/**
 * `vfun up` in a hostile environment, as a real child process: signals that
 * would kill it by default, its stdout and stderr pipes closed by their
 * reader, a second vFunD on the same journal, and a journal whose file system
 * fills up. None of them stops vFunD; SIGTERM still releases everything and
 * journals `vfund.stopped`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/guest/control-client.js';
import { connect } from '../../src/guest/connect.js';
import { VFunction } from '../../src/guest/vfunction.js';
import { mountTmpfs, type Tmpfs } from '../support/tmpfs.js';

const exec = promisify(execFile);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const SECRET = 'hostile-environment-secret';
const config = { tenants: [{ id: 't', secret: SECRET, maxInstances: 64 }], functions: [{ name: 'crc32', kinds: { sw: { slots: 64, driver: 'crc32' } } }] };
const creds = { tenant: 't', credential: SECRET };
const hello = new TextEncoder().encode('hello');

let base: string;
let n = 0;
const running: ChildProcess[] = [];
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'vfun-hostile-'));
  await writeFile(join(base, 'config.json'), JSON.stringify(config));
});
afterEach(() => {
  for (const c of running.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

/** A `vfun up` child whose stdout is collected; `line(text)` waits for a line containing text. */
function up(root: string, extra: string[] = []) {
  const child = spawn(process.execPath, [CLI, 'up', '--config', join(base, 'config.json'), '--root', root, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  let out = '';
  let err = '';
  const waiters: { text: string; resolve: (out: string) => void }[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.filter((w) => out.includes(w.text))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(out);
    }
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const line = (text: string) =>
    new Promise<string>((resolve, reject) => {
      if (out.includes(text)) return resolve(out);
      waiters.push({ text, resolve });
      void exited.then((x) => reject(new Error(`vfun up exited (${x.code ?? x.signal}) before '${text}':\n${out}\n${err}`)));
    });
  return { child, exited, line, out: () => out, err: () => err, sock: join(root, 'vmcli', 't', 'control.sock') };
}

const fresh = () => join(base, `root${++n}`);

async function journalOf(path: string): Promise<{ type: string; instance: string | null; data: Record<string, unknown> }[]> {
  return (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
}

async function negotiate(c: ControlClient, app: string) {
  return c.negotiate({ ...creds, app, fn: 'crc32', kind: 'sw' });
}

describe('vfun up in a hostile environment', () => {
  it('SIGHUP (a reload) and SIGUSR2 do not stop it: logged, negotiations still work, SIGTERM still journals vfund.stopped', async () => {
    const root = fresh();
    const d = up(root);
    await d.line('ready');
    d.child.kill('SIGHUP');
    await d.line('configuration reloaded: nothing changed'); // SIGHUP reloads the configuration (the same file)
    d.child.kill('SIGUSR2');
    await d.line('SIGUSR2 received');
    const c = await ControlClient.connect(d.sock);
    const vf = await VFunction.open(c, (r) => connect(r), { ...creds, app: 'after-hup', fn: 'crc32', kind: 'sw' });
    expect(Buffer.from(vf.call(hello)).toString('hex')).toBe('86a61036');
    d.child.kill('SIGTERM');
    expect(await d.exited).toEqual({ code: 0, signal: null });
    c.close();
    const events = await journalOf(join(root, 'admin', 'journal.ndjson'));
    expect(events.at(-3)).toMatchObject({ type: 'instance.released', instance: vf.instance, data: { reason: 'shutdown' } });
    expect(events.at(-2)).toMatchObject({ type: 'vfund.stopped', data: { reason: 'SIGTERM' } });
    expect(events.at(-1)).toMatchObject({ type: 'journal.checkpoint', data: { size: events.length - 1 } }); // the closing checkpoint
  });

  it('stdout and stderr closed by their reader: vFunD carries on, and SIGTERM still releases everything and exits 0', async () => {
    const root = fresh();
    const d = up(root);
    await d.line('ready');
    d.child.stdout!.destroy();
    d.child.stderr!.destroy();
    const c = await ControlClient.connect(d.sock);
    const held = await VFunction.open(c, (r) => connect(r), { ...creds, app: 'kept', fn: 'crc32', kind: 'sw' });
    d.child.kill('SIGHUP'); // a log line into the closed pipe: EPIPE
    const negotiated = await negotiate(c, 'after-epipe');
    expect(negotiated.ok).toBe(true);
    expect(Buffer.from(held.call(hello)).toString('hex')).toBe('86a61036');
    d.child.kill('SIGTERM'); // logs too, into the closed pipe
    expect(await d.exited).toEqual({ code: 0, signal: null });
    c.close();
    const events = await journalOf(join(root, 'admin', 'journal.ndjson'));
    const released = events.filter((e) => e.type === 'instance.released').map((e) => [e.instance, e.data.reason]);
    expect(released).toEqual(expect.arrayContaining([[held.instance, 'shutdown'], [negotiated.ok ? negotiated.instance : '?', 'shutdown']]));
    expect(events.at(-2)).toMatchObject({ type: 'vfund.stopped', data: { reason: 'SIGTERM' } });
    expect(events.at(-1)).toMatchObject({ type: 'journal.checkpoint', data: { size: events.length - 1 } });
    // Released means gone: no region, no pid file.
    expect(await readdir(join(root, 'vmcli', 't')).catch(() => [])).not.toContain('kept');
    expect(await readdir(join(root, 'admin'))).not.toContain('vfund.pid');
  });

  it('a second vfun up on the same journal (another root) exits non-zero naming the holder; the first keeps admitting', async () => {
    const root1 = fresh();
    const journal = join(base, `shared-${n}.ndjson`);
    const first = up(root1, ['--journal', `file:${journal}`]);
    await first.line('ready');
    const root2 = fresh();
    const second = await exec(process.execPath, [CLI, 'up', '--config', join(base, 'config.json'), '--root', root2, '--journal', `file:${journal}`]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(second).toMatchObject({ code: 1 });
    expect((second as { stderr: string }).stderr).toContain(`already open for writing by pid ${first.child.pid}`);
    expect(await readdir(join(root2, 'admin'))).not.toContain('vfund.pid'); // gave its root back
    const c = await ControlClient.connect(first.sock);
    expect((await negotiate(c, 'still-admitted')).ok).toBe(true);
    c.close();
    first.child.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    const events = await journalOf(journal);
    expect(events.filter((e) => e.type === 'vfund.started')).toHaveLength(1); // the second never wrote
    expect(events.filter((e) => e.type === 'instance.released').map((e) => e.data.reason)).not.toContain('recovery');
  });

  describe('a journal on a file system that fills up', () => {
    let fs: Tmpfs;
    beforeAll(async () => {
      fs = await mountTmpfs(1 << 20);
    });
    afterAll(async () => {
      await fs.unmount();
    });

    it('says so once when it starts and once when it ends; refuses negotiations meanwhile; journals everything once', async () => {
      const root = fresh();
      const journal = join(fs.dir, 'journal.ndjson');
      const d = up(root, ['--journal', `file:${journal}`]);
      await d.line('ready');
      const c = await ControlClient.connect(d.sock);
      const vf = await VFunction.open(c, (r) => connect(r), { ...creds, app: 'computing', fn: 'crc32', kind: 'sw' });
      await fs.fill();
      let refused;
      for (let i = 0; ; i++) {
        const r = await negotiate(c, `n${i}`);
        if (!r.ok) {
          refused = r;
          break;
        }
      }
      expect(refused).toMatchObject({ ok: false, reason: 'journal-unavailable' });
      expect(refused.detail).not.toContain(fs.dir);
      await d.line('cannot write (ENOSPC');
      expect(await negotiate(c, 'refused-again')).toMatchObject({ ok: false, reason: 'journal-unavailable' });
      expect(Buffer.from(vf.call(hello)).toString('hex')).toBe('86a61036');
      await fs.unfill();
      await d.line('writes again after');
      expect((await negotiate(c, 'admitted-again')).ok).toBe(true);
      d.child.kill('SIGTERM');
      expect(await d.exited).toEqual({ code: 0, signal: null });
      c.close();
      expect(d.out().split('cannot write').length - 1).toBe(1);
      expect(d.out().split('writes again').length - 1).toBe(1);
      const { stdout } = await exec(process.execPath, [CLI, 'audit', 'verify', '--journal', `file:${journal}`]);
      expect(stdout).toContain('hash chain verified');
      expect((await exec(process.execPath, [CLI, 'replay', '--journal', `file:${journal}`])).stdout).toMatch(/decide reproduces all \d+ recorded decisions/);
      const events = await journalOf(journal);
      expect(new Set(events.map((e) => JSON.stringify(e))).size).toBe(events.length);
      expect(events.at(-2)).toMatchObject({ type: 'vfund.stopped' });
      expect(events.at(-1)).toMatchObject({ type: 'journal.checkpoint' });
    });
  });
});
