/**
 * Snapshots: a state started from any snapshot and folded over the events
 * after it is the state of the full fold, for generated command sequences with
 * snapshots at generated points (a small `snapshotEvery`, stops and restarts,
 * crashes without a stop, operators' actions: evictions, drains, disabled and
 * enabled tenants, reloads), on the memory journal and on the same journal as
 * a file; every state round-trips through its snapshot (with `admin` exactly
 * when operators set something); and a full replay, and one from the latest
 * snapshot (`vfun replay --from-snapshot`), recomputes every decision.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { fold } from '../../src/actors/evolve.js';
import { replayJournal } from '../../src/actors/replay.js';
import { restoreState } from '../../src/actors/restore.js';
import { snapshotOf, stateOfSnapshot } from '../../src/actors/snapshot.js';
import { adminIsSet, initialState, type VFunDState } from '../../src/actors/state.js';
import { VFunD } from '../../src/actors/vfund.js';
import { parseConfig, toSnapshot } from '../../src/actors/config.js';
import { FileJournal } from '../../src/events/adapters/file/index.js';
import { canonicalJson, encodeEnvelope } from '../../src/events/canonical.js';
import type { AdminIdentity, Kind, StateSnapshotTaken, VFunDConfigSnapshot } from '../../src/events/catalogue.js';
import { eventOf, type Envelope } from '../../src/events/envelope.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { adminIdentityArb } from '../events/arbitraries.js';
import { counterIds, RecordingRuntime, SECRETS, steppingClock, testConfig, testSnapshot } from './helpers.js';

type TenantId = keyof typeof SECRETS;
/** A tenant of the configuration, or one it never had (the admin command then changes nothing). */
type AdminTenant = TenantId | 'ghost';
type Op =
  | { op: 'negotiate'; tenant: TenantId; app: string; fn: string; kind: Kind; good: boolean }
  | { op: 'activate'; pick: number }
  | { op: 'release'; pick: number; owner: boolean }
  | { op: 'crash'; pick: number }
  | { op: 'restart'; clean: boolean }
  | { op: 'evict'; pick: number; by: AdminIdentity }
  | { op: 'drain'; tenant: AdminTenant | null; draining: boolean; by: AdminIdentity }
  | { op: 'disable'; tenant: AdminTenant; by: AdminIdentity }
  | { op: 'enable'; tenant: AdminTenant; by: AdminIdentity }
  | { op: 'reload'; config: number; by: AdminIdentity };

/**
 * Configurations a reload may bring: the same one, one without tenant t3, one with fsw's slots
 * cut to 1 and t1's quota raised, one without fhw's hardware version and with a function and a
 * tenant added. A restart starts with testSnapshot again.
 */
const RELOADS: readonly VFunDConfigSnapshot[] = [
  testSnapshot,
  toSnapshot(parseConfig({ ...testConfig, tenants: testConfig.tenants.filter((t) => t.id !== 't3') })),
  toSnapshot(
    parseConfig({
      ...testConfig,
      tenants: testConfig.tenants.map((t) => (t.id === 't1' ? { ...t, maxInstances: 3 } : t)),
      functions: testConfig.functions.map((f) => (f.name === 'fsw' ? { ...f, kinds: { sw: { ...f.kinds.sw!, slots: 1 } } } : f)),
    }),
  ),
  toSnapshot(
    parseConfig({
      ...testConfig,
      tenants: [...testConfig.tenants, { id: 't4', secret: 'secret-of-tenant-four', maxInstances: 1 }],
      functions: [...testConfig.functions.map((f) => (f.name === 'fhw' ? { ...f, kinds: { sw: f.kinds.sw! } } : f)), { name: 'fnew', kinds: { sw: { slots: 1, driver: 'crc32' } } }],
    }),
  ),
];

const tenantArb = fc.constantFrom<TenantId>('t1', 't2', 't3');
const adminTenantArb = fc.constantFrom<AdminTenant>('t1', 't2', 't3', 'ghost');
/** Operators' actions, valid as vFunD takes them from its admin socket or SIGHUP. */
const adminOpArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ op: fc.constant('evict' as const), pick: fc.nat(20), by: adminIdentityArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('drain' as const), tenant: fc.option(adminTenantArb, { nil: null, freq: 2 }), draining: fc.boolean(), by: adminIdentityArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('disable' as const), tenant: adminTenantArb, by: adminIdentityArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('enable' as const), tenant: adminTenantArb, by: adminIdentityArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('reload' as const), config: fc.nat(RELOADS.length - 1), by: adminIdentityArb }) },
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: adminOpArb },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('negotiate' as const), tenant: tenantArb, app: fc.constantFrom('a', 'b', 'c'), fn: fc.constantFrom('fhw', 'fsw', 'flaky', 'nope'), kind: fc.constantFrom<Kind>('hw', 'sw'), good: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('activate' as const), pick: fc.nat(20) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('release' as const), pick: fc.nat(20), owner: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('crash' as const), pick: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('restart' as const), clean: fc.boolean() }) },
);

