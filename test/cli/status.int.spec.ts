/**
 * `vfun status` and `vfun top` (src/cli/status.ts) against a real vFunD (startDaemon) with a guest
 * calling through its channel: the commands are registered on a program of their own, their
 * status comes from the daemon (what the admin client fetches in production), and an unreachable
 * daemon is one line and exit status 1.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/actors/config.js';
import { startDaemon, type Daemon } from '../../src/daemon/index.js';
import type { HostStatus } from '../../src/daemon/status.js';
import { ControlClient } from '../../src/guest/control-client.js';
import { connect } from '../../src/guest/connect.js';
import { registerStatusCommands, runTop, unreachableMessage, type FetchStatus } from '../../src/cli/status.js';

const SECRET = 'the status command tenant secret';

/** Runs `vfun <args>` on a program with only the status commands; what it wrote to stdout and stderr. */
async function vfun(fetchStatus: FetchStatus, ...args: string[]): Promise<{ out: string; err: string; exitCode: number }> {
  const program = new Command().name('vfun').exitOverride();
  registerStatusCommands(program, fetchStatus);
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((err += String(chunk)), true));
  const before = process.exitCode;
  try {
    await program.parseAsync(['node', 'vfun', ...args]);
    return { out, err, exitCode: Number(process.exitCode ?? 0) };
  } finally {
    o.mockRestore();
    e.mockRestore();
    process.exitCode = before;
  }
}

/** A fetch that really tries the admin socket of `root` (none is there): the error a client gets. */
const noDaemon: FetchStatus = (root) =>
  new Promise((_, reject) => {
    const s = netConnect(join(root, 'admin', 'admin.sock'));
    s.on('error', reject);
    s.on('connect', () => reject(new Error('unexpected: something listens')));
  });

