/**
 * One line for each operators' event (`vfun audit`'s table): what was done and by whom.
 */
import type { AdminEvicted, AdminIdentity, ConfigChanges, ConfigListChanges, ConfigReloaded, DrainChanged, TenantDisabled, TenantEnabled } from '../events/catalogue.js';

/** The events of admin actions. */
export type AdminEvent = AdminEvicted | DrainChanged | TenantDisabled | TenantEnabled | ConfigReloaded;

/** Who did it: `uid 1000 (alice) pid 4242`, `SIGHUP`, or `NATS vfun.svc.h1.admin request 3fa2…`. */
export function describeIdentity(by: AdminIdentity): string {
  if (by.via === 'signal') return by.signal;
  if (by.via === 'nats') return `NATS ${by.subject} request ${by.nonce}`;
  return `uid ${by.uid}${by.user === null ? '' : ` (${by.user})`} pid ${by.pid}`;
}

function describeList(what: string, l: ConfigListChanges): string[] {
  return [
    ...(l.added.length > 0 ? [`${what} added ${l.added.join(',')}`] : []),
    ...(l.removed.length > 0 ? [`${what} removed ${l.removed.join(',')}`] : []),
    ...l.changed.map((c) => `${what} ${c.name} changed ${c.fields.map((f) => f.field).join(',')}`),
  ];
}

/** One line of what an operator did, for the audit table. */
export function describeAdminEvent(e: AdminEvent): string {
  const by = `by ${describeIdentity(e.data.by)}`;
  switch (e.type) {
    case 'admin.evicted':
      return `${e.data.instance} evicted ${by}`;
    case 'drain.changed':
      return `${e.data.tenant === null ? 'host' : `tenant ${e.data.tenant}`} ${e.data.draining ? 'draining' : 'admitting again'} ${by}`;
    case 'tenant.disabled':
      return `tenant ${e.data.tenant} disabled ${by}`;
    case 'tenant.enabled':
      return `tenant ${e.data.tenant} enabled ${by}`;
    case 'config.reloaded':
      return `configuration reloaded ${by}: ${describeChanges(e.data.changes)}`;
  }
}

/** What a reload changed, in one line: `tenant added t3; tenant t1 changed maxInstances`, or `nothing changed`. */
export function describeChanges(c: ConfigChanges): string {
  const parts = [
    ...describeList('tenant', c.tenants),
    ...describeList('function', c.functions),
    ...describeList('device', c.devices),
    ...(c.regionCapacity ? [`regionCapacity ${c.regionCapacity.from} -> ${c.regionCapacity.to}`] : []),
  ];
  return parts.length > 0 ? parts.join('; ') : 'nothing changed';
}

/** A message of several lines (a ConfigError's problems) as one log line. */
export function oneLine(message: string): string {
  return message.split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ');
}
