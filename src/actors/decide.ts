/**
 * decide(command, state) -> events. Pure: no clock, no randomness, no I/O.
 * Every answer vFunD gives a guest is one of the events returned here, and
 * replaying the journal through evolve() rebuilds the state it was decided on.
 */
import { sha256Hex } from '../events/canonical.js';
import type {
  ClaimedNames,
  ComputationStats,
  InstanceReleased,
  NackReason,
  PeerProcess,
  ReleaseNacked,
  TenantConfig,
  VFunEvent,
} from '../events/catalogue.js';
import type { Credentials, VFunDCommand } from './commands.js';
import { checkName, NAME_MAX } from '../util/names.js';
import { lifecycleNext } from '../machines/lifecycle.js';
import { lifecycleEventsOf } from './evolve.js';
import { admits, deviceRefusesTenant, deviceSlotsInUse, deviceUnavailable, liveInstances, slotsInUse, stepOfInstance, tenantLoad, type InstanceState, type VFunDState } from './state.js';
import { snapshotOf } from './snapshot.js';
import { decideAdmin } from './admin.js';

export { checkName, NAME_MAX, NAME_PATTERN } from '../util/names.js';
export const CREDENTIAL_MAX = 1024;

export const NO_STATS: ComputationStats = { calls: 0, errors: {} };

export interface Nack {
  readonly reason: NackReason;
  readonly detail: string;
}

/** SHA-256 hex of a tenant secret, as journaled in vfund.started. */
export function credentialDigest(secret: string): string {
  return sha256Hex(secret);
}

/** Keep a refused, possibly hostile value short enough to journal. */
export function clip(value: unknown): string {
  const s = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return s.length > NAME_MAX ? `${s.slice(0, NAME_MAX)}…` : s;
}

/** The names a refused request claimed, each clipped; undefined when it claimed none. */
function claimedOf(c: ClaimedNames | undefined): ClaimedNames | undefined {
  if (c === undefined) return undefined;
  const out: { app?: string; fn?: string; instance?: string } = {};
  if (c.app !== undefined) out.app = clip(c.app);
  if (c.fn !== undefined) out.fn = clip(c.fn);
  if (c.instance !== undefined) out.instance = clip(c.instance);
  return Object.keys(out).length === 0 ? undefined : out;
}

/** A peer's pid and uid alone (a PeerCred also has its gid). */
function peerOf(p: PeerProcess | undefined): PeerProcess | undefined {
  return p === undefined ? undefined : { pid: p.pid, uid: p.uid };
}

/**
 * How a presented secret is checked against a tenant's journaled digest. Live
 * vFunD always uses `secretMatches`; only replay substitutes the outcome it
 * recorded (a journal holds digests, never secrets).
 */
export type CredentialCheck = (tenant: TenantConfig, credential: string) => boolean;

export const secretMatches: CredentialCheck = (tenant, credential) => credentialDigest(credential) === tenant.credentialDigest;

function checkCredentials(state: VFunDState, c: Credentials, auth: CredentialCheck): Nack | null {
  const bad = checkName('tenant', c.tenant);
  if (bad) return { reason: 'bad-request', detail: bad };
  if (typeof c.credential !== 'string' || c.credential.length > CREDENTIAL_MAX) {
    return { reason: 'bad-request', detail: `credential must be a string of at most ${CREDENTIAL_MAX} characters` };
  }
  const tenant = state.config?.tenants.find((t) => t.id === c.tenant);
  if (!tenant || !auth(tenant, c.credential)) {
    return { reason: 'credential', detail: `tenant '${c.tenant}' unknown or secret does not match` };
  }
  return null;
}

