/**
 * Model-based property test of vFunD: random interleavings of negotiate /
 * activate / release / crash / bad requests from several tenants, and of
 * operators' actions (evict, drain, disable/enable a tenant, reload), checked
 * against a simple model after every step, and replay == live state at the end.
 */
import { fc, test } from '@fast-check/vitest';
import { expect } from 'vitest';
import { VFunD } from '../../src/actors/vfund.js';
import { fold } from '../../src/actors/evolve.js';
import { replayJournal } from '../../src/actors/replay.js';
import { slotsInUse, stepOfInstance, type VFunDState } from '../../src/actors/state.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { verifyChain } from '../../src/events/chain.js';
import { eventOf, type Envelope } from '../../src/events/envelope.js';
import type { ClaimedNames, Kind, NackReason, PeerProcess, RequestRefused } from '../../src/events/catalogue.js';
import type { AdminIdentity, VFunDConfigSnapshot } from '../../src/events/catalogue.js';
import { counterIds, RecordingRuntime, SECRETS, steppingClock, testSnapshot } from './helpers.js';

const BY: AdminIdentity = { via: 'admin-socket', uid: 0, gid: 0, pid: 4242, user: 'root' };

/** Configurations a reload may bring: the first, one without t3, one without fsw and with fhw software only, one with more room for t1. */
const RELOADS: Record<string, VFunDConfigSnapshot> = {
  same: testSnapshot,
  'no-t3': { ...testSnapshot, tenants: testSnapshot.tenants.filter((t) => t.id !== 't3') },
  'no-fsw': {
    ...testSnapshot,
    functions: testSnapshot.functions.filter((f) => f.name !== 'fsw').map((f) => (f.name === 'fhw' ? { name: 'fhw', kinds: { sw: f.kinds.sw! } } : f)),
  },
  't1-more': { ...testSnapshot, tenants: testSnapshot.tenants.map((t) => (t.id === 't1' ? { ...t, maxInstances: 3 } : t)) },
};

type TenantId = keyof typeof SECRETS;
const TENANTS: TenantId[] = ['t1', 't2', 't3'];

interface ModelInstance {
  tenant: TenantId;
  app: string;
  fn: string;
  kind: Kind;
  phase: 'negotiated' | 'active';
}
interface Model {
  instances: Map<string, ModelInstance>;
  /** Every instance id ever acked, live or not (so commands can target released ones too). */
  known: string[];
  /** The configuration vFunD decides with (reloads change it). */
  config: VFunDConfigSnapshot;
  disabled: Set<string>;
  draining: boolean;
  drainingTenants: Set<string>;
}
interface Real {
  d: VFunD<{ regionId: number }>;
  runtime: RecordingRuntime;
  journal: MemoryJournal;
}

function expectedNegotiation(m: Model, tenant: TenantId, app: string, fn: string, kind: Kind, goodSecret: boolean): NackReason | null {
  const t = m.config.tenants.find((x) => x.id === tenant);
  if (!goodSecret || t === undefined) return 'credential';
  if (m.disabled.has(tenant)) return 'tenant-disabled';
  if (m.draining || m.drainingTenants.has(tenant)) return 'draining';
  const held = [...m.instances.values()].filter((i) => i.tenant === tenant).length;
  if (held >= t.maxInstances) return 'quota';
  if ([...m.instances.values()].some((i) => i.tenant === tenant && i.app === app && i.fn === fn)) return 'already-held';
  const f = m.config.functions.find((x) => x.name === fn);
  if (!f) return 'unknown-function';
  const k = f.kinds[kind];
  if (!k) return 'unrecognized-resource';
  const used = [...m.instances.values()].filter((i) => i.fn === fn && i.kind === kind).length;
  if (used >= k.slots) return 'no-capacity';
  return null;
}

