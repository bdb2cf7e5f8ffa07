/**
 * The Prometheus exporter of a running vFunD (`vfun up --metrics host:port`):
 * a plain node:http server with
 *
 * - `/metrics`: Prometheus text (prom-client), every family of
 *   metrics-families.ts plus the process's own (`process_*`, `nodejs_*`);
 * - `/healthz`: 200 while the process serves;
 * - `/readyz`: 200 when the journal takes events and vFunD admits
 *   negotiations, else 503 with the reason.
 *
 * Everything comes from one `HostStatus` taken at scrape time: nothing is
 * counted on the call path. No authentication: bind it to loopback or a
 * management network (docs/operator-guide.md, "Metrics and health").
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry, type Metric } from 'prom-client';
import { messageOf, ValidationError } from '../errors.js';
import { METRIC_FAMILIES, type MetricFamily, type MetricSample } from './metrics-families.js';
import type { HostStatus } from './status.js';

/** Where the exporter listens. Port 0: a free port, chosen by the kernel (the bound one is logged). */
export interface MetricsAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * `host:port` (`127.0.0.1:9464`, `[::1]:9464`, `metrics.example:9464`) as given to `option`;
 * ValidationError naming the option otherwise.
 */
export function parseMetricsAddress(text: string, option = '--metrics'): MetricsAddress {
  const bad = (why: string) => new ValidationError(option, `'${text}' ${why} (want host:port, e.g. 127.0.0.1:9464; port 0 picks a free one)`);
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (m === null) throw bad('is not host:port');
  const host = m[1] ?? m[2]!;
  if (m[1] !== undefined && isIP(host) !== 6) throw bad('has no IPv6 address inside [ ]');
  if (m[2] !== undefined && isIP(host) === 0 && !/^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)) {
    throw bad('has no valid host name or IP address');
  }
  const port = Number(m[3]);
  if (port > 65535) throw bad('has a port above 65535');
  return { host, port };
}

/** Whether vFunD is ready for new negotiations, and if not why (pure). */
export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reasons: readonly string[] };

/** Ready: the journal takes events and vFunD admits negotiations. */
export function readinessOf(s: HostStatus): Readiness {
  const reasons: string[] = [];
  if (!s.journal.available) reasons.push(`the journal (${s.journal.backend}) cannot write: new negotiations are refused${s.journal.outboxDepth > 0 ? ` (${s.journal.outboxDepth} event(s) wait in the outbox)` : ''}`);
  if (!s.accepting) reasons.push('vFunD is draining: it admits no new negotiation');
  return reasons.length === 0 ? { ready: true } : { ready: false, reasons };
}

/**
 * A metric family as prom-client's registry reads it: its `get()` maps the
 * status of the current scrape. (The registry needs only name, help, type and
 * `get()`; prom-client types `registerMetric` with its own classes, hence the cast.)
 */
class StatusMetric {
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  readonly type: MetricFamily['type'];
  constructor(
    private readonly family: MetricFamily,
    private readonly current: () => HostStatus,
  ) {
    this.name = family.name;
    this.help = family.help;
    this.type = family.type;
  }

  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricSample[] }> {
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.family.samples(this.current()) });
  }
}

/** prom-client default metrics that `promtool check metrics` refuses (gauges named …_total). */
const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** A registry of vFunD's metrics and how to scrape it. */
export interface MetricsRegistry {
  readonly registry: Registry;
  /** The Prometheus text of one scrape: `status()` is taken once for every family. */
  scrape(): Promise<string>;
}

/**
 * vFunD's metric families over `status`, plus the process's own metrics when
 * `processMetrics` (prom-client's collectDefaultMetrics, which starts an
 * event-loop monitor and a GC observer for the life of the process).
 */
