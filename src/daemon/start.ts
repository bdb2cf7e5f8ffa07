/**
 * vFunD as a long-running daemon, as `vfun up`, `vfun vm run` and integrators
 * start it: loads its configuration, folds the journal, lays out the region
 * tree, opens one control socket per tenant inside that tenant's tree, and
 * serves until stopped, when it releases everything and journals it. While its
 * journal cannot write (a full disk), it says so once when that starts and
 * once when it ends. Everything it journals is logged too (log-records.ts).
 * A start that fails gives back all it took, in reverse order: no pid file,
 * lock, socket, region or cgroup outlives it.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { toSnapshot, ConfigError, windowPlans, type ValidConfig } from '../actors/config.js';
import { TenantCgroups } from '../actors/cgroups.js';
import { FileRuntime, type HostRegion } from '../actors/runtime-files.js';
import { VFunD } from '../actors/vfund.js';
import { hostOfJournalUrl, openJournal } from '../events/adapters/open-journal.js';
import { OUTBOX_FILE } from '../events/adapters/pending.js';
import { randomIds, systemClock } from '../util/system.js';
import { loadConfigFile, resolveConfig } from './config.js';
import { openWitnesses, startCheckpointing, type CheckpointOptions } from './checkpointing.js';
import type { Checkpointer } from '../events/checkpointer.js';
import { LiveStatus } from './live-status.js';
import type { HostStatus } from './status.js';
import { withMetrics, type MetricsAddress } from './metrics.js';
import { joinFleet } from './fleet-join.js';
import { daemonLog, rec, type DaemonLog, type LineLog, type Logger } from './log.js';
import { availabilityRecord, jetStreamRecord, logRecordOf, type JetStreamStateView } from './log-records.js';
import type { Journal } from '../events/journal.js';
import type { AdminIdentity } from '../events/catalogue.js';
import { admits } from '../actors/state.js';
import { AdminServer } from '../admin/server.js';
import { adminSocketPath } from '../admin/protocol.js';
import { resolveAdminSettings } from '../admin/settings.js';
import { TenantSockets } from './reload.js';
import { Steering, type ReloadResult } from './steering.js';

export { controlSocketPath } from './socket-paths.js';

/** How to start vFunD: its configuration, journal URL, data root and where it logs. */
export interface DaemonOptions {
  /** A JSON configuration file, or `config` itself (already validated; loaded here if it was not). */
  readonly configPath?: string;
  readonly config?: ValidConfig;
  /** Driver modules added to the configuration's own (`vfun up --driver-module`): absolute paths, or packages resolved from the working directory. */
  readonly driverModules?: readonly string[];
  readonly journal: string;
  readonly root: string;
  /**
   * Where vFunD logs: a pino-like logger (every record, with its level and fields: src/daemon/log.ts), or a
   * line function (the older form: the messages vFunD always printed, one a line).
   */
  readonly log: Logger | LineLog;
  /** Besides a logger: the messages vFunD always printed, one a line (`vfun up` prints them on stdout). */
  readonly console?: LineLog;
  /** Checkpoints: every N events / T ms (defaults 1000, 60 s) and at stop; witnesses (docs/proofs.md). */
  readonly checkpoint?: CheckpointOptions;
  /** A snapshot of vFunD's state every this many events (default 10,000; 0: never); see VFunDOptions. */
  readonly snapshotEvery?: number;
  /** Serve Prometheus metrics, /healthz and /readyz there (src/daemon/metrics.ts); absent: no exporter. */
  readonly metrics?: MetricsAddress;
  /** A NATS URL to register in the fleet on (fleet-join.ts); without it, a JetStream journal's connection is used. */
  readonly fleet?: string;
}

