/**
 * The metrics exporter of a real daemon (startDaemon with `metrics`, as `vfun up --metrics` runs
 * it) scraped by a real Prometheus (Debian's package, fetched with apt-get download, never
 * installed): a guest makes N calls through the shared-memory channel, Prometheus scrapes every
 * second, and the PromQL `sum(vfun_calls_total)` through its HTTP API returns N; `promtool check
 * metrics` accepts the exporter's text without a lint problem. /healthz and /readyz answer, and
 * /readyz says 503, with the reason, while the journal cannot write (a tmpfs filled for real).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/actors/config.js';
import { startDaemon, type Daemon } from '../../src/daemon/index.js';
import { ControlClient } from '../../src/guest/control-client.js';
import { connect } from '../../src/guest/connect.js';
import { prometheusBinaries, promtoolCheckMetrics, startPrometheus, type PrometheusBinaries, type RunningPrometheus } from '../support/prometheus.js';
import { mountTmpfs, type Tmpfs } from '../support/tmpfs.js';

const SECRET = 'the metrics tenant secret, 16+ characters';
const N = 321;
const config = parseConfig({
  tenants: [
    { id: 'acme', secret: SECRET, maxInstances: 64 },
    { id: 'idle', secret: `${SECRET} idle`, maxInstances: 1 },
  ],
  functions: [{ name: 'crc32', kinds: { sw: { slots: 64, driver: 'crc32' } } }],
});
const creds = { tenant: 'acme', credential: SECRET };

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('vfun up --metrics, scraped by a real Prometheus', () => {
  let dir: string;
  let daemon: Daemon;
  let bin: PrometheusBinaries;
  let prom: RunningPrometheus | undefined;
  const log: string[] = [];

  beforeAll(async () => {
    bin = await prometheusBinaries();
    dir = await mkdtemp(join(tmpdir(), 'vfun-metrics-'));
    const root = join(dir, 'root');
    daemon = await startDaemon({ config, root, journal: `file:${join(root, 'admin', 'journal.ndjson')}`, log: (l) => log.push(l), metrics: { host: '127.0.0.1', port: 0 } });
  }, 120_000);

  afterAll(async () => {
    await prom?.stop();
    await daemon?.stop('test over');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('Prometheus scrapes the calls a guest made: sum(vfun_calls_total) is N', async () => {
    expect(daemon.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(log).toContain(`metrics on ${daemon.metricsUrl}/metrics (health ${daemon.metricsUrl}/healthz, readiness ${daemon.metricsUrl}/readyz)`);

    const c = await ControlClient.connect(daemon.sockets.acme!);
    const n = await c.negotiate({ ...creds, app: 'app', fn: 'crc32', kind: 'sw' });
    if (!n.ok) throw new Error(n.detail);
    const a = await c.activate({ ...creds, instance: n.instance });
    if (!a.ok) throw new Error(a.detail);
    const client = connect(a.region);
    for (let i = 0; i < N; i++) client.call(new Uint8Array([i & 0xff, 1]));

    prom = await startPrometheus(bin, { target: new URL(daemon.metricsUrl!).host });
    const total = await until('a scrape with the calls', async () => {
      const r = await prom!.query('sum(vfun_calls_total)');
      return r.length === 1 && r[0]!.value === N ? r[0]!.value : undefined;
    }).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}; targets ${JSON.stringify(await prom!.targets())}; prometheus said: ${prom!.output()}`);
    });
    expect(total).toBe(N);
    expect((await prom.targets()).map((t) => t.health)).toEqual(['up']);
    // Per tenant and function, with the configured but idle tenant at 0; the live instance and its phase.
    const byTenant = await prom.query('sum by (tenant, fn, kind) (vfun_calls_total)');
    byTenant.sort((x, y) => x.metric.tenant!.localeCompare(y.metric.tenant!));
    expect(byTenant.map((s) => [s.metric, s.value])).toEqual([
      [{ tenant: 'acme', fn: 'crc32', kind: 'sw' }, N],
      [{ tenant: 'idle', fn: 'crc32', kind: 'sw' }, 0],
    ]);
    expect((await prom.query('vfun_instances{tenant="acme",phase="computation"}')).map((s) => s.value)).toEqual([1]);
    expect((await prom.query('vfun_slots_in_use{fn="crc32",kind="sw"}')).map((s) => s.value)).toEqual([1]);
    expect((await prom.query('vfun_journal_available')).map((s) => s.value)).toEqual([1]);
    expect((await prom.query('vfun_build_info')).map((s) => s.metric.version)).toEqual([daemon.status().version]);

    // The released instance's calls stay counted.
    client.close();
    expect((await c.release({ ...creds, instance: n.instance })).ok).toBe(true);
    c.close();
    await until('the release scraped', async () => ((await prom!.query('sum(vfun_instances)'))[0]?.value === 0 ? true : undefined));
    expect((await prom.query('sum(vfun_calls_total)'))[0]!.value).toBe(N);
  });

  it('promtool check metrics accepts the scrape, with no lint problem', async () => {
    const res = await fetch(`${daemon.metricsUrl}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('# TYPE vfun_calls_total counter');
    expect(text).toContain('# TYPE process_cpu_seconds_total counter'); // the process's own metrics too
    const check = await promtoolCheckMetrics(bin, text);
    expect(check).toEqual({ code: 0, output: '' });
    // And it does find problems: a gauge named like a counter.
    const bad = await promtoolCheckMetrics(bin, '# HELP x_total x\n# TYPE x_total gauge\nx_total 1\n');
    expect(bad.code).not.toBe(0);
    expect(bad.output).toMatch(/non-counter metrics should not have "_total" suffix/);
  });

  it('/healthz and /readyz answer 200 while vFunD serves and its journal writes', async () => {
    const h = await fetch(`${daemon.metricsUrl}/healthz`);
    expect([h.status, await h.text()]).toEqual([200, 'ok\n']);
    const r = await fetch(`${daemon.metricsUrl}/readyz`);
    expect([r.status, await r.text()]).toEqual([200, 'ready\n']);
  });
});

describe('/readyz of a vFunD whose journal cannot write', () => {
  let fs: Tmpfs;
  let dir: string;
  let daemon: Daemon | undefined;

  beforeAll(async () => {
    fs = await mountTmpfs(1 << 20);
    dir = await mkdtemp(join(tmpdir(), 'vfun-metrics-full-'));
  });
  afterAll(async () => {
    await fs.unfill();
    await daemon?.stop('test over');
    await fs.unmount();
    await rm(dir, { recursive: true, force: true });
  });

  it('is 503 with the reason while the disk is full, and 200 again once it has room; /healthz stays 200', async () => {
    daemon = await startDaemon({ config, root: join(dir, 'root'), journal: `file:${join(fs.dir, 'journal.ndjson')}`, log: () => undefined, metrics: { host: '127.0.0.1', port: 0 } });
    const url = daemon.metricsUrl!;
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    await fs.fill();
    const c = await ControlClient.connect(daemon.sockets.acme!);
    // The file's last page may still take a few events: negotiate until one finds the disk full.
    for (let i = 0; i < 1000; i++) {
      const r = await c.negotiate({ ...creds, app: `n${i}`, fn: 'crc32', kind: 'sw' });
      if (!r.ok) {
        expect(r.reason).toBe('journal-unavailable');
        break;
      }
    }
    c.close();
    const notReady = await fetch(`${url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toMatch(/^not ready: the journal \(file\) cannot write: new negotiations are refused/);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/\nvfun_journal_available\{backend="file"\} 0\n/);

    await fs.unfill();
    await until('the journal writing again', async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined));
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/\nvfun_journal_available\{backend="file"\} 1\n/);
  });
});