function checkOwnedInstance(
  state: VFunDState,
  c: Credentials & { instance: string },
  auth: CredentialCheck,
): { nack: Nack } | { instance: InstanceState } {
  const cred = checkCredentials(state, c, auth);
  if (cred) return { nack: cred };
  const inst = typeof c.instance === 'string' && Object.hasOwn(state.instances, c.instance) ? state.instances[c.instance] : undefined;
  if (!inst) return { nack: { reason: 'unknown-instance', detail: `no live instance '${clip(c.instance)}'` } };
  if (inst.tenant !== c.tenant) {
    return { nack: { reason: 'not-owner', detail: `instance '${inst.id}' belongs to another tenant` } };
  }
  return { instance: inst };
}

/** Would this release be accepted? (vFunD checks before stopping the service to collect its stats.) */
export function checkRelease(
  state: VFunDState,
  c: Credentials & { instance: string },
  auth: CredentialCheck = secretMatches,
): Nack | null {
  if (!state.running) return { reason: 'not-started', detail: 'vFunD is not running' };
  const r = checkOwnedInstance(state, c, auth);
  return 'nack' in r ? r.nack : null;
}

function releaseNack(c: Credentials & { instance: string }, n: Nack): ReleaseNacked {
  return { type: 'release.nacked', data: { instance: clip(c.instance), tenant: clip(c.tenant), ...n } };
}

function released(instance: string, reason: InstanceReleased['data']['reason'], stats: ComputationStats | null): InstanceReleased {
  return { type: 'instance.released', data: { instance, reason, stats } };
}

/** Does the instance's lifecycle machine take what this event means for it? (wrong-phase comes from here.) */
function acceptsAll(inst: InstanceState, event: VFunEvent): boolean {
  let lifecycle: InstanceState['lifecycle'] | null = inst.lifecycle;
  for (const e of lifecycleEventsOf(event)) {
    lifecycle = lifecycleNext(lifecycle, e);
    if (lifecycle === null) return false;
  }
  return true;
}

/**
 * The events vFunD journals for `command` in `state`: an ack, a nack with its reason, or nothing. Pure;
 * `auth` checks a request's credential against its tenant (replay passes the outcome it recorded).
 * Never throws for a bad request: refusing is an event.
 */
