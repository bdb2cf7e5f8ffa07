/**
 * The Prometheus exporter over hand-built HostStatus values: the address option, the latency
 * histogram (ns per bucket -> cumulative seconds), every family's samples, label values bounded
 * by the configuration (a property over random statuses). The HTTP endpoints, on a loopback port,
 * are tested in metrics-http.int.spec.ts (the unit tier has no network).
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { LIFECYCLE_PHASES } from '../../src/machines/lifecycle.js';
import { histogramSamples, METRIC_FAMILIES, METRIC_NAMES, totalsWithZeros } from '../../src/daemon/metrics-families.js';
import { metricsRegistry, parseMetricsAddress, readinessOf } from '../../src/daemon/metrics.js';
import { latency, samples, status } from '../support/host-status.js';
import { ValidationError } from '../../src/errors.js';

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
        devices: devices.map((d) => ({ name: d, inUse: 0, slots: 1, type: 'webgpu' as const, available: false, detail: 'no adapter' })),
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
