/**
 * The Prometheus exporter over hand-built HostStatus values: the address option, the latency
 * histogram (ns per bucket -> cumulative seconds), every family's samples, label values bounded
 * by the configuration (a property over random statuses), and the HTTP endpoints on a loopback port.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { LIFECYCLE_PHASES } from '../../src/machines/lifecycle.js';
import { histogramSamples, METRIC_FAMILIES, METRIC_NAMES, totalsWithZeros } from '../../src/daemon/metrics-families.js';
import { metricsRegistry, parseMetricsAddress, readinessOf, startMetricsServer, withMetrics } from '../../src/daemon/metrics.js';
import type { HostStatus, LatencyHistogram } from '../../src/daemon/status.js';
import { ValidationError } from '../../src/errors.js';

const latency: LatencyHistogram = { boundsNs: [1_000, 2_000, 4_000], counts: [1, 5, 3, 1], sumNs: 25_000 };

function status(over: Partial<HostStatus> = {}): HostStatus {
  return {
    host: 'h1',
    pid: 4242,
    version: '1.2.3',
    startedAt: '2026-01-01T00:00:00.000Z',
    uptimeMs: 65_000,
    accepting: true,
    instances: [
      { id: 'i17', tenant: 'acme', app: 'billing', fn: 'crc32', kind: 'sw', phase: 'activation.pending', ageMs: 5, guest: { pid: 777, uid: 1000 }, servicePid: 888, calls: 0, errors: 0, latency: null },
      { id: 'i18', tenant: 'acme', app: 'billing', fn: 'crc32', kind: 'sw', phase: 'computation', ageMs: 9, guest: null, servicePid: 889, calls: 10, errors: 1, latency },
    ],
    slots: [
      { fn: 'crc32', kind: 'sw', inUse: 2, slots: 4, device: null },
      { fn: 'crc32', kind: 'hw', inUse: 0, slots: 1, device: 'fpga0' },
    ],
    devices: [{ name: 'fpga0', inUse: 0, slots: 2 }],
    tenants: [
      { id: 'acme', instances: 2, maxInstances: 3, disabled: false, draining: false },
      { id: 'beta', instances: 0, maxInstances: 1, disabled: true, draining: false },
    ],
    totals: [{ tenant: 'acme', fn: 'crc32', kind: 'sw', calls: 10, errors: 1, latency }],
    journal: { backend: 'file', url: 'file:/var/lib/virtfun/admin/journal.ndjson', head: 12, available: true, outboxDepth: 0, lastCheckpoint: { seq: 10, size: 11, at: '2026-01-01T00:01:00.000Z' } },
    ...over,
  };
}

/** Sample lines of a Prometheus text, as `name{labels}` -> value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe('--metrics <host:port>', () => {
  it('takes IPv4, [IPv6], a host name, and port 0', () => {
    expect(parseMetricsAddress('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseMetricsAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseMetricsAddress('metrics.example:65535')).toEqual({ host: 'metrics.example', port: 65535 });
  });

  it.each(['9464', '127.0.0.1', ':9464', '127.0.0.1:', '127.0.0.1:65536', '127.0.0.1:94a', '::1:9464', '[127.0.0.1]:9464', 'bad_host:1', 'http://127.0.0.1:9464'])(
    'refuses %s, naming the option',
    (text) => {
      const err = (() => {
        try {
          parseMetricsAddress(text);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe('--metrics');
      expect((err as Error).message).toMatch(/^--metrics: '.*' .*host:port/);
    },
  );
});

describe('the latency histogram', () => {
  it('becomes cumulative buckets in seconds, with +Inf, _sum and _count', () => {
    expect(histogramSamples('h', { fn: 'f' }, latency)).toEqual([
      { metricName: 'h_bucket', labels: { fn: 'f', le: 0.000001 }, value: 1 },
      { metricName: 'h_bucket', labels: { fn: 'f', le: 0.000002 }, value: 6 },
      { metricName: 'h_bucket', labels: { fn: 'f', le: 0.000004 }, value: 9 },
      { metricName: 'h_bucket', labels: { fn: 'f', le: '+Inf' }, value: 10 },
      { metricName: 'h_sum', labels: { fn: 'f' }, value: 0.000025 },
      { metricName: 'h_count', labels: { fn: 'f' }, value: 10 },
    ]);
  });

  it('refuses counts that do not have one more entry than bounds', () => {
    expect(() => histogramSamples('h', {}, { boundsNs: [1, 2], counts: [1, 2], sumNs: 3 })).toThrow(/2 counts for 2 bounds/);
  });

  test.prop([fc.array(fc.nat({ max: 1_000_000 }), { minLength: 1, maxLength: 40 })])('buckets never decrease and +Inf equals _count, the sum of the counts', (counts) => {
    const boundsNs = counts.slice(1).map((_, i) => 1000 * 2 ** i);
    const s = histogramSamples('h', {}, { boundsNs, counts, sumNs: 0 });
    const buckets = s.filter((x) => x.metricName === 'h_bucket').map((x) => x.value);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!).toBeGreaterThanOrEqual(buckets[i - 1]!);
    const total = counts.reduce((a, b) => a + b, 0);
    expect(buckets.at(-1)).toBe(total);
    expect(s.find((x) => x.metricName === 'h_count')!.value).toBe(total);
  });
});

describe('a scrape', () => {
  it('maps one status to every family', async () => {
    const text = await metricsRegistry(() => status()).scrape();
    const got = samples(text);
    expect(got.get('vfun_calls_total{tenant="acme",fn="crc32",kind="sw"}')).toBe(10);
    expect(got.get('vfun_calls_total{tenant="beta",fn="crc32",kind="hw"}')).toBe(0); // configured, never used: present at 0
    expect(got.get('vfun_call_errors_total{tenant="acme",fn="crc32",kind="sw"}')).toBe(1);
    expect(got.get('vfun_call_latency_seconds_bucket{tenant="acme",fn="crc32",kind="sw",le="0.000002"}')).toBe(6);
    expect(got.get('vfun_call_latency_seconds_bucket{tenant="acme",fn="crc32",kind="sw",le="+Inf"}')).toBe(10);
    expect(got.get('vfun_call_latency_seconds_sum{tenant="acme",fn="crc32",kind="sw"}')).toBe(0.000025);
    expect(got.get('vfun_call_latency_seconds_count{tenant="acme",fn="crc32",kind="sw"}')).toBe(10);
    expect(got.get('vfun_instances{tenant="acme",phase="activation"}')).toBe(1);
    expect(got.get('vfun_instances{tenant="acme",phase="computation"}')).toBe(1);
    expect(got.get('vfun_instances{tenant="beta",phase="computation"}')).toBe(0);
    expect(got.get('vfun_tenant_max_instances{tenant="acme"}')).toBe(3);
    expect(got.get('vfun_tenant_disabled{tenant="beta"}')).toBe(1);
    expect(got.get('vfun_slots{fn="crc32",kind="sw"}')).toBe(4);
    expect(got.get('vfun_slots_in_use{fn="crc32",kind="sw"}')).toBe(2);
    expect(got.get('vfun_device_slots{device="fpga0"}')).toBe(2);
    expect(got.get('vfun_device_slots_in_use{device="fpga0"}')).toBe(0);
    expect(got.get('vfun_accepting')).toBe(1);
    expect(got.get('vfun_journal_available{backend="file"}')).toBe(1);
    expect(got.get('vfun_journal_head_seq')).toBe(12);
    expect(got.get('vfun_journal_outbox_events')).toBe(0);
    expect(got.get('vfun_journal_last_checkpoint_seq')).toBe(10);
    expect(got.get('vfun_journal_checkpoint_age_seconds')).toBe(5); // started 00:00:00 + 65 s, checkpoint at 00:01:00
    expect(got.get('vfun_uptime_seconds')).toBe(65);
    expect(got.get('vfun_build_info{version="1.2.3",host="h1"}')).toBe(1);
    for (const f of METRIC_FAMILIES) {
      expect(text).toContain(`# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`);
    }
  });

  it('has no histogram series while the runtime keeps no latency, and no checkpoint or head before there is one', async () => {
    const s = status({
      totals: [{ tenant: 'acme', fn: 'crc32', kind: 'sw', calls: 3, errors: 0, latency: null }],
      journal: { backend: 'nats', url: 'nats://x', head: null, available: false, outboxDepth: 4, lastCheckpoint: null },
    });
    const got = samples(await metricsRegistry(() => s).scrape());
    expect([...got.keys()].filter((k) => k.startsWith('vfun_call_latency_seconds'))).toEqual([]);
    expect(got.has('vfun_journal_head_seq')).toBe(false);
    expect(got.has('vfun_journal_checkpoint_age_seconds')).toBe(false);
    expect(got.get('vfun_journal_available{backend="nats"}')).toBe(0);
    expect(got.get('vfun_journal_outbox_events')).toBe(4);
  });

  it('takes the status once per scrape', async () => {
    let taken = 0;
    const m = metricsRegistry(() => (taken++, status()));
    await m.scrape();
    expect(taken).toBe(1);
    await m.scrape();
    expect(taken).toBe(2);
  });

  it('keeps the counters of a key the configuration no longer has, and zero-fills every configured one', () => {
    const s = status({ totals: [{ tenant: 'gone', fn: 'sha256', kind: 'hw', calls: 7, errors: 0, latency: null }] });
    const t = totalsWithZeros(s);
    expect(t).toHaveLength(2 * 2 + 1);
    expect(t.find((x) => x.tenant === 'gone')!.calls).toBe(7);
  });

  const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
  const arbStatus = fc
    .record({
      tenants: fc.uniqueArray(name, { minLength: 1, maxLength: 4 }),
      fns: fc.uniqueArray(name, { minLength: 1, maxLength: 3 }),
      devices: fc.uniqueArray(name, { maxLength: 2 }),
      n: fc.nat({ max: 12 }),
      seed: fc.nat(),
    })
    .map(({ tenants, fns, devices, n, seed }) => {
      const pick = <T>(xs: readonly T[], i: number) => xs[(seed + i * 7919) % xs.length]!;
      const steps = ['activation.pending', 'activation.running', 'computation', 'failed', 'release'];
      const instances = Array.from({ length: n }, (_, i) => ({
        id: `INST${i}`, // upper case: no generated name can contain it
        tenant: pick(tenants, i),
        app: `app${i}`,
        fn: pick(fns, i + 1),
        kind: (i % 2 === 0 ? 'sw' : 'hw') as 'sw' | 'hw',
        phase: pick(steps, i + 2),
        ageMs: i,
        guest: { pid: 3_999_000 + i, uid: 1000 },
        servicePid: 3_888_000 + i,
        calls: i * 3,
        errors: i % 2,
        latency: null,
      }));
      return status({
        instances,
        tenants: tenants.map((id) => ({ id, instances: 0, maxInstances: 5, disabled: false, draining: false })),
        slots: fns.flatMap((fn) => (['sw', 'hw'] as const).map((kind) => ({ fn, kind, inUse: 0, slots: 4, device: null }))),
        devices: devices.map((d) => ({ name: d, inUse: 0, slots: 1 })),
        totals: instances.map((i) => ({ tenant: i.tenant, fn: i.fn, kind: i.kind, calls: i.calls, errors: i.errors, latency })),
      });
    });

  test.prop([arbStatus])('labels take values from the configuration and the lifecycle only, never instance ids or pids', async (s) => {
    const allowed: Record<string, Set<string>> = {
      tenant: new Set(s.tenants.map((t) => t.id)),
      fn: new Set(s.slots.map((x) => x.fn)),
      kind: new Set(['sw', 'hw']),
      phase: new Set<string>(LIFECYCLE_PHASES),
      device: new Set(s.devices.map((d) => d.name)),
      backend: new Set([s.journal.backend]),
      version: new Set([s.version]),
      host: new Set([s.host]),
      le: new Set([...latency.boundsNs.map((b) => String(b / 1e9)), '+Inf']),
    };
    const text = await metricsRegistry(() => s).scrape();
    for (const key of samples(text).keys()) {
      for (const m of key.matchAll(/([a-z_]+)="([^"]*)"/g)) {
        expect(allowed[m[1]!], `label ${m[1]} in ${key}`).toBeDefined();
        expect(allowed[m[1]!]!.has(m[2]!), `${key}`).toBe(true);
      }
    }
    expect(text).not.toMatch(/INST\d|3999\d{3}|3888\d{3}/);
    // Bounded: the series depend on the configuration's size, not on how many instances live.
    const configured = s.tenants.length * s.slots.length;
    expect(samples(text).size).toBeLessThanOrEqual(configured * 2 + configured * (latency.counts.length + 2) + s.tenants.length * 6 + s.slots.length * 2 + s.devices.length * 2 + 10);
  });

  it('names every family vfun_…, counters …_total, and none twice', () => {
    expect(new Set(METRIC_NAMES).size).toBe(METRIC_NAMES.length);
    for (const f of METRIC_FAMILIES) {
      expect(f.name).toMatch(/^vfun_[a-z0-9_]+$/);
      expect(f.name.endsWith('_total')).toBe(f.type === 'counter');
      expect(f.help.length).toBeGreaterThan(15);
    }
  });
});

describe('readiness', () => {
  it('is ready when the journal writes and vFunD accepts negotiations, else says why', () => {
    expect(readinessOf(status())).toEqual({ ready: true });
    const down = status({ accepting: false, journal: { ...status().journal, available: false, outboxDepth: 3 } });
    const r = readinessOf(down);
    expect(r.ready).toBe(false);
    if (r.ready) return;
    expect(r.reasons).toEqual(['the journal (file) cannot write: new negotiations are refused (3 event(s) wait in the outbox)', 'vFunD is draining: it admits no new negotiation']);
    expect(r.reasons.join(' ')).not.toContain('/var/lib'); // the journal's location is not published
  });
});

describe('the HTTP endpoints', () => {
  it('serve /metrics, /healthz and /readyz on a loopback port, and close', async () => {
    let current = status();
    const lines: string[] = [];
    const server = await startMetricsServer({ address: { host: '127.0.0.1', port: 0 }, status: () => current, log: (l) => lines.push(l), processMetrics: false });
    try {
      expect(server.address.port).toBeGreaterThan(0);
      expect(server.url).toBe(`http://127.0.0.1:${server.address.port}`);
      expect(lines).toEqual([`metrics on ${server.url}/metrics (health ${server.url}/healthz, readiness ${server.url}/readyz)`]);

      const m = await fetch(`${server.url}/metrics`);
      expect(m.status).toBe(200);
      expect(m.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(samples(await m.text()).get('vfun_calls_total{tenant="acme",fn="crc32",kind="sw"}')).toBe(10);

      const h = await fetch(`${server.url}/healthz`);
      expect([h.status, await h.text()]).toEqual([200, 'ok\n']);
      const ready = await fetch(`${server.url}/readyz`);
      expect([ready.status, await ready.text()]).toEqual([200, 'ready\n']);

      current = status({ journal: { ...status().journal, available: false } });
      const notReady = await fetch(`${server.url}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.text()).toMatch(/^not ready: the journal \(file\) cannot write/);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

      expect((await fetch(`${server.url}/nope`)).status).toBe(404);
      const post = await fetch(`${server.url}/metrics`, { method: 'POST' });
      expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    } finally {
      await server.close();
    }
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });

  it('a port it cannot bind stops the daemon it was to serve, and says which option', async () => {
    const first = await startMetricsServer({ address: { host: '127.0.0.1', port: 0 }, status, log: () => undefined, processMetrics: false });
    try {
      const stopped: string[] = [];
      const daemon = { status: () => status(), stop: async (r: string) => void stopped.push(r) };
      await expect(withMetrics(daemon, first.address, () => undefined, { processMetrics: false })).rejects.toThrow(/^--metrics: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
      expect(stopped).toEqual(['the metrics exporter could not start']);
    } finally {
      await first.close();
    }
  });

  it('withMetrics closes the exporter when the daemon stops', async () => {
    const stopped: string[] = [];
    const daemon = await withMetrics({ status: () => status(), stop: async (r: string) => void stopped.push(r) }, { host: '127.0.0.1', port: 0 }, () => undefined, { processMetrics: false });
    expect((await fetch(`${daemon.metricsUrl}/healthz`)).status).toBe(200);
    await daemon.stop('test over');
    expect(stopped).toEqual(['test over']);
    await expect(fetch(`${daemon.metricsUrl}/healthz`)).rejects.toThrow();
  });
});
