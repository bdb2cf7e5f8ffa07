/**
 * `vfun audit --follow` on the file journal, as a child process, while a real
 * vFunD (startDaemon) journals: what was there first, then each new event as
 * it is journaled, through segment rotations (a tiny segment size), none twice
 * and none missing; the filters hold for the new events too; SIGINT ends it
 * with exit 0. A journal truncated or replaced under it is an error that says
 * so (exit 1).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/actors/config.js';
import { startDaemon, type Daemon } from '../../src/daemon/index.js';
import type { Envelope } from '../../src/events/envelope.js';
import { ControlClient } from '../../src/guest/control-client.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const SECRET = 'the followed tenant secret, 16+ characters';

/** `vfun audit --follow …` as a child: its stdout lines as they come, its exit. */
class Follower {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private waiters: (() => void)[] = [];
  constructor(args: readonly string[]) {
    this.child = spawn(process.execPath, [CLI, 'audit', '--follow', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      this.lines.push(l);
      for (const w of this.waiters.splice(0)) w();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }
  /** Waits until `done(lines)` holds (or fails after `ms`, saying what came). */
  async until(done: (lines: readonly string[]) => boolean, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done(this.lines)) {
      if (Date.now() > deadline) throw new Error(`not seen within ${ms} ms; stdout:\n${this.lines.join('\n')}\nstderr:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }
  /** Its exit code, or a failure after `ms` saying what it printed. */
  exit(ms = 15_000): Promise<number | null> {
    return Promise.race([
      this.exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still running after ${ms} ms; stdout:\n${this.lines.join('\n')}\nstderr:\n${this.stderr}`)), ms).unref()),
    ]);
  }
  events(): Envelope[] {
    return this.lines.map((l) => JSON.parse(l) as Envelope);
  }
}

