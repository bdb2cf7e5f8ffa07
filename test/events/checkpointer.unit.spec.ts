/**
 * vFunD's checkpoints end to end on a memory journal: the checkpointer journals
 * signed tree heads (every N events, at stop), resumes from the latest one,
 * hands them to witnesses (retrying one that failed), and `verifyCheckpoints`
 * catches every forgery of a writer without the private key.
 */
import { fc, test } from '@fast-check/vitest';
import { bytesToHex } from '@noble/hashes/utils.js';
import { describe, expect } from 'vitest';
import { replayJournal } from '../../src/actors/replay.js';
import { VFunD } from '../../src/actors/vfund.js';
import { privateKeyFromSeed, signerOf, ed25519Verify } from '../../src/events/adapters/checkpoint-key.js';
import { hashEnvelope } from '../../src/events/canonical.js';
import { verifyChain } from '../../src/events/chain.js';
import { journalOrigin, parseCheckpoint, signCheckpoint } from '../../src/events/checkpoint.js';
import { Checkpointer } from '../../src/events/checkpointer.js';
import { checkedAgainstCheckpoints, verifyCheckpoints, type WitnessNotes } from '../../src/events/checkpoint-verify.js';
import { JournalCorruptError } from '../../src/errors.js';
import { GENESIS_HASH, type Envelope } from '../../src/events/envelope.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { eventLeafHash, MerkleBuilder } from '../../src/events/merkle.js';
import type { NoteSigner } from '../../src/events/signed-note.js';
import type { Witness } from '../../src/events/witness.js';
import { counterIds, RecordingRuntime, steppingClock, testSnapshot } from '../actors/helpers.js';

const HOST = 'h';
const keyOf = (fill: number): NoteSigner => signerOf(journalOrigin(HOST), privateKeyFromSeed(new Uint8Array(32).fill(fill)));
const vfundKey = keyOf(1);
const forgerKey = keyOf(2);

/** A witness in memory; fails its first `failures` puts. */
function memoryWitness(failures = 0): Witness & { held: string[] } {
  const held: string[] = [];
  let left = failures;
  return {
    url: 'memory:witness',
    held,
    async put(_origin, _size, note) {
      if (left-- > 0) throw new Error('witness down');
      held.push(note);
    },
    notes: async () => [...held],
    close: async () => undefined,
  };
}

async function readAll(journal: MemoryJournal): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for await (const e of journal.read()) out.push(e);
  return out;
}

/** One vFunD run on `journal`: `refusals` journaled events, then stop; checkpoints every `every`. */
async function run(journal: MemoryJournal, refusals: number, opts: { every?: number; witnesses?: Witness[]; key?: NoteSigner; log?: string[] } = {}): Promise<Checkpointer> {
  const clock = steppingClock();
  const d = await VFunD.start({ journal, runtime: new RecordingRuntime(), config: testSnapshot, host: HOST, clock, ids: counterIds() });
  const cp = new Checkpointer({ journal, host: HOST, signer: opts.key ?? vfundKey, clock, every: opts.every ?? 4, intervalMs: 0, witnesses: opts.witnesses ?? [], log: (l) => opts.log?.push(l) });
  await cp.start(d);
  for (let i = 0; i < refusals; i++) await d.refuse({ tenant: 't1', op: 'negotiate', reason: 'credential', detail: `attempt ${i}` });
  await d.settled();
  await cp.checkpointNow(); // the scheduled ones have landed
  await d.stop('test');
  await cp.stop();
  return cp;
}

const verify = (envs: Envelope[], witnesses: WitnessNotes[] = [], key: NoteSigner | null = vfundKey) => verifyCheckpoints(envs, { key, witnesses, verify: ed25519Verify });
const witnessed = (w: { held: string[] }): WitnessNotes => ({ url: 'memory:witness', notes: w.held });

/**
 * Re-seals `envs` from index `from` on (seq, prevHash, hash) as a forger would. With `signer`,
 * checkpoints after `from` are remade over the forged tree and signed with it; without, kept as they are.
 */