describe('vfun status and vfun top', () => {
  let dir: string;
  let root: string;
  let daemon: Daemon;
  let instance: string;
  /** The guest's control connection: its lease (closing it releases the instance). */
  let control: ControlClient;
  const asked: string[] = [];
  const fetchStatus: FetchStatus = async (r) => {
    asked.push(r);
    return daemon.status();
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-status-cli-'));
    root = join(dir, 'root');
    const config = parseConfig({
      tenants: [
        { id: 'acme', secret: SECRET, maxInstances: 2 },
        { id: 'quiet', secret: `${SECRET} quiet`, maxInstances: 1 },
      ],
      functions: [{ name: 'crc32', kinds: { sw: { slots: 2, driver: 'crc32' } } }],
    });
    daemon = await startDaemon({ config, root, journal: `file:${join(root, 'admin', 'journal.ndjson')}`, log: () => undefined });
    const c = (control = await ControlClient.connect(daemon.sockets.acme!));
    const creds = { tenant: 'acme', credential: SECRET };
    const n = await c.negotiate({ ...creds, app: 'billing', fn: 'crc32', kind: 'sw' });
    if (!n.ok) throw new Error(n.detail);
    const a = await c.activate({ ...creds, instance: n.instance });
    if (!a.ok) throw new Error(a.detail);
    instance = n.instance;
    const client = connect(a.region);
    for (let i = 0; i < 500; i++) client.call(new Uint8Array([i & 0xff, 7]));
    client.close();
    // The service times a call just after publishing its answer: the last one may land a moment later.
    await vi.waitFor(() => expect(daemon.status().instances[0]!.latency!.counts.reduce((a, b) => a + b, 0)).toBe(500));
  });

  afterEach(() => {
    asked.length = 0;
  });

  afterAll(async () => {
    control?.close();
    await daemon?.stop('test over');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('vfun status: the header, the instance with its calls and p50/p99, slots and quotas, in 120 columns', async () => {
    const { out, err, exitCode } = await vfun(fetchStatus, 'status', '--root', root);
    expect(err).toBe('');
    expect(exitCode).toBe(0);
    expect(asked).toEqual([root]);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^vFunD on \\S+ · pid ${process.pid} · virtfun \\d+\\.\\d+\\.\\d+ · accepting$`));
    expect(out).toContain('instances (1)');
    const row = lines.find((l) => l.startsWith(`${instance} `))!;
    expect(row).toMatch(/\sacme\s+billing\s+crc32\s+sw\s+computation\s+.*\s500\s+0\s+[\d.]+ (ns|µs|ms)\s+[\d.]+ (ns|µs|ms)$/);
    expect(out).toMatch(/\ncrc32\s+sw\s+-\s+1\s+1\s+2\n/);
    expect(out).toMatch(/\nquiet\s+0\s+1\s+enabled/);
    expect(Math.max(...lines.map((l) => [...l].length))).toBeLessThanOrEqual(120);
  });

  it("vfun status --json: the daemon's HostStatus, whole (ids uncut, histograms)", async () => {
    const { out } = await vfun(fetchStatus, 'status', '--json', '--root', root);
    const s = JSON.parse(out) as HostStatus;
    expect(s.instances).toHaveLength(1);
    expect(s.instances[0]).toMatchObject({ id: instance, calls: 500, errors: 0 });
    expect(s.instances[0]!.latency!.counts.reduce((a, b) => a + b, 0)).toBe(500);
    expect(s.totals).toMatchObject([{ tenant: 'acme', fn: 'crc32', kind: 'sw', calls: 500 }]);
  });

  it('the root comes from VFUN_ROOT when --root is not given (the option wins)', async () => {
    const saved = process.env.VFUN_ROOT;
    process.env.VFUN_ROOT = root;
    try {
      await vfun(fetchStatus, 'status', '--json');
      await vfun(fetchStatus, 'status', '--json', '--root', join(dir, 'other'));
    } finally {
      if (saved === undefined) delete process.env.VFUN_ROOT;
      else process.env.VFUN_ROOT = saved;
    }
    expect(asked).toEqual([root, join(dir, 'other')]);
  });

  it('no daemon: one line naming the root and the socket, exit status 1 (status and top alike)', async () => {
    const empty = join(dir, 'nothing-here');
    for (const cmd of [['status'], ['top', '--interval', '0.1']]) {
      const { out, err, exitCode } = await vfun(noDaemon, ...cmd, '--root', empty);
      expect(out).toBe('');
      expect(err).toBe(`vfun: no vFunD is running with root ${empty} (no admin socket at ${join(empty, 'admin', 'admin.sock')})\n`);
      expect(exitCode).toBe(1);
    }
    expect(unreachableMessage(Object.assign(new Error('x'), { code: 'ECONNREFUSED', address: '/r/admin/admin.sock' }), '/r')).toBe(
      'no vFunD is running with root /r (nothing listens on its admin socket at /r/admin/admin.sock)',
    );
    expect(unreachableMessage(new Error('something else'), '/r')).toBeNull();
  });

  it('vfun top without a terminal: one frame per interval, each the whole status', async () => {
    let frames = '';
    const started = performance.now();
    const shown = await runTop(async () => daemon.status(), {
      intervalMs: 50,
      tty: false,
      width: () => 100,
      write: (t) => (frames += t),
      signal: new AbortController().signal,
      frames: 3,
    });
    expect(shown).toBe(3);
    expect(performance.now() - started).toBeGreaterThanOrEqual(95); // two intervals between three frames
    expect(frames.match(/^vFunD on /gm)).toHaveLength(3);
    expect(frames.match(/^instances \(1\)$/gm)).toHaveLength(3);
    expect(frames).not.toContain('\x1b[');
    expect(Math.max(...frames.split('\n').map((l) => [...l].length))).toBeLessThanOrEqual(100);
  });

  it('vfun top in a terminal: each frame clears the screen and says how to leave; the signal stops it', async () => {
    const ac = new AbortController();
    const writes: string[] = [];
    const shown = await runTop(
      async () => {
        if (writes.length === 2) ac.abort(); // ctrl-C while the third frame is fetched: it is not shown
        return daemon.status();
      },
      { intervalMs: 10, tty: true, width: () => 80, write: (t) => writes.push(t), signal: ac.signal },
    );
    expect(shown).toBe(2);
    for (const w of writes) {
      expect(w.startsWith('\x1b[H\x1b[2J')).toBe(true);
      expect(w).toContain('refreshing every 0.01 s · q or ctrl-C to quit');
    }
  });

  it('vfun top through the command: frames until the daemon stops answering, then the error', async () => {
    let n = 0;
    const failing: FetchStatus = async (r) => {
      if (++n > 2) throw new Error('the admin client broke');
      return fetchStatus(r);
    };
    await expect(vfun(failing, 'top', '--interval', '0.1', '--root', root)).rejects.toThrow('the admin client broke');
    expect(asked).toEqual([root, root]);
  });
});