export function metricsRegistry(status: () => HostStatus, opts: { processMetrics?: boolean } = {}): MetricsRegistry {
  const registry = new Registry();
  let scraping: HostStatus | undefined;
  const current = () => scraping ?? status();
  for (const f of METRIC_FAMILIES) registry.registerMetric(new StatusMetric(f, current) as unknown as Metric);
  if (opts.processMetrics === true) {
    collectDefaultMetrics({ register: registry });
    // Gauges whose names end in _total break Prometheus's naming rules (`promtool check metrics`
    // flags them); the same counts stay as nodejs_active_handles, …_requests, …_resources.
    for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(name);
  }
  return {
    registry,
    scrape() {
      // The registry calls every get() before its first await: they all see this one status.
      scraping = status();
      try {
        return registry.metrics();
      } finally {
        scraping = undefined;
      }
    },
  };
}

/** A running exporter. */
export interface MetricsServer {
  /** Where it listens (the port the kernel chose for port 0). */
  readonly address: MetricsAddress;
  /** `http://host:port` */
  readonly url: string;
  /** Stop listening and drop open connections (a scraper's keep-alive). */
  close(): Promise<void>;
}

/** Serve /metrics, /healthz and /readyz on `address`; logs the bound address. */
export async function startMetricsServer(opts: { address: MetricsAddress; status: () => HostStatus; log: (line: string) => void; processMetrics?: boolean }): Promise<MetricsServer> {
  const metrics = metricsRegistry(opts.status, { processMetrics: opts.processMetrics ?? true });
  const server = createServer((req, res) => {
    handle(req, res, metrics, opts.status).catch((err: unknown) => {
      opts.log(`metrics: ${req.url ?? '?'} failed: ${messageOf(err)}`);
      if (!res.headersSent) answer(res, 500, `error: ${messageOf(err)}\n`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ValidationError('--metrics', `cannot listen on ${opts.address.host}:${opts.address.port}: ${messageOf(err)}`, { cause: err })));
    server.listen(opts.address.port, opts.address.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  const address = { host: opts.address.host, port: bound.port };
  const url = `http://${isIP(address.host) === 6 ? `[${address.host}]` : address.host}:${address.port}`;
  opts.log(`metrics on ${url}/metrics (health ${url}/healthz, readiness ${url}/readyz)`);
  return { address, url, close: () => closeServer(server) };
}

async function handle(req: IncomingMessage, res: ServerResponse, metrics: MetricsRegistry, status: () => HostStatus): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return answer(res, 405, 'only GET and HEAD\n');
  }
  switch (path) {
    case '/metrics': {
      const text = await metrics.scrape();
      return answer(res, 200, text, metrics.registry.contentType);
    }
    case '/healthz':
      return answer(res, 200, 'ok\n');
    case '/readyz': {
      const r = readinessOf(status());
      return r.ready ? answer(res, 200, 'ready\n') : answer(res, 503, `not ready: ${r.reasons.join('; ')}\n`);
    }
    default:
      return answer(res, 404, 'not found: /metrics, /healthz, /readyz\n');
  }
}

function answer(res: ServerResponse, code: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(code, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * A running daemon that also serves its metrics at `address`: the exporter
 * starts now (a port it cannot bind stops the daemon and throws, naming the
 * option) and closes first when the daemon stops.
 */
export async function withMetrics<D extends { status(): HostStatus; stop(reason: string): Promise<void> }>(
  daemon: D,
  address: MetricsAddress,
  log: (line: string) => void,
  opts: { processMetrics?: boolean } = {},
): Promise<D & { readonly metricsUrl: string }> {
  let server: MetricsServer;
  try {
    server = await startMetricsServer({ address, status: () => daemon.status(), log, ...opts });
  } catch (err) {
    await daemon.stop('the metrics exporter could not start').catch(() => undefined);
    throw err;
  }
  // The daemon's own properties as they are, getters included (its `sockets` follow reloads).
  const copy = Object.defineProperties({}, Object.getOwnPropertyDescriptors(daemon)) as D;
  return Object.assign(copy, {
    metricsUrl: server.url,
    stop: async (reason: string) => {
      await server.close();
      await daemon.stop(reason);
    },
  });
}
