/**
 * A large, realistic journal file, written fast for the start-up benchmark
 * (and to time `vfun audit` on): instances negotiated, activated and
 * released by four tenants, interleaved (a few live at a time), with
 * negotiation nacks (quota, capacity, credential), refused control requests
 * and release nacks among them; optionally a `state.snapshot` a given number
 * of events before the end. Envelopes are sealed here (canonical encoding,
 * SHA-256 with node:crypto: the same hash as the recorder's sealEnvelope) and
 * written a batch at a time.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { parseConfig, toSnapshot } from '../src/actors/config.js';
import { fold } from '../src/actors/evolve.js';
import { snapshotOf } from '../src/actors/snapshot.js';
import { encodeEnvelope } from '../src/events/canonical.js';
import type { VFunEvent } from '../src/events/catalogue.js';
import { GENESIS_HASH, type Scope } from '../src/events/envelope.js';
import { privateKeyFromSeed, signerOf } from '../src/events/adapters/checkpoint-key.js';
import { journalOrigin, signCheckpoint } from '../src/events/checkpoint.js';
import { eventLeafHash, MerkleBuilder } from '../src/events/merkle.js';

export const TENANTS = ['acme', 'globex', 'initech', 'umbrella'] as const;
export const SECRET = 'bench-secret-of-every-tenant';
/** Events between two signed checkpoints (vFunD's default). */
const CHECKPOINT_EVERY = 1000;

/** The configuration the journal's vfund.started holds (and `vfun up` may start with). */
export const benchConfig = parseConfig({
  tenants: TENANTS.map((id) => ({ id, secret: SECRET, maxInstances: 8 })),
  functions: [
    { name: 'crc32', kinds: { hw: { slots: 4, driver: 'sim-fpga:crc32' }, sw: { slots: 16, driver: 'crc32' } } },
    { name: 'sha256', kinds: { sw: { slots: 16, driver: 'sha256' } } },
  ],
  regionCapacity: 4096,
});

export interface JournalSpec {
  readonly path: string;
  readonly events: number;
  /** Events after the snapshot (null: no snapshot). */
  readonly snapshotBeforeEnd: number | null;
  readonly host?: string;
}

interface Live {
  readonly id: string;
  readonly scope: Scope;
  /** Next step: 0 activation.started, 1 activation.acked, 2 released. */
  step: number;
  readonly events: VFunEvent[];
}