describe('vfun audit --follow, file journal', () => {
  let dir: string;
  let daemon: Daemon;
  let journalFile: string;
  const followers: Follower[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-follow-'));
    const config = parseConfig({
      tenants: [
        { id: 'acme', secret: SECRET, maxInstances: 4 },
        { id: 'other', secret: `${SECRET} other`, maxInstances: 4 },
      ],
      functions: [{ name: 'crc32', kinds: { sw: { slots: 8, driver: 'crc32' } } }],
    });
    journalFile = join(dir, 'root', 'admin', 'journal.ndjson');
    // Segments of 4 KiB closed at the checkpoint after them (every 5 events): following crosses rotations.
    daemon = await startDaemon({ config, root: join(dir, 'root'), journal: `file:${journalFile}?segment=4KiB`, log: () => undefined, checkpoint: { every: 5, intervalMs: 0 } });
  });

  afterAll(async () => {
    for (const f of followers) f.child.kill('SIGKILL');
    await daemon?.stop('test over');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Negotiates and releases `n` instances of `tenant`: 2 events each (and a checkpoint every 5 events). */
  async function work(tenant: 'acme' | 'other', n: number): Promise<void> {
    const c = await ControlClient.connect(daemon.sockets[tenant]!);
    const creds = { tenant, credential: tenant === 'acme' ? SECRET : `${SECRET} other` };
    for (let i = 0; i < n; i++) {
      const neg = await c.negotiate({ ...creds, app: 'app', fn: 'crc32', kind: 'sw' });
      if (!neg.ok) throw new Error(neg.detail);
      expect(await c.release({ ...creds, instance: neg.instance })).toMatchObject({ ok: true });
    }
    c.close();
  }

  it('prints what is there, then every new event once, across segment rotations; SIGINT exits 0', async () => {
    await work('acme', 2);
    const all = new Follower(['--journal', `file:${journalFile}`, '--format', 'ndjson']);
    const acme = new Follower(['--journal', `file:${journalFile}`, '--tenant', 'acme', '--type', 'instance.released', '--tail', '1']);
    followers.push(all, acme);
    await all.until((l) => l.length >= 5); // vfund.started + 2 × 2
    await acme.until((l) => l.some((x) => /instance\.released/.test(x)));
    const before = (await readdir(join(dir, 'root', 'admin'))).filter((n) => /^journal\.ndjson\.\d+-\d+$/.test(n)).length;

    await work('other', 10);
    await work('acme', 10);
    const head = (await daemon.status()).journal.head!;
    await all.until((l) => (JSON.parse(l.at(-1)!) as Envelope).seq >= head);
    const after = (await readdir(join(dir, 'root', 'admin'))).filter((n) => /^journal\.ndjson\.\d+-\d+$/.test(n)).length;
    expect(after).toBeGreaterThan(before); // the writer closed segments while we followed

    const seqs = all.events().map((e) => e.seq);
    expect(seqs.length).toBeGreaterThanOrEqual(head); // (a checkpoint may have come after the head read)
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1)); // every event, once, in order
    // The table follows the filters: acme's releases only (the last one of the first part, then each new one).
    await acme.until((l) => l.filter((x) => / instance\.released /.test(x)).length >= 11);
    const rows = acme.lines.filter((x) => /^ *\d+ \d{4}-/.test(x));
    expect(rows).toHaveLength(11);
    for (const r of rows) expect(r).toMatch(/ acme .* instance\.released /);
    for (const l of acme.lines) expect(l.length).toBeLessThanOrEqual(120);

    all.child.kill('SIGINT');
    acme.child.kill('SIGTERM');
    expect(await all.exit()).toBe(0);
    expect(await acme.exit()).toBe(0);
    expect(acme.lines.at(-1)).toBe('11 events');
    expect(all.stderr).toBe('');
  });

  it('a journal truncated under it, or replaced by another, is an error that says so', async () => {
    const admin = join(dir, 'root', 'admin');
    // An active file with lines in it (right after a rotation it is empty, and there is nothing to cut).
    for (let i = 0; i < 10 && (await stat(journalFile)).size === 0; i++) await work('acme', 1);
    expect((await stat(journalFile)).size).toBeGreaterThan(0);
    const copy = join(dir, 'copy', 'journal.ndjson');
    await mkdir(join(dir, 'copy'));
    // The journal as it is now, segments and all.
    for (const name of await readdir(admin)) if (name.startsWith('journal.ndjson')) await copyFile(join(admin, name), join(dir, 'copy', name));
    const active = await readFile(copy);

    const cut = new Follower(['--journal', `file:${copy}`, '--format', 'ndjson']);
    followers.push(cut);
    await cut.until((l) => l.length > 0);
    await truncate(copy, 10);
    expect(await cut.exit()).toBe(1);
    // (Cut before or after the follower opened it: either way it says so.)
    expect(cut.stderr).toMatch(/the journal was truncated while it was followed: (10 bytes, where \d+ had been read|seq \d+, read before, is no longer in it)/);

    // Replaced: another file moved in its place, beginning again at seq 1 (the first segment's first line).
    await writeFile(copy, active);
    const moved = new Follower(['--journal', `file:${copy}`, '--format', 'ndjson']);
    followers.push(moved);
    await moved.until((l) => l.length > 0);
    const first = (await readdir(join(dir, 'copy'))).filter((n) => /^journal\.ndjson\.\d+-\d+$/.test(n)).sort()[0]!;
    const seq1 = (await readFile(join(dir, 'copy', first), 'utf8')).split('\n')[0]!;
    expect((JSON.parse(seq1) as Envelope).seq).toBe(1);
    const other = join(dir, 'copy', 'other.ndjson');
    await writeFile(other, `${seq1}\n`);
    await rename(other, copy);
    expect(await moved.exit()).toBe(1);
    // Moved in after the follower opened the file: it does not continue the chain; before: what was read is not in it.
    expect(moved.stderr).toMatch(/the journal was (replaced while it was followed: it holds seq 1 where seq \d+ was expected|truncated while it was followed: seq \d+, read before, is no longer in it)/);
  });
});
