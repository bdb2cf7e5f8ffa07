/**
 * `vfun audit summary --host` and the merged `vfun audit --host` table on a
 * JetStream journal (a real nats-server on loopback) holding two hosts'
 * streams, each written by a vFunD of its own: a section per host and the
 * hosts added up, json rows with their host, filters honoured; the merged
 * table fits 120 columns.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VFunD } from '../../src/actors/vfund.js';
import { openJournal } from '../../src/events/adapters/open-journal.js';
import type { Journal } from '../../src/events/journal.js';
import type { HostSummary } from '../../src/cli/fleet-summary.js';
import { RecordingRuntime, SECRETS, counterIds, steppingClock, testSnapshot } from '../actors/helpers.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const HOSTS = ['summary-host-a', 'summary-host-b'] as const;

async function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { env: { ...process.env, VFUN_ROOT: '', VFUN_JOURNAL: '' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('vfun audit summary --host, JetStream journal', () => {
  let server: NatsServer;
  let root: string;
  const journals: Journal[] = [];

  /** `n` instances of `tenant` negotiated and released on `d`. */
  async function work(d: VFunD<{ regionId: number }>, tenant: 't1' | 't2', n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const a = await d.negotiate({ tenant, credential: SECRETS[tenant], app: `a${i}`, fn: 'fsw', kind: 'sw' });
      if (!a.ok) throw new Error(a.detail);
      expect(await d.release({ tenant, credential: SECRETS[tenant], instance: a.instance })).toMatchObject({ ok: true });
    }
  }

  beforeAll(async () => {
    server = await startNatsServer();
    root = await mkdtemp(join(tmpdir(), 'vfun-audit-hosts-'));
    const daemons = [];
    for (const host of HOSTS) {
      const { journal } = await openJournal(`${server.url}?host=${host}`, { outbox: join(root, `${host}.outbox.ndjson`) });
      journals.push(journal);
      daemons.push(await VFunD.start({ journal, runtime: new RecordingRuntime(), config: testSnapshot, host, clock: steppingClock(), ids: counterIds() }));
    }
    const [a, b] = daemons as [VFunD<{ regionId: number }>, VFunD<{ regionId: number }>];
    await work(a, 't1', 2);
    await work(b, 't1', 1);
    await work(b, 't2', 1);
    expect(await b.negotiate({ tenant: 't2', credential: 'not-the-secret', app: 'x', fn: 'fsw', kind: 'sw' })).toMatchObject({ ok: false, reason: 'credential' });
    for (const d of daemons) await d.stop();
  });
  afterAll(async () => {
    for (const j of journals) await j.close();
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('summarizes every host: json rows per host and tenant, the table a section per host then every host', async () => {
    const json = await cli(['audit', 'summary', '--journal', server.url, '--host', '*', '--format', 'json']);
    expect(json.code, json.stderr).toBe(0);
    const rows = JSON.parse(json.stdout) as HostSummary[];
    expect(rows.map((r) => [r.host, r.tenant, r.instances])).toEqual([
      [HOSTS[0], '(host)', 0],
      [HOSTS[0], 't1', 2],
      [HOSTS[1], '(host)', 0],
      [HOSTS[1], 't1', 1],
      [HOSTS[1], 't2', 1],
    ]);
    expect(rows.find((r) => r.host === HOSTS[1] && r.tenant === 't2')).toMatchObject({ nacks: { credential: 1 }, security: 1 });

    const table = await cli(['audit', 'summary', '--journal', server.url, '--host', '*', '--type', 'negotiation.*']);
    expect(table.code, table.stderr).toBe(0);
    const sections = table.stdout.trimEnd().split('\n\n');
    expect(sections.map((s) => s.split('\n')[0])).toEqual([`host ${HOSTS[0]}`, `host ${HOSTS[1]}`, 'every host (2)']);
    const t1Total = sections[2]!.split('\n').find((l) => /│ t1 /.test(l))!;
    expect(t1Total.split('│').map((c) => c.trim()).slice(1, 4)).toEqual(['t1', '3', '3']); // events, instances

    // Filters and host names: one host's tenant t2.
    const one = await cli(['audit', 'summary', '--journal', server.url, '--host', HOSTS[1], '--tenant', 't2', '--format', 'ndjson']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout.trim().split('\n').map((l) => JSON.parse(l) as HostSummary)).toEqual([expect.objectContaining({ host: HOSTS[1], tenant: 't2', instances: 1, events: 3 })]);
    const nobody = await cli(['audit', 'summary', '--journal', server.url, '--host', '*', '--tenant', 'nobody']);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toContain("no event of these hosts names tenant 'nobody'; they hold tenants t1, t2");
  });

  it('the merged audit table fits 120 columns, its host column first; --wide prints the host in full', async () => {
    const fit = await cli(['audit', '--journal', server.url, '--host', '*']);
    expect(fit.code, fit.stderr).toBe(0);
    const lines = fit.stdout.split('\n');
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(120);
    expect(lines[0]).toMatch(/^host +seq at /);
    expect(lines.filter((l) => / instance\.released /.test(l)).map((l) => l.split(' ')[0]).sort()).toEqual(['…ry-host-a', '…ry-host-a', '…ry-host-b', '…ry-host-b']);
    const wide = await cli(['audit', '--journal', server.url, '--host', '*', '--wide', '--type', 'instance.released']);
    expect(wide.code, wide.stderr).toBe(0);
    expect(wide.stdout.split('\n').filter((l) => / instance\.released /.test(l)).map((l) => l.split(' ')[0]).sort()).toEqual([HOSTS[0], HOSTS[0], HOSTS[1], HOSTS[1]]);
  });

  it('on a file journal, --host names no host', async () => {
    const r = await cli(['audit', 'summary', '--journal', `file:${join(root, 'none.ndjson')}`, '--host', HOSTS[0]]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('holds the events of one host');
  });
});