function rechain(envs: readonly Envelope[], from: number, signer: NoteSigner | null): Envelope[] {
  const out = envs.slice(0, from);
  const b = new MerkleBuilder();
  for (const e of out) b.append(eventLeafHash(e.hash));
  for (const e of envs.slice(from)) {
    // The changed event itself is kept as changed; the checkpoints after it are remade.
    const { hash: _old, ...rest } = e as Envelope & Record<string, unknown>;
    const unsealed: Record<string, unknown> = { ...rest, seq: out.length + 1, prevHash: out.at(-1)?.hash ?? GENESIS_HASH };
    if (e.type === 'journal.checkpoint' && signer !== null && out.length > from) {
      const size = out.length;
      const root = b.root();
      const time = parseCheckpoint(e.data.note.slice(0, e.data.note.lastIndexOf('\n\n') + 1)).time;
      const note = signCheckpoint({ origin: journalOrigin(e.host), size, root, time }, signer);
      unsealed['data'] = { size, root: bytesToHex(root), note, frontier: b.frontier().nodes.map((h) => bytesToHex(h)) };
    }
    const env = { ...unsealed, hash: hashEnvelope(unsealed) } as Envelope;
    out.push(env);
    b.append(eventLeafHash(env.hash));
  }
  return out;
}

describe('checkpointer', () => {
  test('journals a checkpoint every N events and after vfund.stopped; every one verifies; replay reproduces them', async () => {
    const journal = new MemoryJournal();
    const witness = memoryWitness();
    await run(journal, 10, { every: 4, witnesses: [witness] });
    const envs = await readAll(journal);
    const cps = envs.filter((e) => e.type === 'journal.checkpoint');
    expect(cps.length).toBeGreaterThanOrEqual(3);
    for (const c of cps) expect(c).toMatchObject({ tenant: null, app: null, fn: null, instance: null, data: { size: c.seq - 1 } });
    expect(envs.at(-2)!.type).toBe('vfund.stopped');
    expect(envs.at(-1)!.type).toBe('journal.checkpoint');
    expect(witness.held).toEqual(cps.map((c) => (c.type === 'journal.checkpoint' ? c.data.note : '')));
    expect(await verifyChain(envs)).toMatchObject({ ok: true });
    const report = await verify(envs, [witnessed(witness)]);
    expect(report).toMatchObject({ ok: true, checkpoints: cps.length, covered: envs.length - 1, uncovered: 0, witnessed: cps.length, signaturesChecked: true });
    expect((await replayJournal(envs)).divergence).toBeNull();
  });

  test('resumes from the latest checkpoint: the next run continues the same tree', async () => {
    const journal = new MemoryJournal();
    await run(journal, 5);
    const reads: number[] = [];
    const read = journal.read.bind(journal);
    journal.read = (o) => {
      reads.push(o?.fromSeq ?? 1);
      return read(o);
    };
    const before = (await readAll(journal)).length;
    const cp = await run(journal, 3);
    // vFunD's fold and the lookup read from seq 1; the tree then reads only from the latest checkpoint (a leaf of the next tree) on.
    expect(reads.filter((s) => s !== 1)).toEqual([before]);
    const envs = await readAll(journal);
    expect(cp.size).toBe(envs.length);
    expect(await verify(envs)).toMatchObject({ ok: true, uncovered: 0 });
  });

  test('the timer checkpoints what is not yet covered, and only that (not its own checkpoint again)', async () => {
    const journal = new MemoryJournal();
    const clock = steppingClock();
    const d = await VFunD.start({ journal, runtime: new RecordingRuntime(), config: testSnapshot, host: HOST, clock, ids: counterIds() });
    const cp = new Checkpointer({ journal, host: HOST, signer: vfundKey, clock, every: 1000, intervalMs: 10 });
    await cp.start(d);
    await d.refuse({ tenant: 't1', op: 'negotiate', reason: 'credential', detail: 'once' });
    await expect.poll(async () => (await readAll(journal)).filter((e) => e.type === 'journal.checkpoint').length, { timeout: 5000 }).toBe(1);
    await new Promise((r) => setTimeout(r, 100)); // ten more ticks: nothing new to cover
    const envs = await readAll(journal);
    expect(envs.map((e) => e.type)).toEqual(['vfund.started', 'request.refused', 'journal.checkpoint']);
    await d.stop('test');
    await cp.stop();
    expect((await readAll(journal)).map((e) => e.type).slice(-2)).toEqual(['vfund.stopped', 'journal.checkpoint']);
  });

  test('a witness that fails is retried at the next checkpoint; vFunD never waits for it', async () => {
    const journal = new MemoryJournal();
    const witness = memoryWitness(1);
    const log: string[] = [];
    await run(journal, 9, { every: 4, witnesses: [witness], log });
    expect(log.some((l) => /witness memory:witness: cannot take the checkpoint of size \d+ \(witness down\)/.test(l))).toBe(true);
    const envs = await readAll(journal);
    const notes = envs.flatMap((e) => (e.type === 'journal.checkpoint' ? [e.data.note] : []));
    expect(witness.held).toEqual(notes);
  });
});

