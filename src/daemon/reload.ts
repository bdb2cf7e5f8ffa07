/**
 * What a configuration reload may change in a running vFunD, and the tenants'
 * control sockets, which a reload opens and closes. Tenants and functions may
 * be added, removed or changed (secret, quota, OS identity; kinds, slots,
 * drivers; devices); what shapes memory or processes set up at start (a
 * tenant's ivshmem window, its cgroup limits, its refusal limits, the region
 * capacity of VM tenants' windows) needs a restart, and a reload that changes
 * it is refused as a whole, changing nothing.
 */
import { ConfigError, type LoadedConfig, type ValidConfig } from '../actors/config.js';
import type { HostRegion } from '../actors/runtime-files.js';
import type { VFunD } from '../actors/vfund.js';
import { ControlServer } from '../control/server.js';
import type { RegionTree } from '../dataplane/region-tree.js';
import type { Clock } from '../events/envelope.js';
import { controlSocketPath } from './socket-paths.js';

type Tenant = LoadedConfig['tenants'][number];

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** Why `next` cannot be reloaded over `current` without a restart ([]: it can), one line per field, as a ConfigError says them. */
export function restartNeeded(current: ValidConfig, next: ValidConfig, runsAsRoot: boolean): string[] {
  const problems: string[] = [];
  next.tenants.forEach((t, i) => {
    const before = current.tenants.find((c) => c.id === t.id);
    for (const field of ['ivshmem', 'limits', 'refusals'] as const) {
      const now = t[field];
      if (before === undefined ? field !== 'refusals' && now !== undefined : !same(before[field], now)) {
        problems.push(`tenants.${i}.${field}: ${before === undefined ? `a tenant added by a reload cannot have ${field}` : `changing ${field} of tenant '${t.id}'`}: it is set up when vFunD starts; restart vFunD for it`);
      }
    }
    if (t.uid !== undefined && !runsAsRoot) problems.push(`tenants.${i}.uid: giving tenants their own OS user needs vFunD to run as root`);
  });
  if (!same(current.driverModules ?? [], next.driverModules ?? [])) {
    problems.push(`driverModules: the driver modules are loaded and journaled when vFunD starts; restart vFunD to change them`);
  } else if ('driverModuleSnapshots' in current && 'driverModuleSnapshots' in next && !same(current.driverModuleSnapshots, next.driverModuleSnapshots)) {
    problems.push(`driverModules: a driver module changed since vFunD started (its file or its drivers); restart vFunD to load it`);
  }
  if (current.regionCapacity !== next.regionCapacity && current.tenants.some((t) => t.ivshmem !== undefined)) {
    problems.push(`regionCapacity: the ivshmem windows of VM tenants are laid out for ${current.regionCapacity}; restart vFunD to change it`);
  }
  return problems;
}

/** Refuse a reload that needs a restart (ConfigError). */
export function checkReloadable(current: ValidConfig, next: ValidConfig, runsAsRoot: boolean): void {
  const problems = restartNeeded(current, next, runsAsRoot);
  if (problems.length > 0) throw new ConfigError(problems);
}

/** The control socket of each configured tenant, opened at start and by reloads, closed when a reload removes the tenant. */
export class TenantSockets {
  private readonly servers = new Map<string, ControlServer>();
  constructor(private readonly deps: { readonly vfund: VFunD<HostRegion>; readonly tree: RegionTree; readonly clock: Clock }) {}

  /** Open the control socket of `t` in its branch of the tree (its path). */
  async open(t: Tenant): Promise<string> {
    const { tree, vfund, clock } = this.deps;
    const socketPath = controlSocketPath(tree.root, t.id);
    await tree.prepareTenant(t.id);
    const server = await ControlServer.start({ vfund, tenant: { id: t.id, secret: t.secret }, socketPath, clock, refusals: t.refusals, onSocket: (p) => tree.handOver(t.id, p) });
    this.servers.set(t.id, server);
    return socketPath;
  }

  /** The tenant's secret changed: its socket checks requests against the new one. */
  setSecret(tenant: string, secret: string): void {
    this.servers.get(tenant)?.setSecret(secret);
  }

  /** The socket's owner and mode again (its OS identity changed). */
  async handOver(tenant: string): Promise<void> {
    const s = this.servers.get(tenant);
    if (s !== undefined) await this.deps.tree.handOver(tenant, s.path);
  }

  /** Close a tenant's socket (its instances are already released). */
  async close(tenant: string): Promise<void> {
    const s = this.servers.get(tenant);
    this.servers.delete(tenant);
    await s?.close();
  }

  async closeAll(): Promise<void> {
    for (const id of [...this.servers.keys()]) await this.close(id);
  }

  /** The guest process holding `instance`: the peer of the connection it was negotiated over, on whichever tenant's socket (null when none knows). */
  guestOf(instance: string): { readonly pid: number; readonly uid: number } | null {
    for (const s of this.servers.values()) {
      const g = s.guestOf(instance);
      if (g !== null) return g;
    }
    return null;
  }

  /** Each open tenant's socket path. */
  paths(): Record<string, string> {
    return Object.fromEntries([...this.servers].map(([id, s]) => [id, s.path]));
  }
}
