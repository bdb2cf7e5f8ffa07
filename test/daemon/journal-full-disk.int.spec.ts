/**
 * vFunD with its file journal on a file system that fills up, for real (a
 * small tmpfs filled until ENOSPC). While the journal cannot write: the
 * negotiation that finds the disk full and every one after it is refused with
 * `journal-unavailable` at once (never hanging, never journaled), active
 * instances keep computing (the call path never touches the journal), and
 * releases decided meanwhile wait. Once the filler is deleted the journal
 * recovers by itself: everything is written in order, once, the chain
 * verifies and replays.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, toSnapshot } from '../../src/actors/config.js';
import { replayJournal } from '../../src/actors/replay.js';
import { SabRuntime } from '../../src/actors/runtime-sab.js';
import { VFunD } from '../../src/actors/vfund.js';
import type { SabRegion } from '../../src/dataplane/region.js';
import { FileJournal, verifyFile } from '../../src/events/adapters/file/index.js';
import type { Envelope } from '../../src/events/envelope.js';
import type { JournalAvailability } from '../../src/events/journal.js';
import { connect } from '../../src/guest/connect.js';
import { VFunction } from '../../src/guest/vfunction.js';
import { systemClock, randomIds } from '../../src/util/system.js';
import { mountTmpfs, type Tmpfs } from '../support/tmpfs.js';

const SECRET = 'full-disk-test-secret';
const config = toSnapshot(
  parseConfig({ tenants: [{ id: 't', secret: SECRET, maxInstances: 64 }], functions: [{ name: 'crc32', kinds: { sw: { slots: 64, driver: 'crc32' } } }] }),
);
const creds = { tenant: 't', credential: SECRET };
const hello = new TextEncoder().encode('hello');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

let fs: Tmpfs;
beforeAll(async () => {
  fs = await mountTmpfs(1 << 20);
});
afterAll(async () => {
  await fs.unmount();
});

describe('vFunD on a full disk', () => {
  it('refuses negotiations at once, keeps computing, and journals every release once when space returns', async () => {
    const path = join(fs.dir, 'journal.ndjson');
    const journal = await FileJournal.open(path);
    const changes: JournalAvailability[] = [];
    journal.onAvailabilityChange((c) => changes.push(c));
    const next = (available: boolean) =>
      new Promise<void>((resolve) => {
        const off = journal.onAvailabilityChange((c) => {
          if (c.available === available) {
            off();
            resolve();
          }
        });
      });
    const d = await VFunD.start<SabRegion>({ journal, runtime: new SabRuntime(), config, host: 'h', clock: systemClock, ids: randomIds });
    const open = (app: string) => VFunction.open(d, (r) => connect(r), { ...creds, app, fn: 'crc32', kind: 'sw' });
    const [a, b, c] = [await open('a'), await open('b'), await open('c')];
    const expected = hex(a.call(hello));
    expect(expected).toBe('86a61036');

    await fs.fill();
    // The file's last page may still hold a few events: negotiate until one finds the disk full.
    const down = next(false);
    const acked: string[] = [];
    for (let i = 0; ; i++) {
      const r = await d.negotiate({ ...creds, app: `n${i}`, fn: 'crc32', kind: 'sw' });
      if (!r.ok) {
        expect(r).toMatchObject({ reason: 'journal-unavailable' });
        break;
      }
      acked.push(r.instance);
    }
    await down;
    expect(journal.available()).toBe(false);

    // Refused at once, naming no host path, while the journal cannot write.
    const refused = await d.negotiate({ ...creds, app: 'late', fn: 'crc32', kind: 'sw' });
    expect(refused).toMatchObject({ ok: false, reason: 'journal-unavailable' });
    expect(JSON.stringify(refused)).not.toContain(fs.dir);
    // The call path never touches the journal.
    for (let i = 0; i < 1000; i++) expect(hex(a.call(hello))).toBe(expected);
    // A release and a lost guest decided meanwhile wait for the journal (not lost, not refused).
    const releasedB = b.release();
    const lostC = d.clientLost(c.instance, 'the guest of c is gone');
    expect(hex(a.call(hello))).toBe(expected);
    expect((await d.negotiate({ ...creds, app: 'later', fn: 'crc32', kind: 'sw' })).ok).toBe(false);
    // No partial line is left in the file while it waits.
    const during = readFileSync(path);
    expect(during.at(-1)).toBe(0x0a);
    expect(await verifyFile(path)).toMatchObject({ ok: true });

    const up = next(true);
    await fs.unfill();
    await up;
    expect(await releasedB).toMatchObject({ calls: 0 });
    await lostC;
    expect(hex(a.call(hello))).toBe(expected);
    const again = await d.negotiate({ ...creds, app: 'after', fn: 'crc32', kind: 'sw' });
    expect(again.ok).toBe(true);
    await a.release();
    await d.stop('test over');
    await journal.close();
    expect(changes.map((x) => x.available)).toEqual([false, true]); // logged once down, once up

    const report = await verifyFile(path);
    expect(report.ok).toBe(true);
    const reader = await FileJournal.open(path, { readOnly: true });
    const events: Envelope[] = [];
    for await (const e of reader.read()) events.push(e);
    await reader.close();
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length); // every event once
    expect(events.filter((e) => e.type === 'negotiation.acked')).toHaveLength(3 + acked.length + 1); // refused ones left no trace
    const tail = events.slice(events.findIndex((e) => e.type === 'instance.released'));
    expect(tail.slice(0, 3).map((e) => [e.type, e.instance, (e.data as { reason?: string }).reason])).toEqual([
      ['instance.released', b.instance, 'client'],
      ['client.lost', c.instance, undefined],
      ['instance.released', c.instance, 'lease'],
    ]);
    expect(events.at(-1)!.type).toBe('vfund.stopped');
    expect((await replayJournal(events)).divergence).toBeNull();
  });
});