/** A running vFunD: its tenants' control sockets and windows, and how to stop it. */
export interface Daemon {
  /** The control socket of each tenant (as of now: a reload may add or remove tenants). */
  readonly sockets: Readonly<Record<string, string>>;
  /** The admin socket (docs/operator-guide.md, "Steering a running host"). */
  readonly adminSocket: string;
  /** Re-read the configuration file (SIGHUP, `vfun admin reload`); ConfigError, changing nothing, when it is not valid. */
  reload(by: AdminIdentity): Promise<ReloadResult>;
  /** The ivshmem window of each VM tenant. */
  readonly windows: Readonly<Record<string, { readonly path: string; readonly bytes: number; readonly slots: number }>>;
  /** The journal's URL. */
  readonly journal: string;
  /** The metrics exporter's base URL (`http://host:port`, the bound port), when it was asked for. */
  readonly metricsUrl?: string;
  /** What vFunD says about itself now: instances, counters, slots, quotas, journal, uptime (src/daemon/status.ts). */
  status(): HostStatus;
  /** False while the journal cannot take events (stopping then waits for it). Absent: always available. */
  journalAvailable?(): boolean;
  /**
   * Stop: close the admin and control sockets, release every live instance and journal `vfund.stopped`
   * with `reason`, write the last checkpoint, remove the services and regions, close the journal.
   * Calling it again returns the same promise.
   */
  stop(reason: string): Promise<void>;
}

