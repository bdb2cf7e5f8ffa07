/**
 * Reading a journal file from its last envelope of a type (FileJournal.readFromLast, file/last-line.ts):
 * exactly the suffix from the last snapshot line, whatever the lines around
 * it (generated events, lines longer than the backwards chunk, a torn last
 * record), each line checked.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { FileJournal } from '../../src/events/adapters/file/index.js';
import { readFromLast } from '../../src/events/journal.js';
import { encodeEnvelope } from '../../src/events/canonical.js';
import { SNAPSHOT_FORMAT } from '../../src/events/catalogue.js';
import { sealEnvelope } from '../../src/events/chain.js';
import { GENESIS_HASH, HOST_SCOPE, type Envelope, type PendingEvent } from '../../src/events/envelope.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { pendingArb } from './arbitraries.js';

const opened: FileJournal[] = [];
afterAll(async () => {
  for (const j of opened) await j.close();
});

/** The file journal at `path`, opened read-only, read from its last envelope of `type`. */
async function fromLast(path: string, type: 'state.snapshot'): Promise<AsyncIterable<Envelope> | null> {
  const journal = await FileJournal.open(path, { readOnly: true });
  opened.push(journal);
  return journal.readFromLast(type);
}

const dir = mkdtempSync(join(tmpdir(), 'vfun-file-tail-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function snapshotEvent(nextInstance: number): PendingEvent {
  return {
    event: { type: 'state.snapshot', data: { format: SNAPSHOT_FORMAT, seq: 0, state: { host: 'h', config: null, running: true, instances: {}, nextInstance } } },
    scope: HOST_SCOPE,
    causationId: null,
    correlationId: null,
  };
}

function seal(pending: readonly PendingEvent[]): Envelope[] {
  const out: Envelope[] = [];
  let prev = GENESIS_HASH;
  pending.forEach((p, i) => {
    const env = sealEnvelope(p, { seq: i + 1, prevHash: prev, id: `e${i + 1}`, at: '2026-01-01T00:00:00.000Z', host: 'h' });
    out.push(env);
    prev = env.hash;
  });
  return out;
}

function write(envs: readonly Envelope[], tail = ''): string {
  const path = join(dir, `j${n++}.ndjson`);
  writeFileSync(path, envs.map((e) => encodeEnvelope(e).canonical + '\n').join('') + tail);
  return path;
}

async function collect(it: AsyncIterable<Envelope> | null): Promise<number[] | null> {
  if (it === null) return null;
  const seqs: number[] = [];
  for await (const e of it) seqs.push(e.seq);
  return seqs;
}

/** Seqs from the last snapshot on, or null. */
function expected(envs: readonly Envelope[]): number[] | null {
  const last = envs.findLastIndex((e) => e.type === 'state.snapshot');
  return last === -1 ? null : envs.slice(last).map((e) => e.seq);
}

describe('reading a journal file from its last snapshot', () => {
  test.prop([fc.array(fc.oneof({ weight: 5, arbitrary: pendingArb }, { weight: 1, arbitrary: fc.nat(9).map(snapshotEvent) }), { maxLength: 30 }), fc.boolean()], { numRuns: 60 })(
    'gives exactly the envelopes from the last snapshot line, as the memory journal does; a torn last record is not read',
    async (pending, torn) => {
      const envs = seal(pending);
      const path = write(envs, torn ? '{"app":null,"at":"2026' : '');
      const want = expected(envs);
      expect(await collect(await fromLast(path, 'state.snapshot'))).toEqual(want);
      expect(await collect(await readFromLast(new MemoryJournal(envs), 'state.snapshot'))).toEqual(want);
    },
  );

  it('finds it across lines longer than a read chunk, before and after it', async () => {
    const big = (k: number): PendingEvent => ({
      event: { type: 'request.refused', data: { tenant: 't', op: 'negotiate', reason: 'malformed', detail: `"type":"state.snapshot","v":${'x'.repeat(1_500_000 + k)}` } },
      scope: { tenant: 't', app: null, fn: null, instance: null },
      causationId: null,
      correlationId: null,
    });
    const envs = seal([big(1), snapshotEvent(3), big(2), big(3), snapshotEvent(4), big(4)]);
    expect(await collect(await fromLast(write(envs), 'state.snapshot'))).toEqual([5, 6]);
    expect(await collect(await fromLast(write(envs.slice(0, 4)), 'state.snapshot'))).toEqual([2, 3, 4]);
    expect(await fromLast(write([...envs.slice(0, 1)]), 'state.snapshot')).toBeNull();
    // A snapshot line itself longer than a chunk.
    const long = snapshotEvent(2);
    const state = { host: 'h'.repeat(2_500_000), config: null, running: true, instances: {}, nextInstance: 2 };
    const longSnapshot = { ...long, event: { type: 'state.snapshot', data: { format: SNAPSHOT_FORMAT, seq: 0, state } } } as PendingEvent;
    expect(await collect(await fromLast(write(seal([big(5), longSnapshot, big(6), snapshotEvent(1), longSnapshot, big(7)])), 'state.snapshot'))).toEqual([5, 6]);
    expect(await collect(await fromLast(write(seal([longSnapshot])), 'state.snapshot'))).toEqual([1]);
  });

  it('checks every line it reads: a line after the snapshot whose hash does not match is reported', async () => {
    const envs = seal([snapshotEvent(1), snapshotEvent(2), snapshotEvent(3)]);
    const path = write(envs.slice(0, 2));
    appendFileSync(path, encodeEnvelope({ ...envs[2]!, data: { ...envs[2]!.data, format: 2 } }).canonical + '\n'); // the original's hash
    expect(readFileSync(path, 'utf8').split('\n')).toHaveLength(4);
    // The last line is a snapshot with a bad hash: reading starts there, and refuses it.
    await expect(collect(await fromLast(path, 'state.snapshot'))).rejects.toThrow(/hash .* does not match its content/);
    const refused: PendingEvent = { event: { type: 'request.refused', data: { tenant: 't', op: 'x', reason: 'malformed', detail: '' } }, scope: HOST_SCOPE, causationId: null, correlationId: null };
    const two = seal([snapshotEvent(1), refused]);
    const path2 = write(two.slice(0, 1));
    appendFileSync(path2, encodeEnvelope({ ...two[1]!, prevHash: 'f'.repeat(64) }).canonical + '\n');
    await expect(collect(await fromLast(path2, 'state.snapshot'))).rejects.toThrow(/line \d+ is damaged after seq 1: prevHash/);
  });
});
