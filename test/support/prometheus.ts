/**
 * A real Prometheus for the metrics tests: Debian's `prometheus` package
 * (which ships `prometheus` and `promtool`) fetched with `apt-get download`
 * into $VIRTFUN_PROMETHEUS_CACHE, else $TMPDIR/virtfun-prometheus-cache, and
 * never installed (its postinst would start a system service).
 *
 *   const bin = await prometheusBinaries();
 *   const prom = await startPrometheus(bin, { target: '127.0.0.1:9464' });   // scrapes every second
 *   await prom.query('sum(vfun_calls_total)');                              // the instant vector's samples
 *   await prom.stop();                                                      // SIGTERM, storage removed
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchDebianPackage } from '../../src/util/debian-package.js';
import { freePort } from './nats-server.js';

export interface PrometheusBinaries {
  readonly prometheus: string;
  readonly promtool: string;
  readonly version: string;
}

/** `prometheus` and `promtool` from the cache, fetched the first time. */
export async function prometheusBinaries(log: (line: string) => void = () => undefined): Promise<PrometheusBinaries> {
  const cacheDir = process.env.VIRTFUN_PROMETHEUS_CACHE ?? join(tmpdir(), 'virtfun-prometheus-cache');
  const pkg = await fetchDebianPackage({
    cacheDir,
    package: 'prometheus',
    required: ['usr/bin/prometheus', 'usr/bin/promtool'],
    context: { code: 'CONFIG', hint: 'the metrics test needs Debian\'s prometheus package (apt-get download prometheus)' },
    log,
  });
  return { prometheus: join(pkg.root, 'usr/bin/prometheus'), promtool: join(pkg.root, 'usr/bin/promtool'), version: pkg.version };
}

/** One sample of an instant vector from Prometheus's HTTP API. */
export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: number;
}

export interface RunningPrometheus {
  readonly url: string;
  /** An instant query (`/api/v1/query`); its vector's samples. */
  query(promql: string): Promise<PromSample[]>;
  /** The scrape targets' health as Prometheus reports it (`up`, `down`, `unknown`) and their last error. */
  targets(): Promise<{ health: string; lastError: string; lastScrape: string }[]>;
  /** What it printed (for a failing test's message). */
  output(): string;
  stop(): Promise<void>;
}

/** Start Prometheus on a free loopback port with a generated config scraping `target` every second; storage in a temp dir. */
export async function startPrometheus(bin: PrometheusBinaries, opts: { target: string; job?: string }): Promise<RunningPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'vfun-prometheus-'));
  const port = await freePort();
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    `  - job_name: ${opts.job ?? 'vfund'}`,
    '    static_configs:',
    `      - targets: ['${opts.target}']`,
    '',
  ].join('\n');
  await writeFile(join(dir, 'prometheus.yml'), config);
  let out = '';
  const child: ChildProcess = spawn(
    bin.prometheus,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    process.off('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}): ${out}`);
      const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`prometheus did not get ready on ${url} in 30 s: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const api = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${url}${path}`);
    const body = (await r.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? r.status}`);
    return body.data;
  };
  return {
    url,
    async query(promql) {
      const data = await api<{ resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }>(`/api/v1/query?query=${encodeURIComponent(promql)}`);
      return data.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
    },
    async targets() {
      const data = await api<{ activeTargets: { health: string; lastError: string; lastScrape: string }[] }>('/api/v1/targets');
      return data.activeTargets.map((t) => ({ health: t.health, lastError: t.lastError, lastScrape: t.lastScrape }));
    },
    output: () => out,
    stop,
  };
}

/** `promtool check metrics` over a scrape's text: its exit code and what it said (lint problems). */
export function promtoolCheckMetrics(bin: PrometheusBinaries, text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(bin.promtool, ['check', 'metrics'], (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? ((err as unknown as { code: number }).code) : 1;
      resolve({ code, output: `${stdout}${stderr}` });
    });
    child.stdin!.end(text);
  });
}