/** Start vFunD; ConfigError naming each bad field of its configuration. */
export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  if ((opts.config === undefined) === (opts.configPath === undefined)) throw new ConfigError(['give a configuration file or a configuration, not both or neither']);
  const out = daemonLog(opts.log, opts.console);
  const loadOptions = { driverModules: opts.driverModules ?? [] };
  const config =
    opts.config !== undefined
      ? await resolveConfig(loadOptions.driverModules.length === 0 ? opts.config : { ...opts.config, driverModules: [...(opts.config.driverModules ?? []), ...loadOptions.driverModules] })
      : await loadConfigFile(opts.configPath!, (l) => out.say(rec('warn', l, { config: opts.configPath })), loadOptions);
  const identities = new Map(config.tenants.flatMap((t) => (t.uid !== undefined && t.gid !== undefined ? [[t.id, { uid: t.uid, gid: t.gid }] as const] : [])));
  if (identities.size > 0 && process.getuid?.() !== 0) {
    const i = config.tenants.findIndex((t) => t.uid !== undefined);
    throw new ConfigError([`tenants.${i}.uid: giving tenants their own OS user needs vFunD to run as root (it runs as uid ${process.getuid?.()})`]);
  }
  const adminSettings = await resolveAdminSettings(config.admin);
  const witnesses = await openWitnesses(opts.checkpoint?.witnesses);
  // vFunD's name on every event: the journal URL's host= when it gives one, else this machine's.
  const host = (await hostOfJournalUrl(opts.journal)) ?? hostname();
  const windows = windowPlans(config);
  // What a failed start gives back, last taken first.
  const undo: Array<() => Promise<unknown>> = [];
  const giveBack = async (err: unknown): Promise<never> => {
    for (const step of undo.reverse()) await step().catch(() => undefined);
    throw err;
  };
  const limits = await TenantCgroups.create(config.tenants);
  undo.push(() => limits.remove());
  const runtime = await FileRuntime.create({ root: opts.root, identities, windows, limits, driverModules: config.driverModuleUrls }).catch(giveBack);
  undo.push(() => runtime.close());
  for (const line of limits.report()) out.say(rec(line.includes('NOT enforced') ? 'warn' : 'info', line, { event: 'limits' }));
  if (runtime.leftovers.length > 0) {
    out.say(rec('warn', `removed ${runtime.leftovers.length} region(s) left by a vFunD that did not stop: ${runtime.leftovers.join(', ')}`, { event: 'recovery.leftovers', regions: runtime.leftovers.length }));
  }
  // A journal held by another vFunD (another root, same journal) is refused here, naming its pid:
  // give this root back before saying so.
  const { journal, repaired } = await openJournal(opts.journal, { host, outbox: join(opts.root, ...OUTBOX_FILE) }).catch(giveBack);
  undo.push(() => journal.close());
  if (repaired) out.say(rec('warn', `journal: cut a torn last record (${repaired.truncatedBytes} bytes): ${repaired.reason}`, { event: 'journal.repaired', bytes: repaired.truncatedBytes }));
  // Said to the operator only: the tenants are told `journal-unavailable` and never see where the journal is.
  const unwatch = watchJournal(journal, out);
  undo.push(async () => unwatch());
  let vfund: VFunD<HostRegion>;
  let checkpointer: Checkpointer;
  let live: LiveStatus;
  let fleet: Awaited<ReturnType<typeof joinFleet>> = null;
  let tenantSockets: TenantSockets;
  let steering: Steering;
  let admin: AdminServer;
  try {
    const before = (await journal.head())?.seq ?? 0;
    vfund = await VFunD.start<HostRegion>({ journal, runtime, config: toSnapshot(config), host, clock: systemClock, ids: randomIds, ...(opts.snapshotEvery !== undefined && { snapshotEvery: opts.snapshotEvery }) });
    undo.push(() => vfund.stop('start-up failed'));
    await logStart(journal, before, vfund, out);
    const unsubscribe = vfund.subscribe((envelopes) => {
      for (const e of envelopes) {
        const r = logRecordOf(e);
        if (r !== null) out.record(r);
      }
    });
    undo.push(async () => unsubscribe());
    const setup = { root: opts.root, host, journal, clock: systemClock, log: out.lines('warn', { event: 'checkpoint' }), note: out.lines('info', { event: 'checkpoint.key' }), ...(opts.checkpoint !== undefined && { options: opts.checkpoint }) };
    checkpointer = await startCheckpointing(vfund, setup, witnesses);
    undo.push(() => checkpointer.stop());
    const started = vfund;
    live = new LiveStatus({
      vfund: started as VFunD<unknown>,
      journal,
      host,
      clock: systemClock,
      accepting: () => admits(started.snapshot),
      // The connection an instance was negotiated over names its guest (SO_PEERCRED).
      guestOf: (instance) => tenantSockets.guestOf(instance),
    });
    undo.push(async () => live.close());
    tenantSockets = new TenantSockets({ vfund, tree: runtime.tree, clock: systemClock });
    undo.push(() => tenantSockets.closeAll());
    for (const t of config.tenants) await tenantSockets.open(t);
    const status = live;
    let adminServer: AdminServer | null = null;
    steering = new Steering({
      vfund,
      ...(opts.configPath !== undefined && { configPath: opts.configPath }),
      loadOptions,
      config,
      admin: adminSettings,
      identities,
      sockets: tenantSockets,
      status: () => status.status(),
      log: out.lines('info', { event: 'admin' }),
      onAdminSettings: async () => adminServer?.applyAccess(),
    });
    admin = adminServer = await AdminServer.start({ path: adminSocketPath(runtime.tree.root), settings: () => steering.admin, handler: steering.handle, clock: systemClock, log: out.lines('warn', { event: 'admin' }) });
    const opened = admin;
    undo.push(() => opened.close());
    // Joining the fleet never fails a start (fleet-join.ts: a failure is logged, and vFunD serves without it).
    fleet = await joinFleet({ journal, host, root: runtime.tree.root, status: () => status.status(), admin: { gate: opened.gate, settings: () => steering.admin }, log: (line) => out.say(rec(line.startsWith('fleet: registered') ? 'info' : 'warn', line, { event: 'fleet' })), ...(opts.fleet !== undefined && { fleet: opts.fleet }) });
  } catch (err) {
    return giveBack(err);
  }
  const sockets = tenantSockets.paths();
  out.say(
    rec('info', `vFunD up on ${host} (pid ${process.pid}): ${config.tenants.length} tenants, ${config.functions.length} functions, journal ${journal.url}`, {
      event: 'vfund.up',
      host,
      tenants: config.tenants.length,
      functions: config.functions.length,
      journal: journal.url,
      root: runtime.tree.root,
    }),
  );
  for (const [t, p] of Object.entries(sockets)) {
    const w = runtime.windows.get(t);
    out.say(
      rec('info', `  tenant ${t}: control socket ${p}${w ? `, ivshmem window ${w.path} (${w.plan.windowBytes} bytes, ${w.plan.slotCount} slots)` : ''}`, {
        event: 'tenant.serving',
        tenant: t,
        socket: p,
        ...(w && { window: w.path, windowBytes: w.plan.windowBytes, slots: w.plan.slotCount }),
      }),
    );
  }
  out.say(
    rec('info', `  admin socket ${admin.path} (${adminSettings.group === null ? "root and vFunD's user" : `root, vFunD's user and group ${adminSettings.group.name}`}${adminSettings.secret === null ? ', peer check only' : ', signed requests'})`, {
      event: 'admin.serving',
      socket: admin.path,
    }),
  );
  let stopping: Promise<void> | null = null;
  const windowsOut = Object.fromEntries([...runtime.windows].map(([t, w]) => [t, { path: w.path, bytes: w.plan.windowBytes, slots: w.plan.slotCount }]));
  const adminServer = admin;
  const daemon: Daemon = {
    get sockets() {
      return tenantSockets.paths();
    },
    adminSocket: adminServer.path,
    reload: (by) => steering.reload(by),
    windows: windowsOut,
    journal: journal.url,
    status: () => live.status(),
    journalAvailable: () => journal.available?.() !== false,
    stop: (reason) =>
      (stopping ??= (async () => {
        try {
          await adminServer.close();
          await tenantSockets.closeAll();
          await vfund.stop(reason);
        } finally {
          // The last checkpoint covers vfund.stopped (a failed one is logged, never thrown).
          await checkpointer.stop();
          await fleet?.leave();
          live.close();
          // Whatever happened above, no service, region file or pid file outlives vFunD.
          await runtime.close();
          for (const problem of await limits.remove()) out.say(rec('warn', problem, { event: 'limits' }));
          unwatch();
          await journal.close();
        }
      })()),
  };
  return opts.metrics === undefined ? daemon : withMetrics(daemon, opts.metrics, out.lines('info', { event: 'metrics' }));
}