function ownership(m: Model, instance: string, tenant: TenantId): NackReason | null {
  if (!m.config.tenants.some((t) => t.id === tenant)) return 'credential';
  const inst = m.instances.get(instance);
  if (!inst) return 'unknown-instance';
  if (inst.tenant !== tenant) return 'not-owner';
  return null;
}

class NegotiateCmd implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly tenant: TenantId,
    readonly app: string,
    readonly fn: string,
    readonly kind: Kind,
    readonly goodSecret: boolean,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const expected = expectedNegotiation(m, this.tenant, this.app, this.fn, this.kind, this.goodSecret);
    const a = await r.d.negotiate({
      tenant: this.tenant,
      credential: this.goodSecret ? SECRETS[this.tenant] : 'wrong-secret-xxxxxxxx',
      app: this.app,
      fn: this.fn,
      kind: this.kind,
    });
    if (expected === null) {
      expect(a).toMatchObject({ ok: true, kind: this.kind });
      if (a.ok) {
        m.instances.set(a.instance, { tenant: this.tenant, app: this.app, fn: this.fn, kind: this.kind, phase: 'negotiated' });
        m.known.push(a.instance);
      }
    } else {
      expect(a).toMatchObject({ ok: false, reason: expected });
      if (!a.ok) expect(a.detail.length).toBeGreaterThan(0);
    }
  }
  toString = () => `negotiate(${this.tenant}/${this.app}, ${this.fn}, ${this.kind}, ${this.goodSecret ? 'ok' : 'bad'} secret)`;
}

class ActivateCmd implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly pick: number,
    readonly as: TenantId,
  ) {}
  check = (m: Readonly<Model>) => m.known.length > 0;
  async run(m: Model, r: Real) {
    const instance = m.known[this.pick % m.known.length]!;
    const a = await r.d.activate({ tenant: this.as, credential: SECRETS[this.as], instance });
    const inst = m.instances.get(instance);
    const expected =
      ownership(m, instance, this.as) ??
      (inst!.phase !== 'negotiated' ? 'wrong-phase' : inst!.fn === 'flaky' ? 'driver-failed' : inst!.fn === 'starved' ? 'no-resources' : null);
    if (expected === null) {
      expect(a.ok).toBe(true);
      inst!.phase = 'active';
    } else {
      expect(a).toMatchObject({ ok: false, reason: expected });
      if (expected === 'driver-failed' || expected === 'no-resources') m.instances.delete(instance);
    }
  }
  toString = () => `activate(#${this.pick} as ${this.as})`;
}

class ReleaseCmd implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly pick: number,
    readonly as: TenantId,
  ) {}
  check = (m: Readonly<Model>) => m.known.length > 0;
  async run(m: Model, r: Real) {
    const instance = m.known[this.pick % m.known.length]!;
    const expected = ownership(m, instance, this.as);
    const a = await r.d.release({ tenant: this.as, credential: SECRETS[this.as], instance });
    if (expected === null) {
      expect(a.ok).toBe(true);
      m.instances.delete(instance);
      // Release frees everything: no region, no lifecycle actor, no state entry.
      expect([...r.runtime.regions.values()].some((x) => x.instance === instance)).toBe(false);
      expect(r.d.lifecycle(instance)).toBeUndefined();
      expect(r.d.snapshot.instances[instance]).toBeUndefined();
    } else {
      expect(a).toMatchObject({ ok: false, reason: expected });
    }
  }
  toString = () => `release(#${this.pick} as ${this.as})`;
}

class CrashCmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.known.length > 0;
  async run(m: Model, r: Real) {
    const instance = m.known[this.pick % m.known.length]!;
    const crashed = r.runtime.crash(instance);
    expect(crashed).toBe(m.instances.get(instance)?.phase === 'active');
    await r.d.settled();
    if (crashed) m.instances.delete(instance);
  }
  toString = () => `crash(#${this.pick})`;
}