/** Same state: as its snapshot says it, and (should a snapshot leave something out) as the fold holds it. */
const same = (a: VFunDState, b: VFunDState): void => {
  expect(canonicalJson(snapshotOf(a, 0))).toBe(canonicalJson(snapshotOf(b, 0)));
  expect(a.admin).toEqual(b.admin);
  expect(a.config).toEqual(b.config);
};

/** Every state a fold goes through, from the initial one (index k: after the first k events). */
function states(envs: readonly Envelope[]): VFunDState[] {
  const out = [initialState];
  for (const e of envs) out.push(fold([eventOf(e)], out.at(-1)!));
  return out;
}

/** A snapshot of `state` holds `admin` exactly when operators set something, and gives the state back. */
function roundTrips(state: VFunDState): void {
  const data = snapshotOf(state, 1);
  expect(Object.hasOwn(data.state, 'admin')).toBe(adminIsSet(state.admin));
  const back = stateOfSnapshot(JSON.parse(canonicalJson(data)) as StateSnapshotTaken['data']);
  same(back, state);
  expect(back).toEqual(state);
}

async function all(journal: { read(): AsyncIterable<Envelope> }): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for await (const e of journal.read()) out.push(e);
  return out;
}

/**
 * What operators set, kept apart from vFunD's fold (the spec it is checked against): a drain or a
 * disable of a tenant the running configuration does not have changes nothing, ending the host's
 * drain ends every tenant's, a start ends every drain and keeps disabled tenants, a reload swaps the
 * configuration.
 */
class AdminModel {
  readonly disabled = new Set<string>();
  readonly drainingTenants = new Set<string>();
  draining = false;
  config: VFunDConfigSnapshot = testSnapshot;

  private known(tenant: string): boolean {
    return this.config.tenants.some((t) => t.id === tenant);
  }

  apply(o: Op): void {
    if (o.op === 'drain') {
      if (o.tenant === null) {
        this.draining = o.draining;
        if (!o.draining) this.drainingTenants.clear();
      } else if (this.known(o.tenant)) {
        if (o.draining) this.drainingTenants.add(o.tenant);
        else this.drainingTenants.delete(o.tenant);
      }
    } else if (o.op === 'disable') {
      if (this.known(o.tenant)) this.disabled.add(o.tenant);
    } else if (o.op === 'enable') {
      this.disabled.delete(o.tenant);
    } else if (o.op === 'reload') {
      this.config = RELOADS[o.config]!;
    } else if (o.op === 'restart') {
      this.config = testSnapshot;
      this.draining = false;
      this.drainingTenants.clear();
    }
  }

  /** The nack reason an operator's setting gives a well-formed negotiation of `tenant`, or null. */
  refusal(tenant: string): 'tenant-disabled' | 'draining' | null {
    if (!this.known(tenant)) return null;
    if (this.disabled.has(tenant)) return 'tenant-disabled';
    return this.draining || this.drainingTenants.has(tenant) ? 'draining' : null;
  }

  /** vFunD's state agrees with what operators did: admin state, configuration, no instance a disable or reload removed. */
  check(state: VFunDState): void {
    expect(state.admin).toEqual({ disabledTenants: [...this.disabled].sort(), draining: this.draining, drainingTenants: [...this.drainingTenants].sort() });
    expect(state.config).toEqual(this.config);
    for (const i of Object.values(state.instances)) {
      expect(this.disabled.has(i.tenant)).toBe(false);
      expect(this.known(i.tenant)).toBe(true);
      expect(this.config.functions.find((f) => f.name === i.fn)?.kinds[i.kind]).toBeDefined();
    }
  }
}

/**
 * Runs the ops against vFunDs on one memory journal (a restart starts a new one on it), checking
 * vFunD's state against the AdminModel after each; returns the journal.
 */
