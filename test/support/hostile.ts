/**
 * The stage of the hostile-tenant tests: one real `vfun up` (dist/) serving an
 * attacker tenant, `mallory`, and an honest one, `honest`, whose guest (a
 * child process running the guest library, bench/chaos/guest.ts) keeps a call
 * loop going and counts good calls and anything else. Optionally a second
 * attacker, `eve`, whose guests run as vFunD's own user (no identity).
 *
 * Run as root, `mallory` is given an OS identity of its own (a system user,
 * created once): its services run as that uid and its attacker process too, so
 * it can signal its own service processes and nothing else. Not root, every
 * tenant runs as the test's user.
 *
 * After each attack, `checkContained` asserts what must hold whatever the
 * attack: vFunD is alive (same pid, answers a negotiation), the honest loop
 * made more good calls and no error, and the journal verifies and replays.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { AttackerProcess } from '../../bench/chaos/attacker-client.js';
import { ControlClient } from '../../src/guest/control-client.js';

const exec = promisify(execFile);
const DIST = join(import.meta.dirname, '../../dist');
export const CLI = join(DIST, 'src/cli/main.js');
const GUEST = join(DIST, 'bench/chaos/guest.js');

export const SECRETS = {
  mallory: 'secret-of-mallory-the-attacker',
  eve: 'secret-of-eve-the-other-attacker',
  honest: 'secret-of-the-honest-tenant',
} as const;
export type TenantId = keyof typeof SECRETS;

export interface Identity {
  readonly uid: number;
  readonly gid: number;
}
export const isRoot = process.getuid?.() === 0;

/** A system user of its own for the attacker (created once, as the isolation test does for its tenants). */
export function hostileUser(name = 'vfun-test-hostile'): Identity {
  try {
    execFileSync('id', ['-u', name], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', name]);
  }
  return { uid: Number(execFileSync('id', ['-u', name], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', name], { encoding: 'utf8' })) };
}

export interface Envelope {
  readonly type: string;
  readonly tenant: string | null;
  readonly instance: string | null;
  readonly seq: number;
  readonly data: Record<string, unknown> & { instance?: string; reason?: string; cause?: { code: number | null; signal: string | null } };
}

/** The honest tenant's guest: calls through the guest library for ever, prints its counters every 250 ms. */
export class HonestGuest {
  readonly child: ChildProcess;
  counters: { calls: number; sessions: number; errors: Record<string, number> } = { calls: 0, sessions: 0, errors: {} };
  private readonly lines = new EventEmitter();
  constructor(socket: string) {
    // 20000 calls per session (then release, negotiate again), a call timeout of 10 s (a loaded machine is no error).
    this.child = spawn(process.execPath, [GUEST, socket, 'honest', 'ledger', 'factorial', '20000', '10000'], {
      env: { ...process.env, VFUN_SECRET: SECRETS.honest },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      try {
        this.counters = JSON.parse(l) as HonestGuest['counters'];
      } catch {
        return; // a line cut short
      }
      this.lines.emit('line');
    });
    this.child.once('exit', () => this.lines.emit('line'));
  }

  /**
   * Resolves on the first counters line (one every 250 ms) showing `n` more good calls than
   * now; rejects on the first line showing an error, or if the guest is gone, or after 45 s
   * without that progress.
   */
  progressed(n = 2000): Promise<void> {
    const from = this.counters.calls;
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        this.lines.off('line', check);
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (Object.keys(this.counters.errors).length > 0) done(new Error(`the honest guest saw errors: ${JSON.stringify(this.counters)}`));
        else if (this.child.exitCode !== null || this.child.signalCode !== null) done(new Error(`the honest guest exited: ${JSON.stringify(this.counters)}`));
        else if (this.counters.calls - from >= n) done();
      };
      const timer = setTimeout(() => done(new Error(`the honest guest made ${this.counters.calls - from} good calls in 45 s, not ${n}: ${JSON.stringify(this.counters)}`)), 45_000);
      this.lines.on('line', check);
      check();
    });
  }
}

export interface Stage {
  readonly root: string;
  /** The running `vfun up` (a new one after restart()). */
  readonly daemon: ChildProcess;
  readonly vfundPid: number;
  /** The honest tenant's guest (a new one after restart()). */
  readonly honest: HonestGuest;
  /** mallory's OS identity (root only). */
  readonly identity: Identity | undefined;
  sock(t: TenantId): string;
  /** An attacker guest of `tenant` (mallory: with its identity), ended by close(). */
  attacker(tenant?: 'mallory' | 'eve'): Promise<AttackerProcess>;
  /** Every journaled event (the file journal, read as it is now). */
  events(): Promise<Envelope[]>;
  /** Wait for the first journaled event that matches. */
  eventWhere(match: (e: Envelope) => boolean): Promise<Envelope>;
  /** What `vfun audit --format ndjson` lists for a tenant. */
  audit(tenant: TenantId): Promise<Envelope[]>;
  /** The instance entry vFunD keeps in admin/instances (pid of its service process). */
  adminEntry(instance: string): Promise<{ pid: number; tenant: string }>;
  /** Assert vFunD, the honest tenant and the journal are unharmed. */
  checkContained(): Promise<void>;
  /** `vfun audit verify` and `vfun replay` pass. */
  journalOk(): Promise<void>;
  /** SIGTERM vFunD; resolves with its exit code. */
  stop(): Promise<number | null>;
  /** Start `vfun up` again on the same root and configuration (after stop()), and a new honest guest. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function stage(name: string, opts: { eve?: boolean } = {}): Promise<Stage> {
  const base = await mkdtemp(join(tmpdir(), `vfun-${name}-`));
  await chmod(base, 0o711); // an attacker with a uid of its own must reach its socket below it
  const identity = isRoot ? hostileUser() : undefined;
  const config = {
    tenants: [
      // A short summary period: a flood's summary comes within the test.
      { id: 'mallory', secret: SECRETS.mallory, maxInstances: 3, ...identity, refusals: { summaryIntervalMs: 500 } },
      ...(opts.eve ? [{ id: 'eve', secret: SECRETS.eve, maxInstances: 3 }] : []),
      { id: 'honest', secret: SECRETS.honest, maxInstances: 4 },
    ],
    functions: [
      { name: 'factorial', kinds: { sw: { slots: 8, driver: 'factorial' } } },
      { name: 'crc32', kinds: { sw: { slots: 8, driver: 'crc32' } } },
    ],
  };
  // The base is open to the attacker's uid (0711): the config holding secrets is vFunD's alone.
  await writeFile(join(base, 'config.json'), JSON.stringify(config), { mode: 0o600 });
  const root = join(base, 'vf');
  const up = async (): Promise<ChildProcess> => {
    const child = spawn(process.execPath, [CLI, 'up', '--config', join(base, 'config.json'), '--root', root], { stdio: ['ignore', 'pipe', 'inherit'] });
    let log = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => (log += d.toString()).includes('ready') && resolve());
      child.once('exit', (code) => reject(new Error(`vfun up exited (${code}) before ready: ${log}`)));
    });
    return child;
  };
  let daemon = await up();
  const sock = (t: TenantId) => join(root, 'vmcli', t, 'control.sock');
  let honest = new HonestGuest(sock('honest'));
  const attackers: AttackerProcess[] = [];
  const journalPath = join(root, 'admin', 'journal.ndjson');
  const parse = (text: string) =>
    text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Envelope];
        } catch {
          return []; // a line being written
        }
      });
  const events = async () => parse(await readFile(journalPath, 'utf8'));
  const s: Stage = {
    root,
    get daemon() {
      return daemon;
    },
    get vfundPid() {
      return daemon.pid!;
    },
    get honest() {
      return honest;
    },
    identity,
    sock,
    async attacker(tenant = 'mallory') {
      const a = new AttackerProcess({ socket: sock(tenant), tenant, secret: SECRETS[tenant], ...(tenant === 'mallory' && identity && { identity }) });
      attackers.push(a);
      await a.ready;
      return a;
    },
    events,
    async eventWhere(match) {
      let found: Envelope | undefined;
      await expect.poll(async () => (found = (await events()).find(match)), { timeout: 30_000, interval: 100 }).toBeDefined();
      return found!;
    },
    async audit(tenant) {
      const { stdout } = await exec(process.execPath, [CLI, 'audit', '--root', root, '--tenant', tenant, '--format', 'ndjson']);
      return parse(stdout);
    },
    async adminEntry(instance) {
      return JSON.parse(await readFile(join(root, 'admin', 'instances', `${instance}.json`), 'utf8')) as { pid: number; tenant: string };
    },
    async checkContained() {
      // vFunD: the same process, alive, holding its root, answering a negotiation.
      expect(daemon.exitCode).toBeNull();
      expect(daemon.signalCode).toBeNull();
      expect(Number((await readFile(join(root, 'admin', 'vfund.pid'), 'utf8')).trim())).toBe(daemon.pid);
      const c = await ControlClient.connect(sock('honest'));
      try {
        const creds = { tenant: 'honest', credential: SECRETS.honest };
        const n = await c.negotiate({ ...creds, app: 'probe', fn: 'crc32', kind: 'sw' });
        expect(n).toMatchObject({ ok: true, kind: 'sw' });
        if (n.ok) expect(await c.release({ ...creds, instance: n.instance })).toMatchObject({ ok: true });
      } finally {
        c.close();
      }
      // The honest loop goes on, with no error at all.
      await honest.progressed();
      await s.journalOk();
    },
    async journalOk() {
      expect((await exec(process.execPath, [CLI, 'audit', 'verify', '--root', root])).stdout).toContain('hash chain verified');
      expect((await exec(process.execPath, [CLI, 'replay', '--root', root])).stdout).toMatch(/decide reproduces all \d+ recorded decisions/);
    },
    async stop() {
      if (daemon.exitCode !== null || daemon.signalCode !== null) return daemon.exitCode;
      const exited = new Promise<number | null>((r) => daemon.once('exit', (code) => r(code)));
      daemon.kill('SIGTERM');
      return exited;
    },
    async restart() {
      daemon = await up();
      // The honest guest saw the stop (its errors then are no attack's): a new one calls from here on.
      honest.child.kill('SIGKILL');
      honest = new HonestGuest(sock('honest'));
      await honest.progressed(500);
    },
    async close() {
      for (const a of attackers) await a.close();
      honest.child.kill('SIGKILL');
      if (daemon.exitCode === null && daemon.signalCode === null) {
        daemon.kill('SIGKILL');
        await new Promise((r) => daemon.once('exit', r));
      }
      await rm(base, { recursive: true, force: true });
    },
  };
  // The honest tenant is calling before any attack starts.
  try {
    await honest.progressed(500);
  } catch (err) {
    await s.close();
    throw err;
  }
  return s;
}

/** The events of one instance, in order. */
export function lifeOf(events: readonly Envelope[], instance: string): Envelope[] {
  return events.filter((e) => e.instance === instance || e.data.instance === instance);
}
