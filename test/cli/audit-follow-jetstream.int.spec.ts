/**
 * `vfun audit --follow` on a JetStream journal (a real nats-server on
 * loopback), as a child process while vFunD publishes: what the stream held,
 * then each new event from an ordered consumer, none twice, none missing;
 * SIGINT ends it with exit 0.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VFunD } from '../../src/actors/vfund.js';
import { openJournal } from '../../src/events/adapters/open-journal.js';
import type { Envelope } from '../../src/events/envelope.js';
import type { Journal } from '../../src/events/journal.js';
import { RecordingRuntime, SECRETS, counterIds, steppingClock, testSnapshot } from '../actors/helpers.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');

describe('vfun audit --follow, JetStream journal', () => {
  let server: NatsServer;
  let root: string;
  let journal: Journal;
  let d: VFunD<{ regionId: number }>;
  const url = (): string => `${server.url}?host=follow-host`;

  beforeAll(async () => {
    server = await startNatsServer();
    root = await mkdtemp(join(tmpdir(), 'vfun-js-follow-'));
    ({ journal } = await openJournal(url(), { outbox: join(root, 'outbox.ndjson') }));
    d = await VFunD.start({ journal, runtime: new RecordingRuntime(), config: testSnapshot, host: 'follow-host', clock: steppingClock(), ids: counterIds() });
  });
  afterAll(async () => {
    await d?.stop();
    await journal?.close();
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  /** Negotiates and releases `n` instances: 2 events each. */
  async function work(n: number): Promise<void> {
    const t2 = { tenant: 't2', credential: SECRETS.t2 };
    for (let i = 0; i < n; i++) {
      const a = await d.negotiate({ ...t2, app: `a${i}`, fn: 'fsw', kind: 'sw' });
      if (!a.ok) throw new Error(a.detail);
      expect(await d.release({ ...t2, instance: a.instance })).toMatchObject({ ok: true });
    }
  }

  it('prints the stream, then every new event once as it is published; SIGINT exits 0', async () => {
    await work(3);
    const child = spawn(process.execPath, [CLI, 'audit', '--follow', '--journal', url(), '--root', root, '--format', 'ndjson'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const seen: Envelope[] = [];
    createInterface({ input: child.stdout }).on('line', (l) => seen.push(JSON.parse(l) as Envelope));
    const lastSeq = () => seen.at(-1)?.seq ?? 0;

    await expect.poll(lastSeq, { timeout: 15_000 }).toBe(7); // vfund.started + 3 × 2
    await work(5);
    const head = (await journal.head())!.seq;
    expect(head).toBe(17);
    await expect.poll(lastSeq, { timeout: 15_000 }).toBe(head);
    await work(1);
    await expect.poll(lastSeq, { timeout: 15_000 }).toBe(19);

    expect(seen.map((e) => e.seq)).toEqual(Array.from({ length: 19 }, (_, i) => i + 1));
    expect(seen.at(-1)).toMatchObject({ type: 'instance.released', tenant: 't2', host: 'follow-host' });
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
  });
});