async function run(ops: readonly Op[], snapshotEvery: number): Promise<MemoryJournal> {
  const journal = new MemoryJournal();
  const clock = steppingClock();
  const ids = counterIds();
  const start = async () => {
    const runtime = new RecordingRuntime();
    return { runtime, d: await VFunD.start({ journal, runtime, config: testSnapshot, host: 'h', clock, ids, snapshotEvery }) };
  };
  let { d, runtime } = await start();
  const model = new AdminModel();
  const acked: { instance: string; tenant: TenantId }[] = [];
  const pick = (n: number) => (acked.length === 0 ? undefined : acked[n % acked.length]);
  for (const o of ops) {
    model.apply(o);
    if (o.op === 'negotiate') {
      const a = await d.negotiate({ tenant: o.tenant, credential: o.good ? SECRETS[o.tenant] : 'wrong-secret', app: o.app, fn: o.fn, kind: o.kind });
      if (a.ok) acked.push({ instance: a.instance, tenant: o.tenant });
      const refusal = o.good ? model.refusal(o.tenant) : null;
      if (refusal !== null) expect(a).toMatchObject({ ok: false, reason: refusal });
      else if (!a.ok) expect(['tenant-disabled', 'draining']).not.toContain(a.reason);
    } else if (o.op === 'drain') {
      await d.administer({ type: 'drain', tenant: o.tenant, draining: o.draining, by: o.by });
    } else if (o.op === 'disable') {
      await d.administer({ type: 'disable-tenant', tenant: o.tenant, by: o.by });
    } else if (o.op === 'enable') {
      await d.administer({ type: 'enable-tenant', tenant: o.tenant, by: o.by });
    } else if (o.op === 'reload') {
      await d.administer({ type: 'reload', config: RELOADS[o.config]!, by: o.by });
    } else if (o.op === 'restart') {
      if (o.clean) await d.stop();
      else await d.settled(); // a crash: the next vFunD recovers what this one left live
      ({ d, runtime } = await start());
    } else {
      const p = pick(o.pick);
      if (p === undefined) continue;
      if (o.op === 'evict') {
        await d.administer({ type: 'evict', instance: p.instance, by: o.by });
        expect(Object.hasOwn(d.snapshot.instances, p.instance)).toBe(false);
      } else if (o.op === 'activate') await d.activate({ tenant: p.tenant, credential: SECRETS[p.tenant], instance: p.instance });
      else if (o.op === 'release') {
        const tenant: TenantId = o.owner ? p.tenant : p.tenant === 't1' ? 't2' : 't1';
        await d.release({ tenant, credential: SECRETS[tenant], instance: p.instance });
      } else if (runtime.crash(p.instance)) await d.settled();
    }
    model.check(d.snapshot);
  }
  await d.stop();
  model.check(fold((await all(journal)).map(eventOf)));
  return journal;
}

