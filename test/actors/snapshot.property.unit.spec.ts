/**
 * Snapshots: a state started from any snapshot and folded over the events
 * after it is the state of the full fold, for generated command sequences with
 * snapshots at generated points (a small `snapshotEvery`, stops and restarts,
 * crashes without a stop), on the memory journal and on the same journal as a
 * file; and a full replay recomputes every snapshot.
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
import type { VFunDState } from '../../src/actors/state.js';
import { VFunD } from '../../src/actors/vfund.js';
import { FileJournal } from '../../src/events/adapters/file/index.js';
import { canonicalJson, encodeEnvelope } from '../../src/events/canonical.js';
import type { Kind, StateSnapshotTaken } from '../../src/events/catalogue.js';
import { eventOf, type Envelope } from '../../src/events/envelope.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { counterIds, RecordingRuntime, SECRETS, steppingClock, testSnapshot } from './helpers.js';

type TenantId = keyof typeof SECRETS;
type Op =
  | { op: 'negotiate'; tenant: TenantId; app: string; fn: string; kind: Kind; good: boolean }
  | { op: 'activate'; pick: number }
  | { op: 'release'; pick: number; owner: boolean }
  | { op: 'crash'; pick: number }
  | { op: 'restart'; clean: boolean };

const tenantArb = fc.constantFrom<TenantId>('t1', 't2', 't3');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('negotiate' as const), tenant: tenantArb, app: fc.constantFrom('a', 'b', 'c'), fn: fc.constantFrom('fhw', 'fsw', 'flaky', 'nope'), kind: fc.constantFrom<Kind>('hw', 'sw'), good: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('activate' as const), pick: fc.nat(20) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('release' as const), pick: fc.nat(20), owner: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('crash' as const), pick: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('restart' as const), clean: fc.boolean() }) },
);

const same = (a: VFunDState, b: VFunDState): void => expect(canonicalJson(snapshotOf(a, 0))).toBe(canonicalJson(snapshotOf(b, 0)));

async function all(journal: { read(): AsyncIterable<Envelope> }): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for await (const e of journal.read()) out.push(e);
  return out;
}

/** Runs the ops against vFunDs on one memory journal (a restart starts a new one on it); returns the journal. */
async function run(ops: readonly Op[], snapshotEvery: number): Promise<MemoryJournal> {
  const journal = new MemoryJournal();
  const clock = steppingClock();
  const ids = counterIds();
  const start = async () => {
    const runtime = new RecordingRuntime();
    return { runtime, d: await VFunD.start({ journal, runtime, config: testSnapshot, host: 'h', clock, ids, snapshotEvery }) };
  };
  let { d, runtime } = await start();
  const acked: { instance: string; tenant: TenantId }[] = [];
  const pick = (n: number) => (acked.length === 0 ? undefined : acked[n % acked.length]);
  for (const o of ops) {
    if (o.op === 'negotiate') {
      const a = await d.negotiate({ tenant: o.tenant, credential: o.good ? SECRETS[o.tenant] : 'wrong-secret', app: o.app, fn: o.fn, kind: o.kind });
      if (a.ok) acked.push({ instance: a.instance, tenant: o.tenant });
    } else if (o.op === 'restart') {
      if (o.clean) await d.stop();
      else await d.settled(); // a crash: the next vFunD recovers what this one left live
      ({ d, runtime } = await start());
    } else {
      const p = pick(o.pick);
      if (p === undefined) continue;
      if (o.op === 'activate') await d.activate({ tenant: p.tenant, credential: SECRETS[p.tenant], instance: p.instance });
      else if (o.op === 'release') {
        const tenant: TenantId = o.owner ? p.tenant : p.tenant === 't1' ? 't2' : 't1';
        await d.release({ tenant, credential: SECRETS[tenant], instance: p.instance });
      } else if (runtime.crash(p.instance)) await d.settled();
    }
  }
  await d.stop();
  return journal;
}

const dir = mkdtempSync(join(tmpdir(), 'vfun-snapshot-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

describe('state snapshots', () => {
  test.prop([fc.array(opArb, { maxLength: 40 }), fc.integer({ min: 1, max: 12 })], { numRuns: 40 })(
    'any snapshot + the events after it = the full fold; replay recomputes every snapshot',
    async (ops, every) => {
      const journal = await run(ops, every);
      const envs = await all(journal);
      const full = fold(envs.map(eventOf));
      const snapshots = envs.filter((e): e is Envelope<StateSnapshotTaken> => e.type === 'state.snapshot');
      // At stop, one when `every` events followed the last.
      const stopped = envs.findLastIndex((e) => e.type === 'vfund.stopped');
      const before = envs.slice(0, stopped + 1).findLast((e) => e.type === 'state.snapshot')?.seq ?? 0;
      expect(envs.at(-1)!.type).toBe(envs[stopped]!.seq - before >= every ? 'state.snapshot' : 'vfund.stopped');
      for (const s of snapshots) {
        expect(s.data.seq).toBe(s.seq - 1);
        same(stateOfSnapshot(s.data), fold(envs.slice(0, s.seq - 1).map(eventOf)));
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
    },
  );

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