class BadRequestCmd implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly field: 'tenant' | 'app' | 'fn' | 'kind',
    readonly value: string,
  ) {}
  check = () => true;
  async run(_m: Model, r: Real) {
    const req = { tenant: 't1', credential: SECRETS.t1, app: 'app', fn: 'fsw', kind: 'sw' as Kind, [this.field]: this.value };
    const a = await r.d.negotiate(req);
    // An unknown-but-well-formed tenant is a credential failure; anything malformed is a bad request.
    expect(a.ok).toBe(false);
    if (!a.ok) expect(['bad-request', 'credential']).toContain(a.reason);
  }
  toString = () => `bad(${this.field}=${JSON.stringify(this.value)})`;
}

class EvictCmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.known.length > 0;
  async run(m: Model, r: Real) {
    const instance = m.known[this.pick % m.known.length]!;
    const events = await r.d.administer({ type: 'evict', instance, by: BY });
    if (m.instances.has(instance)) {
      expect(events.map((e) => e.type)).toEqual(['admin.evicted', 'instance.released']);
      expect(events[1]).toMatchObject({ data: { instance, reason: 'evicted' } });
      m.instances.delete(instance);
      expect([...r.runtime.regions.values()].some((x) => x.instance === instance)).toBe(false);
    } else {
      expect(events).toEqual([]);
    }
  }
  toString = () => `evict(#${this.pick})`;
}

class DrainCmd implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly tenant: TenantId | null,
    readonly draining: boolean,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const events = await r.d.administer({ type: 'drain', tenant: this.tenant, draining: this.draining, by: BY });
    const known = this.tenant === null || m.config.tenants.some((t) => t.id === this.tenant);
    const changes = !known ? false : this.tenant === null ? m.draining !== this.draining || (!this.draining && m.drainingTenants.size > 0) : m.drainingTenants.has(this.tenant) !== this.draining;
    expect(events.map((e) => e.type)).toEqual(changes ? ['drain.changed'] : []);
    if (!changes) return;
    if (this.tenant === null) {
      m.draining = this.draining;
      if (!this.draining) m.drainingTenants.clear();
    } else if (this.draining) m.drainingTenants.add(this.tenant);
    else m.drainingTenants.delete(this.tenant);
  }
  toString = () => `${this.draining ? 'drain' : 'undrain'}(${this.tenant ?? 'host'})`;
}

class DisableCmd implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly tenant: TenantId,
    readonly disable: boolean,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const events = await r.d.administer({ type: this.disable ? 'disable-tenant' : 'enable-tenant', tenant: this.tenant, by: BY });
    if (!this.disable) {
      expect(events.map((e) => e.type)).toEqual(m.disabled.delete(this.tenant) ? ['tenant.enabled'] : []);
      return;
    }
    if (m.disabled.has(this.tenant) || !m.config.tenants.some((t) => t.id === this.tenant)) {
      expect(events).toEqual([]);
      return;
    }
    m.disabled.add(this.tenant);
    const held = [...m.instances].filter(([, i]) => i.tenant === this.tenant).map(([id]) => id);
    expect(events[0]).toMatchObject({ type: 'tenant.disabled', data: { tenant: this.tenant, by: BY } });
    expect(events.slice(1).map((e) => (e.type === 'instance.released' ? `${e.data.instance}:${e.data.reason}` : e.type)).sort()).toEqual(held.map((id) => `${id}:disabled`).sort());
    for (const id of held) m.instances.delete(id);
  }
  toString = () => `${this.disable ? 'disable' : 'enable'}(${this.tenant})`;
}

class ReloadCmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly to: keyof typeof RELOADS) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const config = RELOADS[this.to]!;
    const events = await r.d.administer({ type: 'reload', config, by: BY });
    const gone = [...m.instances].filter(([, i]) => !config.tenants.some((t) => t.id === i.tenant) || config.functions.find((f) => f.name === i.fn)?.kinds[i.kind] === undefined).map(([id]) => id);
    expect(events[0]).toMatchObject({ type: 'config.reloaded', data: { config } });
    expect(events.slice(1).map((e) => (e.type === 'instance.released' ? `${e.data.instance}:${e.data.reason}` : e.type)).sort()).toEqual(gone.map((id) => `${id}:reconfigured`).sort());
    for (const id of gone) m.instances.delete(id);
    m.config = config;
    expect(r.d.snapshot.config).toEqual(config);
  }
  toString = () => `reload(${this.to})`;
}

/** A request the control channel refused: what it claimed (any string, as sent) and who sent it (SO_PEERCRED). */
class RefusedCmd implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly claimed: ClaimedNames | undefined,
    readonly peer: PeerProcess | undefined,
  ) {}
  check = () => true;
  async run(_m: Model, r: Real) {
    await r.d.refuse({ tenant: 't2', op: 'negotiate', reason: 'credential', detail: 'signature does not match the tenant secret', ...(this.claimed && { claimed: this.claimed }), ...(this.peer && { peer: this.peer }) });
    let e: Envelope | undefined;
    for await (const x of r.journal.read()) e = x;
    expect(e).toMatchObject({ type: 'request.refused', tenant: 't2', app: null, fn: null, instance: null });
    const data = (e as Envelope<RequestRefused>).data;
    expect(data.peer).toEqual(this.peer);
    // Every claimed name is kept, clipped to 63 characters (then …); none is made up.
    for (const k of ['app', 'fn', 'instance'] as const) {
      const sent = this.claimed?.[k];
      expect(data.claimed?.[k]).toBe(sent === undefined ? undefined : sent.length > 63 ? `${sent.slice(0, 63)}…` : sent);
    }
  }
  toString = () => `refused(${JSON.stringify(this.claimed)}, ${JSON.stringify(this.peer)})`;
}

const badValue = fc.oneof(
  fc.constant(''),
  fc.constant('../../etc'),
  fc.constant('a/b'),
  fc.string({ minLength: 64, maxLength: 100 }),
  fc.string().filter((s) => /[^A-Za-z0-9_-]/.test(s)),
);

const commands = fc.commands(
  [
    fc
      .tuple(
        fc.constantFrom(...TENANTS),
        fc.constantFrom('a1', 'a2', 'a3'),
        fc.constantFrom('fhw', 'fsw', 'flaky', 'starved', 'nope'),
        fc.constantFrom<Kind>('hw', 'sw'),
        fc.boolean(),
      )
      .map(([t, a, f, k, g]) => new NegotiateCmd(t, a, f, k, g)),
    fc.tuple(fc.nat(), fc.constantFrom(...TENANTS)).map(([p, t]) => new ActivateCmd(p, t)),
    fc.tuple(fc.nat(), fc.constantFrom(...TENANTS)).map(([p, t]) => new ReleaseCmd(p, t)),
    fc.nat().map((p) => new CrashCmd(p)),
    fc.tuple(fc.constantFrom('tenant', 'app', 'fn', 'kind') as fc.Arbitrary<'tenant' | 'app' | 'fn' | 'kind'>, badValue).map(
      ([f, v]) => new BadRequestCmd(f, v),
    ),
    fc.nat().map((p) => new EvictCmd(p)),
    fc.tuple(fc.option(fc.constantFrom(...TENANTS), { nil: null }), fc.boolean()).map(([t, d]) => new DrainCmd(t, d)),
    fc.tuple(fc.constantFrom(...TENANTS), fc.boolean()).map(([t, d]) => new DisableCmd(t, d)),
    fc.constantFrom(...(Object.keys(RELOADS) as (keyof typeof RELOADS)[])).map((c) => new ReloadCmd(c)),
    fc
      .tuple(
        fc.option(fc.record({ app: fc.oneof(fc.constant('a1'), badValue), fn: fc.oneof(fc.constant('fsw'), badValue), instance: badValue }, { requiredKeys: [] }), { nil: undefined }),
        fc.option(fc.record({ pid: fc.integer({ min: 1, max: 4_194_304 }), uid: fc.nat(65_535) }), { nil: undefined }),
      )
      .map(([c, p]) => new RefusedCmd(c, p)),
  ],
  { maxCommands: 60 },
);

