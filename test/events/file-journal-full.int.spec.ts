/**
 * The file journal on a file system that fills up, for real (a small tmpfs
 * filled until ENOSPC): appends wait and are written in order once space
 * returns, fail-fast appends are refused at once and never stored, the
 * outage is reported once when it starts and once when it ends, and the file
 * never keeps a partial line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JournalUnavailableError } from '../../src/errors.js';
import { FileJournal, verifyFile } from '../../src/events/adapters/file/index.js';
import { sealEnvelope } from '../../src/events/chain.js';
import { GENESIS_HASH, type Envelope, type PendingEvent } from '../../src/events/envelope.js';
import type { JournalAvailability } from '../../src/events/journal.js';
import { Recorder } from '../../src/events/recorder.js';
import { mountTmpfs, type Tmpfs } from '../support/tmpfs.js';
import { counterIds, pending, steppingClock } from './arbitraries.js';
import { readAll } from './journal-contract.js';

let fs: Tmpfs;
let n = 0;
beforeAll(async () => {
  fs = await mountTmpfs(1 << 20);
});
afterAll(async () => {
  await fs.unmount();
});

/** An event larger than a page: a full tmpfs cannot take it in the slack of the file's last page. */
const big = (i: number): PendingEvent => ({ ...pending(i), event: { type: 'vfund.stopped', data: { reason: `${i}:`.padEnd(6000, 'x') } } });

/** `count` big events sealed into a chain from genesis. */
function sealBig(count: number): Envelope[] {
  const out: Envelope[] = [];
  for (let i = 0; i < count; i++) {
    const prev = out.at(-1);
    out.push(sealEnvelope(big(i), { seq: i + 1, prevHash: prev?.hash ?? GENESIS_HASH, id: `b-${i + 1}`, at: new Date(Date.UTC(2026, 0, 1) + i).toISOString(), host: 'h1' }));
  }
  return out;
}

async function setup(options: { maxWaitingBytes?: number } = {}) {
  const path = join(fs.dir, `j${++n}.ndjson`);
  const journal = await FileJournal.open(path, options);
  const recorder = await Recorder.open({ journal, clock: steppingClock(), ids: counterIds(`j${n}`), host: 'h1' });
  const changes: { change: JournalAvailability; file: Buffer }[] = [];
  // The file as it is when the journal reports the change (the listener runs inside the journal's loop).
  journal.onAvailabilityChange((change) => changes.push({ change, file: readFileSync(path) }));
  const next = (available: boolean) =>
    new Promise<JournalAvailability>((resolve) => {
      const off = journal.onAvailabilityChange((c) => {
        if (c.available === available) {
          off();
          resolve(c);
        }
      });
    });
  return { path, journal, recorder, changes, next };
}

describe('file journal on a full file system', () => {
  it('appends wait while the disk is full and are written in order once space returns; fail-fast ones are refused at once', async () => {
    const { path, journal, recorder, changes, next } = await setup();
    const before = await recorder.record([big(0), big(1)]);
    await fs.fill();
    const down = next(false);
    const waiting = recorder.record([big(2)]); // a release, say: it must not be lost
    const c = await down;
    expect(c).toMatchObject({ available: false, reason: expect.stringContaining('ENOSPC'), waiting: 1 });
    expect(journal.available()).toBe(false);
    // No partial line: the failed write was cut back to the last good line before the report.
    const { file } = changes[0]!;
    expect(file.at(-1)).toBe(0x0a);
    expect(file.toString('utf8').trim().split('\n')).toHaveLength(2);

    // A fail-fast append (a new negotiation) is refused at once, naming no path.
    const refused = await recorder.record([pending(90)], { failFast: true }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(JournalUnavailableError);
    expect((refused as Error).message).not.toContain(fs.dir);
    // Another waiting append queues behind the first.
    const second = recorder.record([big(3)]);

    const up = next(true);
    await fs.unfill();
    expect(await up).toMatchObject({ available: true, reason: null, outageMs: expect.any(Number) });
    const [w1, w2] = await Promise.all([waiting, second]);
    expect([w1![0]!.seq, w2![0]!.seq]).toEqual([3, 4]);
    expect(changes.map((x) => x.change.available)).toEqual([false, true]); // once down, once up

    const report = await verifyFile(path);
    expect(report).toMatchObject({ ok: true, count: 4 });
    const all = await readAll(journal);
    expect(all.map((e) => e.id)).toEqual([...before, ...w1!, ...w2!].map((e) => e.id));
    expect(all.map((e) => (e.data as { reason: string }).reason.slice(0, 2))).toEqual(['0:', '1:', '2:', '3:']);
    await journal.close();
  });

  it('a fail-fast append that finds the disk full is refused and not stored; a probe sees the space come back', async () => {
    const { path, journal, recorder, changes, next } = await setup();
    await recorder.record([big(0)]);
    await fs.fill();
    const down = next(false);
    await expect(recorder.record([big(1)], { failFast: true })).rejects.toBeInstanceOf(JournalUnavailableError);
    await down;
    expect(journal.waiting).toBe(0);
    const up = next(true);
    await fs.unfill();
    await up; // nothing was waiting: the probe found the space
    expect(journal.available()).toBe(true);
    const after = await recorder.record([big(2)], { failFast: true });
    expect(after[0]!.seq).toBe(2); // the refused one took no seq
    expect(changes.map((x) => x.change.available)).toEqual([false, true]);
    expect(await verifyFile(path)).toMatchObject({ ok: true, count: 2 });
    await journal.close();
  });

  it('while the disk is full, what waits is bounded: past maxWaitingBytes an append is refused at once', async () => {
    const { journal, next } = await setup({ maxWaitingBytes: 20_000 });
    const envs = sealBig(6);
    await fs.fill();
    const down = next(false);
    const first = journal.append(envs.slice(0, 1));
    await down;
    const second = journal.append(envs.slice(1, 3)); // appends chain on what waits: ~18 KB wait now
    await expect(journal.append(envs.slice(3))).rejects.toMatchObject({ code: 'JOURNAL_UNAVAILABLE' });
    await fs.unfill();
    await Promise.all([first, second]);
    expect(await readAll(journal)).toEqual(envs.slice(0, 3));
    await journal.append(envs.slice(3)); // refused means not stored: the chain goes on from 3
    await journal.close();
  });

  it('close() during an outage waits for what was accepted (nothing is dropped)', async () => {
    const { path, journal, recorder, next } = await setup();
    await fs.fill();
    const down = next(false);
    const waiting = recorder.record([big(0)]);
    await down;
    let closed = false;
    const closing = journal.close().then(() => (closed = true));
    await expect(journal.append(sealBig(1))).rejects.toMatchObject({ code: 'JOURNAL_CLOSED' });
    expect(closed).toBe(false);
    await fs.unfill();
    await closing;
    await waiting;
    expect(await verifyFile(path)).toMatchObject({ ok: true, count: 1 });
  });
});