export function decide(command: VFunDCommand, state: VFunDState, auth: CredentialCheck = secretMatches): VFunEvent[] {
  switch (command.type) {
    case 'start': {
      // Instances journaled as live by a vFunD that did not stop cleanly have no service any more.
      // Their counters come from the control areas that outlived them; unknown is null, never a false 0.
      const recovered = command.recovered ?? {};
      const orphans = liveInstances(state).map((i) => released(i.id, 'recovery', Object.hasOwn(recovered, i.id) ? recovered[i.id]! : null));
      return [...orphans, { type: 'vfund.started', data: { host: command.host, config: command.config } }];
    }

    case 'negotiate': {
      const request = {
        tenant: clip(command.tenant),
        app: clip(command.app),
        fn: clip(command.fn),
        kind: clip(command.kind),
      };
      const nack = (n: Nack): VFunEvent[] => [{ type: 'negotiation.nacked', data: { ...request, ...n } }];
      if (!state.running || !state.config) return nack({ reason: 'not-started', detail: 'vFunD is not running' });
      const cred = checkCredentials(state, command, auth);
      if (cred) return nack(cred);
      for (const [field, value] of [['app', command.app], ['fn', command.fn]] as const) {
        const bad = checkName(field, value);
        if (bad) return nack({ reason: 'bad-request', detail: bad });
      }
      if (command.kind !== 'hw' && command.kind !== 'sw') {
        return nack({ reason: 'bad-request', detail: `kind must be 'hw' or 'sw', got '${clip(command.kind)}'` });
      }
      if (state.admin.disabledTenants.includes(command.tenant)) {
        return nack({ reason: 'tenant-disabled', detail: `tenant '${command.tenant}' is disabled by an operator: no new negotiations` });
      }
      if (!admits(state, command.tenant)) {
        return nack({ reason: 'draining', detail: `${state.admin.draining ? 'this host' : `tenant '${command.tenant}'`} is draining: no new negotiations; live instances go on` });
      }
      const tenant = state.config.tenants.find((t) => t.id === command.tenant)!;
      const held = tenantLoad(state, command.tenant);
      if (held >= tenant.maxInstances) {
        return nack({ reason: 'quota', detail: `tenant '${tenant.id}' holds ${held} of ${tenant.maxInstances} instances` });
      }
      const holder = liveInstances(state).find((i) => i.tenant === command.tenant && i.app === command.app && i.fn === command.fn);
      if (holder) {
        return nack({ reason: 'already-held', detail: `${command.tenant}/${command.app} already holds ${command.fn} as instance ${holder.id}` });
      }
      const fn = state.config.functions.find((f) => f.name === command.fn);
      if (!fn) return nack({ reason: 'unknown-function', detail: `no function '${command.fn}'` });
      const kind = fn.kinds[command.kind];
      if (!kind) {
        return nack({ reason: 'unrecognized-resource', detail: `function '${fn.name}' has no ${command.kind} version` });
      }
      // An unavailable device says so before any count of slots: no slot of it can be had.
      const device = kind.device === undefined ? undefined : state.config.devices?.find((d) => d.name === kind.device);
      const unavailable = device === undefined ? null : (deviceUnavailable(state, device) ?? deviceRefusesTenant(state, device, tenant));
      if (device && unavailable !== null) {
        return nack({ reason: 'device-unavailable', detail: `device ${device.name}: ${unavailable}` });
      }
      const used = slotsInUse(state, fn.name, command.kind);
      if (used >= kind.slots) {
        return nack({ reason: 'no-capacity', detail: `${fn.name}/${command.kind}: ${used} of ${kind.slots} slots in use` });
      }
      if (device) {
        const busy = deviceSlotsInUse(state, device.name);
        if (busy >= device.slots) {
          const what = device.type === 'webgpu' ? 'contexts' : 'reconfigurable slots';
          return nack({ reason: 'no-capacity', detail: `device ${device.name}: ${busy} of ${device.slots} ${what} in use` });
        }
      }
      return [
        {
          type: 'negotiation.acked',
          data: { ...request, kind: command.kind, instance: `i${state.nextInstance}`, fallback: command.fallback === true },
        },
      ];
    }

    case 'activate': {
      const nack = (n: Nack): VFunEvent[] => [{ type: 'activation.nacked', data: { instance: clip(command.instance), ...n } }];
      if (!state.running || !state.config) return nack({ reason: 'not-started', detail: 'vFunD is not running' });
      const r = checkOwnedInstance(state, command, auth);
      if ('nack' in r) return nack(r.nack);
      const started: VFunEvent = { type: 'activation.started', data: { instance: r.instance.id, capacity: state.config.regionCapacity } };
      if (!acceptsAll(r.instance, started)) {
        return nack({ reason: 'wrong-phase', detail: `instance '${r.instance.id}' is in ${stepOfInstance(r.instance)}: only a negotiated instance (activation.pending) can be activated` });
      }
      return [started];
    }

    case 'activation-result': {
      const inst = Object.hasOwn(state.instances, command.instance) ? state.instances[command.instance] : undefined;
      if (!inst) return [];
      const result: VFunEvent = command.ok
        ? { type: 'activation.acked', data: { instance: inst.id, capacity: inst.lifecycle.context.capacity ?? 0, ...(command.driver !== undefined && { driver: command.driver }) } }
        : { type: 'activation.nacked', data: { instance: inst.id, reason: command.reason ?? 'driver-failed', detail: command.detail } };
      return acceptsAll(inst, result) ? [result] : [];
    }

    case 'release': {
      const n = checkRelease(state, command, auth);
      if (n) return [releaseNack(command, n)];
      return [released(command.instance, 'client', command.stats)];
    }

    case 'reclaim': {
      // Idempotent: reclaiming an instance that is already gone decides nothing.
      if (!Object.hasOwn(state.instances, command.instance)) return [];
      const failed: VFunEvent[] =
        command.reason === 'failure'
          ? [{ type: 'service.failed', data: { instance: command.instance, detail: command.detail, ...(command.cause !== undefined && { cause: command.cause }) } }]
          : command.reason === 'lease'
            ? [{ type: 'client.lost', data: { instance: command.instance, detail: command.detail } }]
            : [];
      return [...failed, released(command.instance, command.reason, command.stats)];
    }

    case 'service-restarted': {
      const inst = Object.hasOwn(state.instances, command.instance) ? state.instances[command.instance] : undefined;
      const { instance, attempt, backoffMs, detail } = command;
      const restarted: VFunEvent = { type: 'service.restarted', data: { instance, attempt, backoffMs, detail } };
      return inst && acceptsAll(inst, restarted) ? [restarted] : [];
    }

    case 'refuse': {
      const claimed = claimedOf(command.claimed);
      const peer = peerOf(command.peer);
      return [
        {
          type: 'request.refused',
          data: { tenant: clip(command.tenant), op: clip(command.op), reason: command.reason, detail: command.detail, ...(claimed && { claimed }), ...(peer && { peer }) },
        },
      ];
    }

    case 'summarize-refusals': {
      const { tenant, from, to, counts, total, disconnections, ended } = command;
      return [{ type: 'refusals.suppressed', data: { tenant: clip(tenant), from, to, counts, total, disconnections, ended } }];
    }

    case 'disconnect': {
      const { tenant, refusals, suppressed, detail } = command;
      const peer = peerOf(command.peer);
      return [{ type: 'control.disconnected', data: { tenant: clip(tenant), refusals, suppressed, detail, ...(peer && { peer }) } }];
    }

    case 'checkpoint': {
      const { size, root, note, frontier } = command;
      return [{ type: 'journal.checkpoint', data: { size, root, note, frontier } }];
    }
    case 'snapshot':
      return [{ type: 'state.snapshot', data: snapshotOf(state, command.seq) }];
    case 'probe-devices': {
      if (!state.running) return []; // a probe that ends after vfund.stopped: the next run probes anew
      // Only devices of the running configuration; each once, in the order given.
      const known = new Set((state.config?.devices ?? []).map((d) => d.name));
      const seen = new Set<string>();
      return command.probes.flatMap((p): VFunEvent[] => {
        if (!known.has(p.device) || seen.has(p.device)) return [];
        seen.add(p.device);
        return [{ type: 'device.probed', data: { device: p.device, available: p.available, ...(p.adapter !== undefined && { adapter: p.adapter }), detail: p.detail } }];
      });
    }
    case 'device-failover': {
      // Once per instance: a live hw instance on that device, not yet failed over.
      const inst = Object.hasOwn(state.instances, command.instance) ? state.instances[command.instance]! : undefined;
      const fnDevice = inst === undefined ? undefined : state.config?.functions.find((f) => f.name === inst.fn)?.kinds.hw?.device;
      if (inst === undefined || inst.kind !== 'hw' || fnDevice !== command.device) return [];
      return [{ type: 'device.failover', data: { instance: inst.id, device: command.device, detail: command.detail } }];
    }
    case 'crosscheck-mismatch': {
      const inst = Object.hasOwn(state.instances, command.instance) ? state.instances[command.instance]! : undefined;
      if (inst === undefined || inst.kind !== 'hw') return [];
      return [{ type: 'crosscheck.mismatch', data: { instance: inst.id, device: command.device, call: command.call, detail: command.detail } }];
    }

    case 'evict':
    case 'drain':
    case 'disable-tenant':
    case 'enable-tenant':
    case 'reload':
      return decideAdmin(command, state);

    case 'stop': {
      if (!state.running) return [];
      const rest = liveInstances(state).map((i) => released(i.id, 'shutdown', NO_STATS));
      return [...rest, { type: 'vfund.stopped', data: { reason: command.reason } }];
    }
  }
}