const dir = mkdtempSync(join(tmpdir(), 'vfun-snapshot-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

describe('state snapshots', () => {
  test.prop([fc.array(opArb, { maxLength: 60, size: 'medium' }), fc.integer({ min: 1, max: 12 })], { numRuns: 40 })(
    'vFunD does what operators set; any snapshot + the events after it = the full fold; every state round-trips; replay (also from the latest snapshot) recomputes every decision',
    async (ops, every) => {
      const journal = await run(ops, every);
      const envs = await all(journal);
      const full = fold(envs.map(eventOf));
      const snapshots = envs.filter((e): e is Envelope<StateSnapshotTaken> => e.type === 'state.snapshot');
      // At stop, one when `every` events followed the last.
      const stopped = envs.findLastIndex((e) => e.type === 'vfund.stopped');
      const before = envs.slice(0, stopped + 1).findLast((e) => e.type === 'state.snapshot')?.seq ?? 0;
      expect(envs.at(-1)!.type).toBe(envs[stopped]!.seq - before >= every ? 'state.snapshot' : 'vfund.stopped');
      const after = states(envs);
      same(after.at(-1)!, full);
      for (const st of after) roundTrips(st);
      for (const s of snapshots) {
        expect(s.data.seq).toBe(s.seq - 1);
        expect(Object.hasOwn(s.data.state, 'admin')).toBe(adminIsSet(after[s.seq - 1]!.admin));
        same(stateOfSnapshot(s.data), after[s.seq - 1]!);
        same(fold(envs.slice(s.seq).map(eventOf), stateOfSnapshot(s.data)), full);
      }
      // Start-up's way, on the memory journal and on the same journal as a file.
      const fromMemory = await restoreState(journal);
      expect(fromMemory.snapshotSeq).toBe(snapshots.at(-1)?.seq ?? null);
      same(fromMemory.state, full);
      const path = join(dir, `j${files++}.ndjson`);
      writeFileSync(path, envs.map((e) => encodeEnvelope(e).canonical + '\n').join(''));
      const file = await FileJournal.open(path, { readOnly: true });
      try {
        const fromFile = await restoreState(file);
        expect(fromFile).toMatchObject({ snapshotSeq: fromMemory.snapshotSeq, folded: fromMemory.folded });
        same(fromFile.state, full);
      } finally {
        await file.close();
      }
      const report = await replayJournal(envs);
      expect(report.divergence).toBeNull();
      same(report.state, full);
      // vfun replay --from-snapshot: from the latest snapshot's state, the decisions after it.
      const last = snapshots.at(-1);
      if (last !== undefined) {
        const fromSnapshot = await replayJournal(envs.slice(last.seq), stateOfSnapshot(last.data));
        expect(fromSnapshot.divergence).toBeNull();
        same(fromSnapshot.state, full);
      }
    },
  );

  it('a snapshot holds what operators set, and leaves admin out once it is all undone', async () => {
    const by: AdminIdentity = { via: 'signal', signal: 'SIGHUP' };
    const set: Op[] = [
      { op: 'negotiate', tenant: 't2', app: 'a', fn: 'fsw', kind: 'sw', good: true },
      { op: 'disable', tenant: 't2', by },
      { op: 'drain', tenant: 't1', draining: true, by },
    ];
    const envs = await all(await run(set, 1));
    const lastAdmin = envs.findLastIndex((e) => e.type === 'drain.changed');
    const snap = envs.slice(lastAdmin).find((e): e is Envelope<StateSnapshotTaken> => e.type === 'state.snapshot')!;
    expect(snap.data.state.admin).toEqual({ disabledTenants: ['t2'], draining: false, drainingTenants: ['t1'] });
    expect(stateOfSnapshot(snap.data).admin).toEqual(snap.data.state.admin);
    expect(envs.filter((e) => e.type === 'instance.released').map((e) => e.data)).toContainEqual(expect.objectContaining({ reason: 'disabled' }));
    // A restart ends the drain and keeps the tenant disabled; enabling it leaves nothing set.
    // Ending the host's drain ends every tenant's.
    const hostDrain = await all(await run([...set, { op: 'drain', tenant: null, draining: false, by }], 1));
    expect(hostDrain.findLast((e): e is Envelope<StateSnapshotTaken> => e.type === 'state.snapshot')!.data.state.admin).toEqual({ disabledTenants: ['t2'], draining: false, drainingTenants: [] });
    const undoneJournal = await run([...set, { op: 'restart', clean: true }, { op: 'enable', tenant: 't2', by }], 1);
    const undone = await all(undoneJournal);
    const restarted = undone.findLastIndex((e) => e.type === 'vfund.started');
    const afterStart = undone.slice(restarted).find((e): e is Envelope<StateSnapshotTaken> => e.type === 'state.snapshot')!;
    expect(afterStart.data.state.admin).toEqual({ disabledTenants: ['t2'], draining: false, drainingTenants: [] });
    const end = undone.findLast((e): e is Envelope<StateSnapshotTaken> => e.type === 'state.snapshot')!;
    expect(undone.slice(0, end.seq - 1).at(-1)?.type).toBe('vfund.stopped');
    expect(Object.hasOwn(end.data.state, 'admin')).toBe(false);
    const restored = await restoreState(undoneJournal);
    expect(restored.snapshotSeq).toBe(end.seq);
    same(restored.state, fold(undone.map(eventOf)));
  });

  it('a snapshot that does not state the folded state is a divergence at its seq', async () => {
    const journal = await run([{ op: 'negotiate', tenant: 't1', app: 'a', fn: 'fsw', kind: 'sw', good: true }], 1);
    const envs = await all(journal);
    const at = envs.findIndex((e) => e.type === 'state.snapshot');
    const s = envs[at] as Envelope<StateSnapshotTaken>;
    const forgedData = { ...s.data, state: { ...s.data.state, nextInstance: s.data.state.nextInstance + 5 } };
    const forged = [...envs];
    forged[at] = { ...s, data: forgedData };
    const report = await replayJournal(forged);
    expect(report.divergence).toMatchObject({ seq: s.seq, command: 'snapshot' });
  });

  it('starts from the whole journal when it holds no snapshot', async () => {
    const journal = await run([{ op: 'negotiate', tenant: 't1', app: 'a', fn: 'fsw', kind: 'sw', good: true }], 0);
    const envs = await all(journal);
    expect(envs.some((e) => e.type === 'state.snapshot')).toBe(false); // snapshotEvery 0: none, not even at stop
    const r = await restoreState(journal);
    expect(r).toMatchObject({ snapshotSeq: null, folded: envs.length });
    same(r.state, fold(envs.map(eventOf)));
  });
});