/** Log the journal's availability (an outage and its end; for JetStream: unreachable, the outbox, fenced); returns how to stop. */
function watchJournal(journal: Journal, out: DaemonLog): () => void {
  const offs: Array<() => void> = [];
  const off = journal.onAvailabilityChange?.((c) => out.say(availabilityRecord(journal.url, c)));
  if (off) offs.push(off);
  const js = journal as Journal & { onStateChange?(l: (s: JetStreamStateView) => void): () => void };
  if (typeof js.onStateChange === 'function') {
    let before: JetStreamStateView | null = null;
    offs.push(
      js.onStateChange((s) => {
        const r = jetStreamRecord(journal.url, before, s);
        before = s;
        if (r !== null) out.record(r);
      }),
    );
  }
  return () => {
    for (const o of offs.splice(0)) o();
  };
}

/** Log what vFunD journaled as it started (vfund.started, the instances a previous run left live, released: recovery). */
async function logStart(journal: Journal, before: number, vfund: VFunD<HostRegion>, out: DaemonLog): Promise<void> {
  const head = vfund.head()?.seq ?? 0;
  let recovered = 0;
  try {
    for await (const e of journal.read({ fromSeq: before + 1 })) {
      if (e.seq > head) break;
      if (e.type === 'instance.released' && e.data.reason === 'recovery') recovered++;
      const r = logRecordOf(e);
      if (r !== null) out.record(r);
    }
  } catch {
    // what the journal cannot read back now is in the journal all the same
  }
  if (recovered > 0) out.record(rec('warn', `recovery: released ${recovered} instance(s) a previous vFunD left live`, { event: 'recovery', instances: recovered }));
}
