/**
 * What operators decide about a running vFunD (docs/operator-guide.md,
 * "Steering a running host"): evict an instance, drain the host or a tenant,
 * disable or enable a tenant, reload the configuration. Pure, like decide.ts
 * (which hands these commands here) and evolve.ts (which folds the events with
 * `evolveAdmin`): replay recomputes every one of these decisions.
 */
import type { Draft } from 'immer';
import type {
  AdminIdentity,
  ComputationStats,
  ConfigChanges,
  ConfigFieldChange,
  ConfigListChanges,
  InstanceReleased,
  ReleaseReason,
  VFunDConfigSnapshot,
  VFunEvent,
} from '../events/catalogue.js';
import { liveInstances, type VFunDState } from './state.js';

/** Counters of the instances an admin command releases, collected by stopping their services first (null: unknown). */
export type ReleasedStats = Readonly<Record<string, ComputationStats | null>>;

/** The commands of operators (src/admin/): each carries who asked. */
export type AdminCommand =
  | { readonly type: 'evict'; readonly id: string; readonly instance: string; readonly by: AdminIdentity; readonly stats: ComputationStats | null }
  | { readonly type: 'drain'; readonly id: string; readonly tenant: string | null; readonly draining: boolean; readonly by: AdminIdentity }
  | { readonly type: 'disable-tenant'; readonly id: string; readonly tenant: string; readonly by: AdminIdentity; readonly stats: ReleasedStats }
  | { readonly type: 'enable-tenant'; readonly id: string; readonly tenant: string; readonly by: AdminIdentity }
  | { readonly type: 'reload'; readonly id: string; readonly config: VFunDConfigSnapshot; readonly by: AdminIdentity; readonly stats: ReleasedStats };

export type AdminCommandType = AdminCommand['type'];

/** The admin commands' types: decide hands these to decideAdmin. */
export const ADMIN_COMMANDS: ReadonlySet<string> = new Set<AdminCommandType>(['evict', 'drain', 'disable-tenant', 'enable-tenant', 'reload']);

export function isAdminCommand(c: { readonly type: string }): c is AdminCommand {
  return ADMIN_COMMANDS.has(c.type);
}

const released = (instance: string, reason: ReleaseReason, stats: ReleasedStats): InstanceReleased => ({
  type: 'instance.released',
  data: { instance, reason, stats: Object.hasOwn(stats, instance) ? stats[instance]! : null },
});

const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();

const knownTenant = (state: VFunDState, tenant: string): boolean => state.config?.tenants.some((t) => t.id === tenant) === true;

/**
 * The live instances an admin command releases (vFunD stops their services
 * first, to journal their counters): an evicted instance, a disabled tenant's,
 * those of a tenant, function or kind a reload removes.
 */
export function releasedBy(command: Omit<AdminCommand, 'id' | 'by' | 'stats'>, state: VFunDState): string[] {
  switch (command.type) {
    case 'evict': {
      const c = command as Extract<AdminCommand, { type: 'evict' }>;
      return Object.hasOwn(state.instances, c.instance) ? [c.instance] : [];
    }
    case 'disable-tenant': {
      const c = command as Extract<AdminCommand, { type: 'disable-tenant' }>;
      if (!knownTenant(state, c.tenant) || state.admin.disabledTenants.includes(c.tenant)) return [];
      return liveInstances(state).filter((i) => i.tenant === c.tenant).map((i) => i.id);
    }
    case 'reload': {
      const { config } = command as Extract<AdminCommand, { type: 'reload' }>;
      return liveInstances(state)
        .filter((i) => !config.tenants.some((t) => t.id === i.tenant) || config.functions.find((f) => f.name === i.fn)?.kinds[i.kind] === undefined)
        .map((i) => i.id);
    }
    default:
      return [];
  }
}

/**
 * The events of an admin command; [] when it changes nothing (an instance
 * that is not live, an unknown tenant, a drain already on): vFunD then
 * answers why and journals nothing.
 */