describe('verifyCheckpoints catches forgeries', async () => {
  const journal = new MemoryJournal();
  const witness = memoryWitness();
  await run(journal, 12, { every: 4, witnesses: [witness] });
  const honest = await readAll(journal);
  const lastCp = honest.length - 1; // the final checkpoint, after vfund.stopped

  test('the honest journal passes with key and witness', async () => {
    expect(await verify(honest, [witnessed(witness)])).toMatchObject({ ok: true, problems: [] });
  });

  test('a tail rewritten with recomputed hashes and re-signed checkpoints (another key)', async () => {
    const i = lastCp - 3;
    const changed = honest.map((e, k) => (k === i ? ({ ...e, tenant: 't2' } as Envelope) : e));
    const forged = rechain(changed, i, forgerKey);
    expect(await verifyChain(forged)).toMatchObject({ ok: true });
    const report = await verify(forged, [witnessed(witness)]);
    expect(report.ok).toBe(false);
    expect(report.problems.join('\n')).toMatch(new RegExp(`checkpoint at seq ${lastCp + 1} \\(size ${lastCp}\\): signature`));
    expect(report.problems.join('\n')).toMatch(/witness memory:witness: checkpoint of size \d+: .*not consistent/);
    // Without re-signing, the old checkpoint's root no longer matches.
    const kept = await verify(rechain(changed, i, null));
    expect(kept.problems.join('\n')).toMatch(/is not the tree of the events before it/);
  });

  test('the whole journal rewritten and re-signed', async () => {
    const changed = honest.map((e) => (e.type === 'request.refused' ? ({ ...e, tenant: 't3', data: { ...e.data, tenant: 't3' } } as Envelope) : e));
    const forged = rechain(changed, 0, forgerKey);
    expect(await verifyChain(forged)).toMatchObject({ ok: true });
    expect((await verify(forged)).problems[0]).toMatch(/checkpoint at seq \d+ \(size \d+\): signature: no signature by a trusted key/);
    expect((await verify(forged, [witnessed(witness)], null)).ok).toBe(false); // even without the key, against the witness
  });

  test('checkpoints stripped: passes alone, fails against the witness', async () => {
    const stripped = rechain(honest.filter((e) => e.type !== 'journal.checkpoint'), 0, null);
    expect(await verify(stripped)).toMatchObject({ ok: true, checkpoints: 0, uncovered: stripped.length });
    const report = await verify(stripped, [witnessed(witness)]);
    expect(report.ok).toBe(false);
    expect(report.problems.join('\n')).toMatch(/witness memory:witness: checkpoint of size \d+: (the journal is not consistent|the journal has only)/);
  });

  test('a checkpoint with a bad signature', async () => {
    const i = honest.findIndex((e) => e.type === 'journal.checkpoint');
    const cp = honest[i]!;
    if (cp.type !== 'journal.checkpoint') throw new Error('no checkpoint');
    const sig = cp.data.note.lastIndexOf(' ') + 20; // in the signature, past the 4-byte key ID
    const note = cp.data.note.slice(0, sig) + (cp.data.note[sig] === 'A' ? 'B' : 'A') + cp.data.note.slice(sig + 1);
    const forged = rechain(honest.map((e, k) => (k === i ? ({ ...cp, data: { ...cp.data, note } } as Envelope) : e)), i, null);
    const problems = (await verify(forged)).problems;
    expect(problems[0]).toMatch(new RegExp(`^checkpoint at seq ${i + 1} \\(size ${i}\\): signature: the signature by h/vfund \\(key ID [0-9a-f]{8}\\) does not verify$`));
    expect(problems.slice(1).every((p) => /is not the tree of the events before it/.test(p))).toBe(true); // the later ones covered the changed event
  });

  test('a witness of another journal', async () => {
    const other = new MemoryJournal();
    const otherWitness = memoryWitness();
    await run(other, 12, { every: 4, witnesses: [otherWitness], key: keyOf(3) });
    expect((await verify(honest, [witnessed(otherWitness)])).problems.join('\n')).toMatch(/signature: no signature by a trusted key/);
    const sameKey = new MemoryJournal();
    const sameKeyWitness = memoryWitness();
    await run(sameKey, 7, { every: 4, witnesses: [sameKeyWitness] });
    expect((await verify(honest, [witnessed(sameKeyWitness)])).problems.join('\n')).toMatch(/not consistent/);
  });

  const fieldChange = fc.oneof(
    fc.tuple(fc.constantFrom('id', 'at', 'host'), fc.string({ minLength: 1, maxLength: 12 })),
    fc.tuple(fc.constantFrom('tenant', 'app', 'fn', 'instance', 'causationId', 'correlationId'), fc.option(fc.string({ maxLength: 12 }), { nil: null })),
    fc.tuple(fc.constant('v'), fc.integer({ min: 2, max: 9 })),
    fc.tuple(fc.constant('type'), fc.constantFrom('vfund.stopped', 'service.failed', 'request.refused')),
    fc.tuple(fc.constant('data'), fc.jsonValue({ maxDepth: 2 })),
  );
  /** What the reading commands see through the guard: the envelopes yielded, and the error that stopped them. */
  async function throughGuard(envs: readonly Envelope[], key: NoteSigner | null) {
    const seen: Envelope[] = [];
    const source = (async function* () {
      yield* envs;
    })();
    try {
      for await (const e of checkedAgainstCheckpoints(source, { key, verify: ed25519Verify, location: 'memory:journal' })) seen.push(e);
      return { seen, error: null };
    } catch (err) {
      return { seen, error: err };
    }
  }

  test('the guard of the reading commands passes the honest journal whole', async () => {
    expect(await throughGuard(honest, vfundKey)).toEqual({ seen: honest, error: null });
    expect(await throughGuard(honest, null)).toEqual({ seen: honest, error: null });
  });

  test.prop([fc.integer({ min: 0, max: lastCp - 1 }), fieldChange, fc.boolean()])(
    'the guard of the reading commands (audit, summary, replay) stops a re-chained journal at the first checkpoint from the change on',
    async (i, [field, value], resign) => {
      const changed = honest.map((e, k) => (k === i ? ({ ...e, [field]: value } as Envelope) : e));
      if (hashEnvelope({ ...changed[i]!, hash: undefined }) === hashEnvelope({ ...honest[i]!, hash: undefined })) return; // no change
      const forged = rechain(changed, i, resign ? forgerKey : null);
      // The first checkpoint after the change fails, or the changed event itself when it is a checkpoint the change broke.
      const nextCp = forged.findIndex((e, k) => k > i && e.type === 'journal.checkpoint');
      const { seen, error } = await throughGuard(forged, vfundKey);
      expect(error).toBeInstanceOf(JournalCorruptError);
      const at = /the checkpoint at seq (\d+) \(size \d+\) does not hold: /.exec((error as Error).message);
      expect(at, (error as Error).message).not.toBeNull();
      const seq = Number(at![1]);
      expect(seq === nextCp + 1 || (seq === i + 1 && forged[i]!.type === 'journal.checkpoint')).toBe(true);
      expect(seen).toHaveLength(seq - 1); // everything before it was shown, nothing after
      if (!resign) expect((await throughGuard(forged, null)).error).toBeInstanceOf(JournalCorruptError); // the root alone, without the key
    },
  );

  test.prop([fc.integer({ min: 0, max: lastCp - 1 }), fieldChange])(
    'any field of any covered event changed and the journal re-chained and re-signed: fails with key and witness',
    async (i, [field, value]) => {
      const changed = honest.map((e, k) => (k === i ? ({ ...e, [field]: value } as Envelope) : e));
      if (hashEnvelope({ ...changed[i]!, hash: undefined }) === hashEnvelope({ ...honest[i]!, hash: undefined })) return; // no change
      const forged = rechain(changed, i, forgerKey);
      expect((await verify(forged, [witnessed(witness)])).ok).toBe(false);
    },
  );
});