function checkInvariants(s: VFunDState, runtime: RecordingRuntime): void {
  // Capacity never exceeded, quota never exceeded (reloads never lower them).
  for (const f of s.config!.functions) {
    for (const kind of ['hw', 'sw'] as const) {
      const k = f.kinds[kind];
      if (k) expect(slotsInUse(s, f.name, kind)).toBeLessThanOrEqual(k.slots);
    }
  }
  for (const t of s.config!.tenants) {
    expect(Object.values(s.instances).filter((i) => i.tenant === t.id).length).toBeLessThanOrEqual(t.maxInstances);
  }
  // A region belongs to exactly one live, active instance, of the tenant that holds it.
  const holders = new Set<string>();
  for (const { instance, tenant } of runtime.regions.values()) {
    expect(holders.has(instance)).toBe(false);
    holders.add(instance);
    expect(s.instances[instance]).toMatchObject({ tenant, lifecycle: { value: 'computation' } });
  }
  expect(holders.size).toBe(Object.values(s.instances).filter((i) => i.lifecycle.value === 'computation').length);
}

test.prop([commands], { numRuns: 150 })('vFunD keeps its invariants and replays to its live state', async (cmds) => {
  const journal = new MemoryJournal();
  const runtime = new RecordingRuntime();
  const d = await VFunD.start({ journal, runtime, config: testSnapshot, host: 'h1', clock: steppingClock(), ids: counterIds() });
  const seen: Envelope[] = [];
  d.subscribe((envs) => seen.push(...envs));
  await fc.asyncModelRun(
    () => ({ model: { instances: new Map(), known: [], config: testSnapshot, disabled: new Set<string>(), draining: false, drainingTenants: new Set<string>() }, real: { d, runtime, journal } }),
    [...cmds].map((c) => ({
      check: (m: Readonly<Model>) => c.check(m),
      run: async (m: Model, r: Real) => {
        await c.run(m, r);
        checkInvariants(r.d.snapshot, r.runtime);
        expect(r.d.snapshot.admin).toEqual({ disabledTenants: [...m.disabled].sort(), draining: m.draining, drainingTenants: [...m.drainingTenants].sort() });
        expect(Object.keys(r.d.snapshot.instances).sort()).toEqual([...m.instances.keys()].sort());
        // The model's phases, in the lifecycle machine's vocabulary: negotiated = activation.pending.
        for (const [id, mi] of m.instances) {
          expect(stepOfInstance(r.d.snapshot.instances[id]!)).toBe(mi.phase === 'negotiated' ? 'activation.pending' : 'computation');
        }
      },
      toString: () => c.toString(),
    })),
  );
  // Every nack carries a reason and a detail.
  for (const e of seen) {
    if (e.type.endsWith('.nacked')) {
      const data = e.data as { reason: string; detail: string };
      expect(data.reason).toBeTruthy();
      expect(data.detail).toBeTruthy();
    }
  }
  // Replaying the journal through evolve gives exactly the live state.
  const replayed: Envelope[] = [];
  for await (const e of journal.read()) replayed.push(e);
  expect(fold(replayed.map(eventOf))).toEqual(d.snapshot);
  expect((await verifyChain(replayed)).ok).toBe(true);
  // Re-running decide on the recorded commands reproduces every recorded decision.
  const report = await replayJournal(replayed);
  expect(report.divergence).toBeNull();
  expect(report.state).toEqual(d.snapshot);
  // Stopping releases everything.
  await d.stop();
  expect(runtime.regions.size).toBe(0);
  expect(d.snapshot.instances).toEqual({});
  expect(d.snapshot.running).toBe(false);
});