export function decideAdmin(command: AdminCommand, state: VFunDState): VFunEvent[] {
  if (!state.running || state.config === null) return [];
  const { by } = command;
  switch (command.type) {
    case 'evict': {
      if (!Object.hasOwn(state.instances, command.instance)) return [];
      return [{ type: 'admin.evicted', data: { instance: command.instance, by } }, released(command.instance, 'evicted', { [command.instance]: command.stats })];
    }
    case 'drain': {
      const { tenant, draining } = command;
      if (tenant !== null && !knownTenant(state, tenant)) return [];
      const a = state.admin;
      const changes = tenant === null ? a.draining !== draining || (!draining && a.drainingTenants.length > 0) : a.drainingTenants.includes(tenant) !== draining;
      return changes ? [{ type: 'drain.changed', data: { tenant, draining, by } }] : [];
    }
    case 'disable-tenant': {
      if (!knownTenant(state, command.tenant) || state.admin.disabledTenants.includes(command.tenant)) return [];
      return [{ type: 'tenant.disabled', data: { tenant: command.tenant, by } }, ...releasedBy(command, state).map((i) => released(i, 'disabled', command.stats))];
    }
    case 'enable-tenant':
      return state.admin.disabledTenants.includes(command.tenant) ? [{ type: 'tenant.enabled', data: { tenant: command.tenant, by } }] : [];
    case 'reload': {
      const changes = configChanges(state.config, command.config);
      return [
        { type: 'config.reloaded', data: { config: command.config, changes, by } },
        ...releasedBy(command, state).map((i) => released(i, 'reconfigured', command.stats)),
      ];
    }
  }
}

/** Fold an admin event into vFunD's state (an immer draft); false for events that are not the operators'. */
export function evolveAdmin(draft: Draft<VFunDState>, event: VFunEvent): boolean {
  const a = draft.admin;
  switch (event.type) {
    case 'drain.changed': {
      const { tenant, draining } = event.data;
      if (tenant === null) {
        a.draining = draining;
        if (!draining) a.drainingTenants = [];
      } else {
        a.drainingTenants = sorted(draining ? [...a.drainingTenants, tenant] : a.drainingTenants.filter((t) => t !== tenant));
      }
      return true;
    }
    case 'tenant.disabled':
      a.disabledTenants = sorted([...a.disabledTenants, event.data.tenant]);
      return true;
    case 'tenant.enabled':
      a.disabledTenants = a.disabledTenants.filter((t) => t !== event.data.tenant);
      return true;
    case 'config.reloaded':
      draft.config = event.data.config as Draft<VFunDConfigSnapshot>;
      return true;
    case 'admin.evicted':
      return true; // its instance.released ends the instance
    default:
      return false;
  }
}

/** Every leaf of a JSON value by dotted path (arrays as wholes). */
function leaves(value: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) leaves(v, prefix === '' ? k : `${prefix}.${k}`, out);
  } else {
    out.set(prefix, value);
  }
  return out;
}

/** The fields of `after` that differ from `before`, by dotted path (null where one side has none), in path order. */
export function fieldChanges(before: object, after: object): ConfigFieldChange[] {
  const b = leaves(before);
  const a = leaves(after);
  const fields = [...new Set([...b.keys(), ...a.keys()])].sort();
  return fields.flatMap((field) => {
    const from = b.get(field) ?? null;
    const to = a.get(field) ?? null;
    return JSON.stringify(from) === JSON.stringify(to) ? [] : [{ field, from, to }];
  });
}

function listChanges<T extends object>(before: readonly T[], after: readonly T[], key: (t: T) => string): ConfigListChanges {
  const b = new Map(before.map((t) => [key(t), t]));
  const a = new Map(after.map((t) => [key(t), t]));
  const changed = [...a].flatMap(([name, t]) => {
    const old = b.get(name);
    const fields = old === undefined ? [] : fieldChanges(old, t);
    return fields.length > 0 ? [{ name, fields }] : [];
  });
  return { added: sorted([...a.keys()].filter((n) => !b.has(n))), removed: sorted([...b.keys()].filter((n) => !a.has(n))), changed: changed.sort((x, y) => (x.name < y.name ? -1 : 1)) };
}

/** What changed from one journaled configuration to the next: tenants, functions, devices, region capacity. Credentials appear as their digests only (a snapshot holds nothing else). */
export function configChanges(before: VFunDConfigSnapshot, after: VFunDConfigSnapshot): ConfigChanges {
  return {
    tenants: listChanges(before.tenants, after.tenants, (t) => t.id),
    functions: listChanges(before.functions, after.functions, (f) => f.name),
    devices: listChanges(before.devices ?? [], after.devices ?? [], (d) => d.name),
    ...(before.regionCapacity !== after.regionCapacity && { regionCapacity: { from: before.regionCapacity, to: after.regionCapacity } }),
  };
}

/** True when a reload changed nothing. */
export function noChanges(c: ConfigChanges): boolean {
  const empty = (l: ConfigListChanges) => l.added.length === 0 && l.removed.length === 0 && l.changed.length === 0;
  return empty(c.tenants) && empty(c.functions) && empty(c.devices) && c.regionCapacity === undefined;
}
