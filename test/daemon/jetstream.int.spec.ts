/**
 * vFunD on JetStream (a real nats-server on loopback): the demo and the
 * operators' commands on a nats:// journal, and the outbox with the
 * fail-closed policy while the server is down.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { openJournal } from '../../src/events/adapters/open-journal.js';
import { VFunD } from '../../src/actors/vfund.js';
import { verifyChain } from '../../src/events/chain.js';
import { replayJournal } from '../../src/actors/replay.js';
import type { Envelope } from '../../src/events/envelope.js';
import { RecordingRuntime, SECRETS, counterIds, steppingClock, testSnapshot } from '../actors/helpers.js';

const exec = promisify(execFile);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');

describe('vFunD on JetStream', () => {
  let server: NatsServer;
  let root: string;
  beforeAll(async () => {
    server = await startNatsServer();
    root = await mkdtemp(join(tmpdir(), 'vfun-js-'));
  });
  afterAll(async () => {
    await server.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('vfun demo --journal nats://… runs, and audit verify / summary / replay work on it', async () => {
    const url = `${server.url}?host=demo-host`;
    const { stdout } = await exec(process.execPath, [CLI, 'demo', '--root', join(root, 'demo'), '--journal', url]);
    expect(stdout).toMatch(/hash chain verified: \d+ events/);
    expect((await exec(process.execPath, [CLI, 'audit', 'verify', '--journal', url])).stdout).toContain('hash chain verified');
    expect((await exec(process.execPath, [CLI, 'replay', '--journal', url])).stdout).toMatch(/decide reproduces all \d+ recorded decisions/);
    const summary = JSON.parse((await exec(process.execPath, [CLI, 'audit', 'summary', '--journal', url, '--format', 'json'])).stdout) as { tenant: string }[];
    expect(summary.map((r) => r.tenant)).toEqual(['(host)', 'acme', 'globex']);
  });

  it('journal unreachable: fail-closed refuses negotiations, releases go to the outbox; nothing lost or doubled', async () => {
    const url = `${server.url}?host=outbox-host&failClosed=true&ackTimeoutMs=500`;
    const { journal } = await openJournal(url, { outbox: join(root, 'outbox.ndjson') });
    const d = await VFunD.start({ journal, runtime: new RecordingRuntime(), config: testSnapshot, host: 'outbox-host', clock: steppingClock(), ids: counterIds() });
    const t2 = { tenant: 't2', credential: SECRETS.t2 };
    const held = await d.negotiate({ ...t2, app: 'a', fn: 'fsw', kind: 'sw' });
    expect(held.ok).toBe(true);
    await server.kill();
    await expect.poll(() => journal.available?.(), { timeout: 10_000 }).toBe(false);
    expect(await d.negotiate({ ...t2, app: 'b', fn: 'fsw', kind: 'sw' })).toMatchObject({ ok: false, reason: 'journal-unavailable' });
    if (held.ok) expect(await d.release({ ...t2, instance: held.instance })).toMatchObject({ ok: true }); // into the outbox
    await server.restart();
    await expect.poll(() => journal.available?.(), { timeout: 20_000 }).toBe(true);
    expect((await d.negotiate({ ...t2, app: 'c', fn: 'fsw', kind: 'sw' })).ok).toBe(true);
    await d.stop();
    await journal.close();

    const { journal: reader } = await openJournal(url, { readOnly: true });
    const events: Envelope[] = [];
    for await (const e of reader.read()) events.push(e);
    await reader.close();
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(events.map((e) => e.type)).toEqual(['vfund.started', 'negotiation.acked', 'instance.released', 'negotiation.acked', 'instance.released', 'vfund.stopped']);
    expect((await verifyChain(events)).ok).toBe(true);
    expect((await replayJournal(events)).divergence).toBeNull();
  });
});
