/**
 * vFunD as a long-running daemon, as `vfun up`, `vfun vm run` and integrators
 * start it: loads its configuration, folds the journal, lays out the region
 * tree, opens one control socket per tenant inside that tenant's tree, and
 * serves until stopped, when it releases everything and journals it. While its
 * journal cannot write (a full disk), it says so once when that starts and
 * once when it ends.
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
  readonly journal: string;
  readonly root: string;
  readonly log: (line: string) => void;
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
  stop(reason: string): Promise<void>;
}

/** Start vFunD; ConfigError naming each bad field of its configuration. */
export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  if ((opts.config === undefined) === (opts.configPath === undefined)) throw new ConfigError(['give a configuration file or a configuration, not both or neither']);
  const config = opts.config !== undefined ? await resolveConfig(opts.config) : await loadConfigFile(opts.configPath!, opts.log);
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
  const limits = await TenantCgroups.create(config.tenants);
  const runtime = await FileRuntime.create({ root: opts.root, identities, windows, limits }).catch(async (err: unknown) => {
    await limits.remove();
    throw err;
  });
  for (const line of limits.report()) opts.log(line);
  if (runtime.leftovers.length > 0) opts.log(`removed ${runtime.leftovers.length} region(s) left by a vFunD that did not stop: ${runtime.leftovers.join(', ')}`);
  // A journal held by another vFunD (another root, same journal) is refused here, naming its pid:
  // give this root back before saying so.
  const { journal, repaired } = await openJournal(opts.journal, { host, outbox: join(opts.root, ...OUTBOX_FILE) }).catch(async (err: unknown) => {
    await runtime.close().catch(() => undefined);
    throw err;
  });
  if (repaired) opts.log(`journal: cut a torn last record (${repaired.truncatedBytes} bytes): ${repaired.reason}`);
  // Said to the operator only: the tenants are told `journal-unavailable` and never see where the journal is.
  journal.onAvailabilityChange?.((c) =>
    opts.log(
      c.available
        ? `journal ${journal.url}: writes again after ${((c.outageMs ?? 0) / 1000).toFixed(1)} s; what waited is written, negotiations are admitted again`
        : `journal ${journal.url}: cannot write (${c.reason ?? 'unknown'}): new negotiations are refused (journal-unavailable), active instances keep working; ${c.waiting} event(s) wait and are written in order once it can (retrying)`,
    ),
  );
  let vfund: VFunD<HostRegion>;
  let checkpointer: Checkpointer;
  try {
    vfund = await VFunD.start<HostRegion>({ journal, runtime, config: toSnapshot(config), host, clock: systemClock, ids: randomIds, ...(opts.snapshotEvery !== undefined && { snapshotEvery: opts.snapshotEvery }) });
    const setup = { root: opts.root, host, journal, clock: systemClock, log: opts.log, ...(opts.checkpoint !== undefined && { options: opts.checkpoint }) };
    checkpointer = await startCheckpointing(vfund, setup, witnesses);
  } catch (err) {
    await journal.close().catch(() => undefined);
    await runtime.close().catch(() => undefined);
    await limits.remove();
    throw err;
  }
  const live = new LiveStatus({
    vfund: vfund as VFunD<unknown>,
    journal,
    host,
    clock: systemClock,
    disabledTenants: () => new Set(vfund.snapshot.admin.disabledTenants),
    accepting: () => admits(vfund.snapshot),
  });
  const tenantSockets = new TenantSockets({ vfund, tree: runtime.tree, clock: systemClock });
  for (const t of config.tenants) await tenantSockets.open(t);
  const sockets = tenantSockets.paths();
  let admin: AdminServer | null = null;
  const steering = new Steering({
    vfund,
    ...(opts.configPath !== undefined && { configPath: opts.configPath }),
    config,
    admin: adminSettings,
    identities,
    sockets: tenantSockets,
    status: () => live.status(),
    log: opts.log,
    onAdminSettings: async () => admin?.applyAccess(),
  });
  admin = await AdminServer.start({ path: adminSocketPath(runtime.tree.root), settings: () => steering.admin, handler: steering.handle, clock: systemClock, log: opts.log });
  const fleet = await joinFleet({ journal, host, root: runtime.tree.root, status: () => live.status(), log: opts.log, ...(opts.fleet !== undefined && { fleet: opts.fleet }) });
  opts.log(`vFunD up on ${host} (pid ${process.pid}): ${config.tenants.length} tenants, ${config.functions.length} functions, journal ${journal.url}`);
  for (const [t, p] of Object.entries(sockets)) {
    const w = runtime.windows.get(t);
    opts.log(`  tenant ${t}: control socket ${p}${w ? `, ivshmem window ${w.path} (${w.plan.windowBytes} bytes, ${w.plan.slotCount} slots)` : ''}`);
  }
  opts.log(`  admin socket ${admin.path} (${adminSettings.group === null ? "root and vFunD's user" : `root, vFunD's user and group ${adminSettings.group.name}`}${adminSettings.secret === null ? ', peer check only' : ', signed requests'})`);
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
          for (const problem of await limits.remove()) opts.log(problem);
          await journal.close();
        }
      })()),
  };
  return opts.metrics === undefined ? daemon : withMetrics(daemon, opts.metrics, opts.log);
}
