/**
 * Steering a running vFunD (docs/operator-guide.md, "Steering a running
 * host"): the admin socket's operations (status, evict, drain, tenant
 * disable/enable, reload) and the reload itself, which SIGHUP also asks for.
 * Each action is decided and journaled by vFunD with who asked
 * (src/actors/admin.ts); here it is carried out on the daemon's side too: a
 * reload opens the control sockets of added tenants, closes those of removed
 * ones, and gives changed tenants their new secret and OS identity.
 */
import { toSnapshot, type LoadedConfig } from '../actors/config.js';
import type { HostRegion } from '../actors/runtime-files.js';
import type { VFunD } from '../actors/vfund.js';
import type { AdminIdentity, ConfigChanges, VFunEvent } from '../events/catalogue.js';
import type { TenantIdentity } from '../dataplane/region-tree.js';
import { VirtFunError, messageOf } from '../errors.js';
import { resolveAdminSettings, type AdminSettings } from '../admin/settings.js';
import type { AdminHandler, AdminOutcome } from '../admin/server.js';
import type { AdminArgs, AdminOp } from '../admin/protocol.js';
import { oneLine } from '../admin/describe.js';
import { loadConfigFile, type LoadOptions } from './config.js';
import { checkReloadable, type TenantSockets } from './reload.js';
import type { HostStatus } from './status.js';

/** What a reload did: the changes journaled in `config.reloaded` and the instances it released. */
export interface ReloadResult {
  readonly changes: ConfigChanges;
  readonly released: readonly string[];
}

export interface SteeringOptions {
  readonly vfund: VFunD<HostRegion>;
  /** The configuration file a reload re-reads (absent: vFunD was given a configuration, not a file). */
  readonly configPath?: string;
  /** How the file is loaded again (the driver modules `vfun up --driver-module` adds to it). */
  readonly loadOptions?: LoadOptions;
  readonly config: LoadedConfig;
  readonly admin: AdminSettings;
  /** The tenants' OS identities, as the region tree reads them (a reload updates them in place). */
  readonly identities: Map<string, TenantIdentity>;
  readonly sockets: TenantSockets;
  readonly status: () => HostStatus;
  readonly log: (line: string) => void;
  /** Called after a reload changed the admin settings (the socket's group and mode follow them). */
  readonly onAdminSettings?: (s: AdminSettings) => Promise<void>;
}

const releasedOf = (events: readonly VFunEvent[]): string[] => events.flatMap((e) => (e.type === 'instance.released' ? [e.data.instance] : []));

