/**
 * The Prometheus exporter's HTTP endpoints on a loopback port (the int tier:
 * the unit tier runs without any network): /metrics, /healthz, /readyz, a
 * port that cannot be bound, and closing with the daemon.
 */
import { describe, expect, it } from 'vitest';
import { startMetricsServer, withMetrics } from '../../src/daemon/metrics.js';
import { samples, status } from '../support/host-status.js';

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
