/**
 * A fleet: three `vfun up` daemons (three roots, three hosts) journaling to a
 * three-node NATS cluster (R3 streams, authentication on, the generated
 * permissions: each vFunD as vfund-<host>, the operator as the auditor).
 * `vfun fleet status` shows the three hosts; one daemon is SIGKILLed and the
 * fleet view shows it gone (`--expect` names it, exit 1); `vfun audit
 * --host '*'` lists every host's events, merged in time order.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/events/envelope.js';
import type { HostStatus } from '../../src/daemon/status.js';
import type { FleetMetrics } from '../../src/daemon/fleet.js';
import { connect } from '@nats-io/transport-node';
import { startNatsCluster, testUsers, waitForJetStream, type NatsCluster } from '../support/nats-server.js';
import { waitFor } from '../support/wait-output.js';

const exec = promisify(execFile);
const DIST = join(import.meta.dirname, '../../dist');
const CLI = join(DIST, 'src/cli/main.js');
const OFFLOAD = join(DIST, 'examples/offload.js');
const HOSTS = ['fleet-1', 'fleet-2', 'fleet-3'] as const;
const SECRET = 'acme-secret-for-the-fleet-test';
const config = {
  tenants: [{ id: 'acme', secret: SECRET, maxInstances: 4 }],
  functions: [{ name: 'crc32', kinds: { sw: { slots: 2, driver: 'crc32' } } }],
};

describe('a fleet of three vFunDs on a three-node NATS cluster', () => {
  const users = testUsers([...HOSTS]);
  let cluster: NatsCluster;
  let dir: string;
  let servers: string;
  let auditorUrl: string;
  const daemons = new Map<string, ChildProcess>();
  const logs = new Map<string, string>();

  const cli = (args: readonly string[]) =>
    exec(process.execPath, [CLI, ...args]).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
  /** A guest runs all four phases on `host` (10 calls of crc32). */
  const offload = async (host: string, app: string): Promise<void> => {
    const socket = join(dir, host, 'vmcli', 'acme', 'control.sock');
    const guest = await exec(process.execPath, [OFFLOAD, '--socket', socket, '--tenant', 'acme', '--app', app, '--fn', 'crc32', '--kind', 'sw', '--arg', 'hello', '--calls', '10'], {
      env: { ...process.env, VFUN_SECRET: SECRET },
    });
    expect(JSON.parse(guest.stdout)).toMatchObject({ result: '86a61036', stats: { calls: 10 } });
  };
  const fleetJson = async (): Promise<{ hosts: HostStatus[]; missing: string[] }> => {
    const r = await cli(['fleet', 'status', '--fleet', auditorUrl, '--json', '--timeout', '1500']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-fleet-'));
    cluster = await startNatsCluster({ size: 3, users: users.list });
    await waitForJetStream(cluster.urls, users.admin, 3);
    servers = cluster.urls.map((u) => u.replace('nats://', '')).join(',');
    await writeFile(join(dir, 'auditor.password'), `${users.auditor.pass}\n`, { mode: 0o600 });
    auditorUrl = `nats://auditor@${servers}?passwordFile=${join(dir, 'auditor.password')}`;
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    for (const host of HOSTS) {
      const root = join(dir, host);
      const password = join(dir, `${host}.password`);
      await writeFile(password, `${users.vfund(host).pass}\n`, { mode: 0o600 });
      const journal = `nats://vfund-${host}@${servers}?host=${host}&replicas=3&passwordFile=${password}`;
      const child = spawn(process.execPath, [CLI, 'up', '--config', join(dir, 'config.json'), '--root', root, '--journal', journal], { stdio: ['ignore', 'pipe', 'inherit'] });
      daemons.set(host, child);
      logs.set(host, await waitFor(child, 'ready'));
      // Some work on each host: a guest runs all four phases.
      await offload(host, `app-${host}`);
    }
  });

  afterAll(async () => {
    await Promise.all(
      [...daemons.values()].map(
        (d) =>
          new Promise<void>((resolve) => {
            if (d.exitCode !== null || d.signalCode !== null) return resolve();
            d.once('exit', () => resolve());
            d.kill('SIGTERM');
            setTimeout(() => d.kill('SIGKILL'), 10_000).unref();
          }),
      ),
    );
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('each vFunD says it registered; the fleet view shows the three hosts with their pids and work', async () => {
    for (const host of HOSTS) expect(logs.get(host)).toMatch(/fleet: registered as NATS service vfun \(instance \w+\), endpoints vfun\.svc\.fleet-\d\.\{status,metrics\}/);
    const fleet = await fleetJson();
    expect(fleet.hosts.map((h) => h.host)).toEqual([...HOSTS]);
    expect(fleet.hosts.map((h) => h.pid)).toEqual(HOSTS.map((h) => daemons.get(h)!.pid));
    for (const h of fleet.hosts) {
      expect(h.journal).toMatchObject({ backend: 'nats', available: true });
      expect(h.journal.head).toBeGreaterThan(1);
      expect(h.totals).toEqual([expect.objectContaining({ tenant: 'acme', fn: 'crc32', kind: 'sw', calls: 10, errors: 0 })]);
    }
    const table = await cli(['fleet', 'status', '--fleet', auditorUrl, '--timeout', '1500', '--expect', HOSTS.join(',')]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^host\s+pid\s+version\s+uptime\s+instances\s+calls\s+errors\s+head\s+journal\s+checkpoint$/);
    for (const host of HOSTS) expect(lines.find((l) => l.startsWith(host))).toMatch(new RegExp(`^${host}\\s+${daemons.get(host)!.pid}\\s+\\S+\\s+\\d+ (?:ms|s|m \\d+ s)\\s+0\\s+10\\s+0\\s+\\d+\\s+ok\\s`));
    expect(lines.at(-1)).toBe('3 hosts');
    // Each host's metrics endpoint answers on its own subject, to the auditor.
    const nc = await connect({ servers: cluster.urls, ...users.auditor });
    try {
      const metrics = (await nc.request('vfun.svc.fleet-2.metrics', '', { timeout: 2000 })).json<FleetMetrics>();
      expect(metrics).toMatchObject({ host: 'fleet-2', instances: 0, calls: 10, errors: 0, slotsInUse: 0, slots: 2, journal: { available: true } });
    } finally {
      await nc.close();
    }
  });

  it("vfun audit --host '*' merges the three hosts' streams in time order, each host in seq order", async () => {
    // More work, hosts in the other order: host order is not time order.
    await offload('fleet-3', 'late-3');
    await offload('fleet-1', 'late-1');
    const r = await cli(['audit', '--journal', auditorUrl, '--host', '*', '--format', 'ndjson']);
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Envelope);
    expect(new Set(events.map((e) => e.host))).toEqual(new Set(HOSTS));
    for (let i = 1; i < events.length; i++) {
      const [a, b] = [events[i - 1]!, events[i]!];
      const order = Date.parse(a.at) - Date.parse(b.at) || (a.host < b.host ? -1 : a.host > b.host ? 1 : a.seq - b.seq);
      expect(order, `${a.host}#${a.seq} ${a.at} before ${b.host}#${b.seq} ${b.at}`).toBeLessThan(0);
    }
    for (const host of HOSTS) {
      const seqs = events.filter((e) => e.host === host).map((e) => e.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    }
    expect(events.filter((e) => e.type === 'instance.released').map((e) => e.host)).toEqual(['fleet-1', 'fleet-2', 'fleet-3', 'fleet-3', 'fleet-1']);
    // The hosts started one after the other: their vfund.started events come in that order.
    const started = await cli(['audit', '--journal', auditorUrl, '--host', '*', '--type', 'vfund.started', '--format', 'json']);
    expect((JSON.parse(started.stdout) as Envelope[]).map((e) => e.host)).toEqual([...HOSTS]);
    // The table has a host column; naming hosts selects their streams.
    const table = await cli(['audit', '--journal', auditorUrl, '--host', 'fleet-3,fleet-1', '--type', 'instance.released']);
    expect(table.code, table.stderr).toBe(0);
    const rows = table.stdout.split('\n').filter((l) => / instance\.released /.test(l));
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual(['fleet-1', 'fleet-3', 'fleet-3', 'fleet-1']);
  });

  it('a vFunD killed with SIGKILL is gone from the fleet view; --expect names it and exits 1; one stopped leaves it too', async () => {
    const victim = daemons.get('fleet-2')!;
    const exited = new Promise((resolve) => victim.once('exit', resolve));
    victim.kill('SIGKILL');
    await exited;
    await expect.poll(async () => (await fleetJson()).hosts.map((h) => h.host), { timeout: 15_000 }).toEqual(['fleet-1', 'fleet-3']);
    const r = await cli(['fleet', 'status', '--fleet', auditorUrl, '--timeout', '1500', '--expect', HOSTS.join(',')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('missing: fleet-2 (expected, did not answer)');
    expect(r.stdout).not.toMatch(/^fleet-2 /m);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('2 hosts');
    // A vFunD stopped with SIGTERM takes its service off as it stops.
    const stopped = daemons.get('fleet-3')!;
    const exit = new Promise<number | null>((resolve) => stopped.once('exit', resolve));
    stopped.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect((await fleetJson()).hosts.map((h) => h.host)).toEqual(['fleet-1']);
    // Its journal is still there: the merged audit still lists its events (up to where it was killed).
    const audit = await cli(['audit', '--journal', auditorUrl, '--host', '*', '--type', 'vfund.started', '--format', 'ndjson']);
    expect(audit.stdout.trim().split('\n').map((l) => (JSON.parse(l) as Envelope).host)).toEqual([...HOSTS]);
  });
});