export class Steering {
  private config: LoadedConfig;
  private adminSettings: AdminSettings;
  private reloading: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: SteeringOptions) {
    this.config = opts.config;
    this.adminSettings = opts.admin;
  }

  /** The admin socket's group and secret now. */
  get admin(): AdminSettings {
    return this.adminSettings;
  }

  /**
   * Re-read the configuration file and run with it: journaled as `config.reloaded` with what
   * changed, instances of removed tenants, functions or kinds released. A file that is not a valid
   * configuration, or that changes what needs a restart, changes nothing: ConfigError. One reload at a time.
   */
  reload(by: AdminIdentity): Promise<ReloadResult> {
    const next = this.reloading.then(() => this.reloadNow(by));
    this.reloading = next.catch(() => undefined);
    return next;
  }

  private async reloadNow(by: AdminIdentity): Promise<ReloadResult> {
    const path = this.opts.configPath;
    if (path === undefined) throw new VirtFunError('CONFIG', 'this vFunD was given its configuration, not a file: there is nothing to re-read');
    const next = await loadConfigFile(path, this.opts.log, this.opts.loadOptions);
    checkReloadable(this.config, next, process.getuid?.() === 0);
    const admin = await resolveAdminSettings(next.admin);
    const events = await this.opts.vfund.administer({ type: 'reload', config: toSnapshot(next), by });
    const reloaded = events.find((e) => e.type === 'config.reloaded');
    if (reloaded === undefined) throw new VirtFunError('CONFIG', 'vFunD is not running: nothing was reloaded');
    await this.apply(this.config, next);
    this.config = next;
    if (JSON.stringify(admin) !== JSON.stringify(this.adminSettings)) {
      this.adminSettings = admin;
      await this.opts.onAdminSettings?.(admin);
    }
    const result = { changes: reloaded.data.changes, released: releasedOf(events) };
    this.opts.log(`configuration reloaded from ${path}: ${next.tenants.length} tenants, ${next.functions.length} functions${result.released.length > 0 ? `; released ${result.released.join(', ')}` : ''}`);
    return result;
  }

  /** The daemon's side of a reload: identities, sockets, secrets. */
  private async apply(before: LoadedConfig, after: LoadedConfig): Promise<void> {
    const { identities, sockets } = this.opts;
    for (const t of before.tenants) {
      if (!after.tenants.some((n) => n.id === t.id)) {
        await sockets.close(t.id);
        identities.delete(t.id);
      }
    }
    for (const t of after.tenants) {
      const old = before.tenants.find((o) => o.id === t.id);
      const identityChanged = old?.uid !== t.uid || old?.gid !== t.gid;
      if (t.uid !== undefined && t.gid !== undefined) identities.set(t.id, { uid: t.uid, gid: t.gid });
      else identities.delete(t.id);
      if (old === undefined) {
        await sockets.open(t);
        continue;
      }
      if (old.secret !== t.secret) sockets.setSecret(t.id, t.secret);
      if (identityChanged) await sockets.handOver(t.id);
    }
  }

  /** The admin socket's operations. */
  readonly handle: AdminHandler = async (op: AdminOp, args: AdminArgs, by): Promise<AdminOutcome> => {
    const { vfund } = this.opts;
    const tenantKnown = (t: string) => vfund.snapshot.config?.tenants.some((x) => x.id === t) === true;
    const needTenant = (): AdminOutcome | null =>
      args.tenant === undefined ? { ok: false, code: 'malformed', detail: `${op} needs a tenant` } : tenantKnown(args.tenant) ? null : { ok: false, code: 'unknown-tenant', detail: `no tenant '${args.tenant}' in the configuration` };
    const done = (events: readonly VFunEvent[], unchanged: string): AdminOutcome =>
      events.length === 0 ? { ok: false, code: 'unchanged', detail: unchanged } : { ok: true, result: { events: events.map((e) => e.type), released: releasedOf(events) } };
    switch (op) {
      case 'status':
        return { ok: true, result: this.opts.status() };
      case 'evict': {
        if (args.instance === undefined) return { ok: false, code: 'malformed', detail: 'evict needs an instance' };
        const events = await vfund.administer({ type: 'evict', instance: args.instance, by });
        return events.length === 0 ? { ok: false, code: 'unknown-instance', detail: `no live instance '${args.instance}'` } : done(events, '');
      }
      case 'drain':
      case 'undrain': {
        const bad = args.tenant === undefined ? null : needTenant();
        if (bad) return bad;
        const tenant = args.tenant ?? null;
        const events = await vfund.administer({ type: 'drain', tenant, draining: op === 'drain', by });
        return done(events, `${tenant === null ? 'the host' : `tenant '${tenant}'`} is ${op === 'drain' ? 'already draining' : 'not draining'}`);
      }
      case 'tenant-disable':
      case 'tenant-enable': {
        const bad = needTenant();
        if (bad) return bad;
        const disable = op === 'tenant-disable';
        const events = await vfund.administer({ type: disable ? 'disable-tenant' : 'enable-tenant', tenant: args.tenant!, by });
        return done(events, `tenant '${args.tenant}' is ${disable ? 'already disabled' : 'not disabled'}`);
      }
      case 'reload':
        try {
          return { ok: true, result: await this.reload(by) };
        } catch (err) {
          const code = err instanceof VirtFunError && err.code === 'CONFIG' ? 'config' : 'failed';
          this.opts.log(`configuration reload refused, nothing changed: ${oneLine(messageOf(err))}`);
          return { ok: false, code, detail: messageOf(err) };
        }
    }
  };
}
