/**
 * A full disk under vFunD's tree: an activation that cannot write what it
 * needs (the instance's control area, its region.json) is a nack with reason
 * `no-resources` saying so, never a crash nor a SIGBUS later; the instance's
 * reservation is freed; once space returns, activation works again. The
 * tree is a small tmpfs mounted for the test (CI runs as root).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, toSnapshot } from '../../src/actors/config.js';
import { replayJournal } from '../../src/actors/replay.js';
import { FileRuntime, type HostRegion } from '../../src/actors/runtime-files.js';
import { VFunD } from '../../src/actors/vfund.js';
import type { Envelope } from '../../src/events/envelope.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { connect } from '../../src/guest/connect.js';
import { mountTmpfs, type Tmpfs } from '../support/tmpfs.js';
import { counterIds, steppingClock } from './helpers.js';

const SECRET = 'full-disk-test-tenant-secret';
const config = toSnapshot(parseConfig({ tenants: [{ id: 't', secret: SECRET, maxInstances: 4 }], functions: [{ name: 'crc', kinds: { sw: { slots: 4, driver: 'crc32' } } }] }));

describe('a full disk under the tree', () => {
  let fs: Tmpfs;
  beforeAll(async () => {
    fs = await mountTmpfs(1 << 20);
  });
  afterAll(async () => {
    await fs.unmount();
  });

  it('activation nacks with no-resources while it is full, and works again once space returns', async () => {
    const journal = new MemoryJournal();
    const runtime = await FileRuntime.create({ root: join(fs.dir, 'root') });
    const d = await VFunD.start<HostRegion>({ journal, runtime, config, host: 'h', clock: steppingClock(), ids: counterIds() });
    const creds = { tenant: 't', credential: SECRET };
    const open = async () => {
      const n = await d.negotiate({ ...creds, app: `a${Math.random().toString(36).slice(2, 8)}`, fn: 'crc', kind: 'sw' });
      if (!n.ok) throw new Error(n.detail);
      return { n, a: await d.activate({ ...creds, instance: n.instance }) };
    };
    await fs.fill(); // to the last block
    const full = await open();
    expect(full.a).toMatchObject({ ok: false, reason: 'no-resources', detail: expect.stringContaining('ENOSPC') });
    expect(d.snapshot.instances[full.n.instance]).toBeUndefined(); // its reservation is freed

    await fs.unfill();
    const ok = await open();
    if (!ok.a.ok) throw new Error(ok.a.detail);
    const client = connect(ok.a.region);
    expect(Buffer.from(client.call(new TextEncoder().encode('hello'))).toString('hex')).toBe('86a61036');
    client.close();
    await d.release({ ...creds, instance: ok.n.instance });
    await d.stop();
    await runtime.close();
    const events: Envelope[] = [];
    for await (const e of journal.read()) events.push(e);
    expect(events.filter((e) => e.type === 'activation.nacked').map((e) => (e.data as { reason: string }).reason)).toEqual(['no-resources']);
    expect((await replayJournal(events)).divergence).toBeNull();
  });
});