/** A deterministic pseudo-random source (xorshift32). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

/** Writes the journal; returns the seq of its snapshot (null: none). */
export async function writeBenchJournal(spec: JournalSpec): Promise<number | null> {
  const host = spec.host ?? 'bench-host';
  const config = toSnapshot(benchConfig);
  const fh = await open(spec.path, 'w', 0o600);
  const random = rng(42);
  let seq = 0;
  let prev = GENESIS_HASH;
  let batch: string[] = [];
  let cmd = 0;
  let nextInstance = 1;
  const live: Live[] = [];
  let snapshotSeq: number | null = null;
  const snapshotAt = spec.snapshotBeforeEnd === null ? -1 : spec.events - spec.snapshotBeforeEnd;
  // Signed checkpoints every CHECKPOINT_EVERY events, as vFunD journals them (a fixed key: the bench's own).
  const signer = signerOf(journalOrigin(host), privateKeyFromSeed(new Uint8Array(32).fill(7)));
  const tree = new MerkleBuilder();
  let lastCheckpoint = 0;

  const emit = async (event: VFunEvent, scope: Scope, correlationId: string | null): Promise<void> => {
    seq++;
    const unsealed = {
      id: `e${seq}`,
      type: event.type,
      v: 1,
      at: new Date(Date.UTC(2026, 0, 1) + seq * 7).toISOString(),
      host,
      tenant: scope.tenant,
      app: scope.app,
      fn: scope.fn,
      instance: scope.instance,
      seq,
      causationId: `c${++cmd}`,
      correlationId,
      prevHash: prev,
      data: event.data,
    };
    const { hashInput } = encodeEnvelope(unsealed);
    const hash = createHash('sha256').update(hashInput).digest('hex');
    // `hash` sorts between `fn` and `host`: the line is the hash input with it inserted there.
    const at = hashInput.lastIndexOf(',"host":');
    batch.push(`${hashInput.slice(0, at)},"hash":"${hash}"${hashInput.slice(at)}\n`);
    prev = hash;
    tree.append(eventLeafHash(hash));
    if (batch.length >= 8192) {
      await fh.write(batch.join(''));
      batch = [];
    }
  };
  const HOST: Scope = { tenant: null, app: null, fn: null, instance: null };
  const started: VFunEvent = { type: 'vfund.started', data: { host, config } };

  try {
    await emit(started, HOST, null);
    while (seq < spec.events) {
      if (seq + 1 === snapshotAt) {
        // The state now: the configuration and the live instances, folded from their own events.
        const state = fold([started, ...live.flatMap((l) => l.events)]);
        const data = snapshotOf({ ...state, nextInstance }, seq);
        snapshotSeq = seq + 1;
        await emit({ type: 'state.snapshot', data }, HOST, null);
        continue;
      }
      if (seq - lastCheckpoint >= CHECKPOINT_EVERY) {
        const root = tree.root();
        const time = new Date(Date.UTC(2026, 0, 1) + seq * 7).toISOString();
        const note = signCheckpoint({ origin: journalOrigin(host), size: seq, root, time }, signer);
        const frontier = tree.frontier().nodes.map((h) => Buffer.from(h).toString('hex'));
        await emit({ type: 'journal.checkpoint', data: { size: seq, root: Buffer.from(root).toString('hex'), note, frontier } }, HOST, null);
        lastCheckpoint = seq;
        continue;
      }
      const r = random();
      const tenant = TENANTS[Math.floor(random() * TENANTS.length)]!;
      const app = `app${Math.floor(random() * 6)}`;
      if (r < 0.08) {
        const reason = (['quota', 'no-capacity', 'credential'] as const)[Math.floor(random() * 3)]!;
        await emit({ type: 'negotiation.nacked', data: { tenant, app, fn: 'crc32', kind: 'hw', reason, detail: `${reason}: refused by the rules` } }, { tenant, app, fn: 'crc32', instance: null }, null);
      } else if (r < 0.1) {
        await emit({ type: 'request.refused', data: { tenant, op: 'negotiate', reason: 'replayed', detail: 'nonce already used within the last 60 s' } }, { tenant, app: null, fn: null, instance: null }, null);
      } else if (r < 0.12 && live.length > 0) {
        const l = live[0]!;
        const other = TENANTS.find((t) => t !== l.scope.tenant)!;
        await emit({ type: 'release.nacked', data: { instance: l.id, tenant: other, reason: 'not-owner', detail: `${l.id} belongs to another tenant` } }, { tenant: other, app: null, fn: null, instance: null }, null);
      } else if (live.length < 8 && (r < 0.4 || live.length === 0)) {
        const id = `i${nextInstance++}`;
        const fn = random() < 0.5 ? 'crc32' : 'sha256';
        const kind = fn === 'crc32' && random() < 0.5 ? 'hw' : 'sw';
        const scope: Scope = { tenant, app, fn, instance: id };
        const event: VFunEvent = { type: 'negotiation.acked', data: { tenant, app, fn, kind, instance: id, fallback: false } };
        live.push({ id, scope, step: 0, events: [event] });
        await emit(event, scope, id);
      } else {
        const k = Math.floor(random() * live.length);
        const l = live[k]!;
        let event: VFunEvent;
        if (l.step === 0) event = { type: 'activation.started', data: { instance: l.id, capacity: 4096 } };
        else if (l.step === 1) event = { type: 'activation.acked', data: { instance: l.id, capacity: 4096 } };
        else event = { type: 'instance.released', data: { instance: l.id, reason: 'client', stats: { calls: Math.floor(random() * 100_000), errors: {} } } };
        l.step++;
        l.events.push(event);
        if (event.type === 'instance.released') live.splice(k, 1);
        await emit(event, l.scope, l.id);
      }
    }
    await fh.write(batch.join(''));
    await fh.sync();
  } finally {
    await fh.close();
  }
  return snapshotSeq;
}
