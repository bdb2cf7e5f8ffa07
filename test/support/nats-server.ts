/**
 * Real nats-server processes for integration tests and the journal benchmark.
 *
 *   const server = await startNatsServer();        // -js -sd <tmp> -a 127.0.0.1 -p <free port>
 *   await server.kill();                           // SIGKILL, store kept
 *   await server.restart();                        // same port, same store
 *   await server.stop();                           // SIGTERM, store removed
 *
 *   const cluster = await startNatsCluster();      // 3 nodes, JetStream cluster, generated configs
 *
 *   const users = testUsers(['h1']);               // vfund-h1, auditor, admin with random passwords
 *   const secured = await startNatsServer({ users: users.list });   // authentication on
 *   JetStreamJournal.open({ servers: secured.url, ...users.vfund('h1') });
 *
 * A missing `nats-server` binary fails with the one command to run; these
 * tests never skip.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { natsServerConfig, type NatsUser } from '../../src/events/adapters/jetstream/server-config.js';

const INSTALL_HINT = 'sudo apt-get install nats-server';

/** Servers still running: killed if this process exits without stopping them (a crashed test run). */
const live = new Set<ChildProcess>();
let exitHook = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

/** The nats-server executable: $NATS_SERVER, else the first `nats-server` on PATH (plus /usr/sbin, /usr/bin). */
export function natsServerBinary(): string {
  const explicit = process.env['NATS_SERVER'];
  const candidates = explicit !== undefined && explicit !== '' ? [explicit] : [];
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/usr/local/bin'];
  for (const dir of dirs) if (dir !== '') candidates.push(join(dir, 'nats-server'));
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  throw new Error(`nats-server is not installed (looked on PATH, /usr/sbin, /usr/bin). Run: ${INSTALL_HINT}`);
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

/** Resolves once something on 127.0.0.1:port answers with a NATS `INFO` line. */
async function waitForInfo(port: number, deadline: number, exited: () => string | null): Promise<void> {
  for (;;) {
    const gone = exited();
    if (gone !== null) throw new Error(gone);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = tcpConnect({ host: '127.0.0.1', port });
      let buf = '';
      const done = (v: boolean): void => {
        sock.destroy();
        resolve(v);
      };
      sock.setTimeout(1000, () => done(false));
      sock.on('data', (d) => {
        buf += d.toString('latin1');
        if (buf.startsWith('INFO ')) done(true);
      });
      sock.on('error', () => done(false));
      sock.on('close', () => done(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nats-server on port ${port} did not accept connections in time`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface NatsServerOptions {
  /** Client port (default: a free one). */
  readonly port?: number;
  /** JetStream store directory (default: a fresh temp dir, removed by stop()). */
  readonly storeDir?: string;
  /** A config file to run with (`-c`); the helper still passes -p/-a and -js/-sd unless `configOnly`. */
  readonly configFile?: string;
  /** Only `-c configFile` (cluster nodes put everything in the file). */
  readonly configOnly?: boolean;
  /** Server name shown in logs and cluster info. */
  readonly name?: string;
  /** How long to wait for the server to accept connections (default 15 s). */
  readonly startTimeoutMs?: number;
  /**
   * Authentication on: these users with their permissions, from the generated
   * server config (server-config.ts); no anonymous access. Not with `configFile`.
   */
  readonly users?: readonly NatsUser[];
}

/** A user's connection options for the journal or `connect()`. */
export interface TestCredentials {
  readonly user: string;
  readonly pass: string;
}

/** Users for a secured test server, with random passwords. */
export interface TestUsers {
  readonly list: readonly NatsUser[];
  /** `vfund-<host>` (the host must be one of those given). */
  vfund(host: string): TestCredentials;
  readonly auditor: TestCredentials;
  readonly admin: TestCredentials;
}

/** vfund users for `hosts`, one `auditor` and one `admin`, each with a random password. */
export function testUsers(hosts: readonly string[]): TestUsers {
  const pw = (): string => randomBytes(12).toString('base64url');
  const byHost = new Map(hosts.map((h) => [h, { user: `vfund-${h}`, pass: pw() }]));
  const auditor = { user: 'auditor', pass: pw() };
  const admin = { user: 'admin', pass: pw() };
  const list: NatsUser[] = [
    ...[...byHost].map(([host, c]): NatsUser => ({ role: 'vfund', host, credential: { kind: 'password', password: c.pass } })),
    { role: 'auditor', name: auditor.user, credential: { kind: 'password', password: auditor.pass } },
    { role: 'admin', name: admin.user, credential: { kind: 'password', password: admin.pass } },
  ];
  return {
    list,
    vfund(host) {
      const c = byHost.get(host);
      if (c === undefined) throw new Error(`no vfund user for host ${host} (known: ${[...byHost.keys()].join(', ')})`);
      return c;
    },
    auditor,
    admin,
  };
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  readonly name: string;
  /** The process is running (started and not yet seen to exit). */
  readonly running: boolean;
  /** Last lines the server printed (for failure messages). */
  log(): string;
  /** SIGTERM, wait for exit, remove the temp store (when the helper made it). Idempotent. */
  stop(): Promise<void>;
  /** Sends `signal` (default SIGKILL) and waits for the process to exit. The store stays. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server again on the same port and store (kills it first if it still runs). */
  restart(): Promise<void>;
}

class NatsServerProcess implements NatsServer {
  readonly url: string;
  private child: ChildProcess | null = null;
  private exit: Promise<void> = Promise.resolve();
  private exitNote: string | null = null;
  private lines: string[] = [];
  private stopped = false;

  constructor(
    readonly port: number,
    readonly storeDir: string,
    readonly name: string,
    private readonly args: readonly string[],
    private readonly ownsStore: boolean,
    private readonly startTimeoutMs: number,
  ) {
    this.url = `nats://127.0.0.1:${port}`;
  }

  get running(): boolean {
    return this.child !== null && this.exitNote === null;
  }

  log(): string {
    return this.lines.join('\n');
  }

  async start(): Promise<void> {
    const bin = natsServerBinary();
    const child = spawn(bin, [...this.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    this.child = child;
    this.exitNote = null;
    const collect = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        this.lines.push(line);
        if (this.lines.length > 200) this.lines.shift();
      }
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.exit = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitNote = `nats-server ${this.name} exited (code ${code}, signal ${signal})`;
        resolve();
      });
      child.once('error', (err) => {
        this.exitNote = `nats-server ${this.name} could not start: ${err.message}`;
        resolve();
      });
    });
    try {
      await waitForInfo(this.port, Date.now() + this.startTimeoutMs, () => this.exitNote);
    } catch (err) {
      child.kill('SIGKILL');
      await this.exit;
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n--- server log ---\n${this.log()}`);
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child === null || this.exitNote !== null) return;
    child.kill(signal);
    await this.exit;
  }

  async restart(): Promise<void> {
    if (this.stopped) throw new Error('nats-server was stopped; start a new one');
    await this.kill('SIGKILL');
    await this.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const child = this.child;
    if (child !== null && this.exitNote === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await this.exit;
      clearTimeout(timer);
    }
    if (this.ownsStore) await rm(this.storeDir, { recursive: true, force: true });
  }
}

/** Starts one JetStream-enabled nats-server on a free loopback port with a temp store dir. */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  natsServerBinary(); // fail early with the install hint
  const port = opts.port ?? (await freePort());
  const ownsStore = opts.storeDir === undefined;
  const storeDir = opts.storeDir ?? (await mkdtemp(join(tmpdir(), 'vfun-nats-')));
  const name = opts.name ?? `vfun-test-${port}`;
  const args: string[] = [];
  if (opts.configFile !== undefined) args.push('-c', opts.configFile);
  if (opts.users !== undefined) {
    if (opts.configFile !== undefined) throw new Error('startNatsServer: give users or configFile, not both');
    const file = join(storeDir, 'auth.conf');
    await writeFile(file, natsServerConfig({ users: opts.users }), { mode: 0o600 });
    args.push('-c', file);
  }
  if (opts.configOnly !== true) args.push('-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port), '--server_name', name);
  const server = new NatsServerProcess(port, storeDir, name, args, ownsStore, opts.startTimeoutMs ?? 15_000);
  await server.start();
  return server;
}

export interface NatsCluster {
  /** Client URLs of every node, for `servers`. */
  readonly urls: string[];
  readonly nodes: readonly NatsServer[];
  /** Stops every node and removes the temp dir. */
  stop(): Promise<void>;
}

/**
 * Starts `size` (default 3) nats-server processes on loopback forming one
 * JetStream cluster (`server_name`, `cluster { listen, routes }`, from a
 * generated config file per node; with `users`, authentication on as in
 * startNatsServer). Resolves once every node accepts clients;
 * callers wait for JetStream itself (meta leader) with their client.
 */
export async function startNatsCluster(opts: { readonly size?: number; readonly name?: string; readonly users?: readonly NatsUser[] } = {}): Promise<NatsCluster> {
  natsServerBinary();
  const size = opts.size ?? 3;
  const clusterName = opts.name ?? 'vfun-test';
  const root = await mkdtemp(join(tmpdir(), 'vfun-nats-cluster-'));
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  const taken = new Set<number>();
  while (clientPorts.length + routePorts.length < size * 2) {
    const p = await freePort();
    if (taken.has(p)) continue;
    taken.add(p);
    if (clientPorts.length < size) clientPorts.push(p);
    else routePorts.push(p);
  }
  const nodes: NatsServer[] = [];
  const starting: Promise<NatsServer>[] = [];
  for (let i = 0; i < size; i++) {
    const name = `n${i + 1}`;
    const storeDir = join(root, name);
    const routes = routePorts.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`);
    const clusterBlock = [
      `cluster {`,
      `  name: ${clusterName}`,
      `  listen: "127.0.0.1:${routePorts[i]}"`,
      `  routes: [${routes.map((r) => JSON.stringify(r)).join(', ')}]`,
      `}`,
      '',
    ];
    const config =
      opts.users === undefined
        ? [`server_name: ${name}`, `listen: "127.0.0.1:${clientPorts[i]}"`, `jetstream {`, `  store_dir: ${JSON.stringify(storeDir)}`, `}`, ...clusterBlock].join('\n')
        : natsServerConfig({ serverName: name, listen: `127.0.0.1:${clientPorts[i]}`, storeDir, users: opts.users }) + clusterBlock.join('\n');
    const file = join(root, `${name}.conf`);
    await writeFile(file, config);
    starting.push(
      startNatsServer({ port: clientPorts[i] as number, storeDir, configFile: file, configOnly: true, name }),
    );
  }
  const settled = await Promise.allSettled(starting);
  for (const s of settled) if (s.status === 'fulfilled') nodes.push(s.value);
  const failed = settled.find((s) => s.status === 'rejected');
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
    await rm(root, { recursive: true, force: true });
  };
  if (failed !== undefined) {
    await stop();
    throw (failed as PromiseRejectedResult).reason;
  }
  return { urls: nodes.map((n) => n.url), nodes, stop };
}

/**
 * Resolves once JetStream on `urls` can place a stream of `replicas` (on a
 * cluster: the meta leader is elected and every peer has reported to it;
 * before that, "no suitable peers for placement"). `credentials`: a user
 * that may create and delete streams (an admin) when authentication is on.
 */
export async function waitForJetStream(urls: readonly string[], credentials?: TestCredentials, replicas = 3, timeoutMs = 30_000): Promise<void> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: [...urls], ...credentials });
  const name = `ready-${randomBytes(4).toString('hex')}`;
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: 2000 });
        await jsm.streams.add({ name, subjects: [`${name}.>`], num_replicas: replicas });
        await jsm.streams.delete(name);
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    await nc.close();
  }
}
