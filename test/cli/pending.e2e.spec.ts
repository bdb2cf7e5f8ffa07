/**
 * Read-only commands on a JetStream journal while events wait in vFunD's
 * outbox (<root>/admin/outbox.ndjson): audit lists them as pending, verify
 * does not call the whole history verified, replay folds them after the
 * journal. The demo's journal is split: its first part in JetStream, its
 * last events (releases included) in the outbox.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamJournal } from '../../src/events/adapters/jetstream/index.js';
import type { Envelope } from '../../src/events/envelope.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

const exec = promisify(execFile);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const vfun = (...args: string[]) => exec(process.execPath, [CLI, ...args]);

describe('read-only commands and the outbox', () => {
  let server: NatsServer;
  let root: string;
  let url: string;
  let envs: Envelope[];
  let split: number;
  beforeAll(async () => {
    server = await startNatsServer();
    root = await mkdtemp(join(tmpdir(), 'vfun-pending-'));
    await vfun('demo', '--root', join(root, 'demo'));
    envs = (await readFile(join(root, 'demo', 'admin', 'journal.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Envelope);
    // Split before the first release: the journal alone shows live instances.
    split = envs.findIndex((e) => e.type === 'instance.released');
    const host = envs[0]!.host;
    const journal = await JetStreamJournal.open({ servers: server.url, host });
    await journal.append(envs.slice(0, split));
    await journal.close();
    url = `${server.url}?host=${host}`;
    await mkdir(join(root, 'admin'), { recursive: true });
    await writeFile(join(root, 'admin', 'outbox.ndjson'), envs.slice(split - 2).map((e) => JSON.stringify(e) + '\n').join(''));
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('audit lists the outbox events after the journal, marked pending', async () => {
    const { stdout } = await vfun('audit', '--journal', url, '--root', root, '--format', 'ndjson');
    const rows = stdout.trim().split('\n').map((l) => JSON.parse(l) as Envelope & { pending?: true });
    expect(rows.map((r) => r.seq)).toEqual(envs.map((e) => e.seq));
    expect(rows.filter((r) => r.pending === true).map((r) => r.seq)).toEqual(envs.slice(split).map((e) => e.seq));
    const table = await vfun('audit', '--journal', url, '--root', root);
    expect(table.stdout).toMatch(new RegExp(`^ *${split + 1}\\* `, 'm'));
    expect(table.stdout).not.toMatch(new RegExp(`^ *${split}\\* `, 'm'));
    expect(table.stdout).toMatch(new RegExp(`^${envs.length} events\n${envs.length - split} of them pending \\(seq\\*: in the outbox, not yet in the journal\\)$`, 'm'));
    // --limit stops reading in the journal: the outbox is not reached.
    const limited = await vfun('audit', '--journal', url, '--root', root, '--format', 'ndjson', '--limit', '2');
    expect(limited.stdout).not.toContain('"pending"');
  });

  it('verify says how many events wait in the outbox', async () => {
    const { stdout } = await vfun('audit', 'verify', '--journal', url, '--root', root);
    expect(stdout).toMatch(new RegExp(`hash chain verified, ${split} events, head seq ${split} .*; ${envs.length - split} events wait in the outbox .*outbox\\.ndjson \\(pending: decided, not yet in the journal\\)`));
  });

  it('replay folds them after the journal and says so: nothing is shown live', async () => {
    const { stdout, stderr } = await vfun('replay', '--journal', url, '--root', root);
    expect(stderr).toContain(`${envs.length - split} events wait in the outbox`);
    expect(stderr).toContain(`folded after the journal's ${split} events`);
    expect(stdout).toContain('tenant acme: 0 of 3 instances');
    expect(stdout).toMatch(/decide reproduces all \d+ recorded decisions/);
    // Without the outbox, the same journal shows instances held.
    const alone = await vfun('replay', '--journal', url, '--root', join(root, 'elsewhere'));
    expect(alone.stdout).not.toContain('tenant acme: 0 of 3 instances');
  });

  it('an outbox that does not continue the journal is an error naming it', async () => {
    const other = join(root, 'other');
    await mkdir(join(other, 'admin'), { recursive: true });
    await writeFile(join(other, 'admin', 'outbox.ndjson'), envs.slice(split + 1).map((e) => JSON.stringify(e) + '\n').join(''));
    await expect(vfun('audit', '--journal', url, '--root', other)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining(`outbox starts at seq ${split + 2}, after the journal's head seq ${split}`),
    });
  });
});
