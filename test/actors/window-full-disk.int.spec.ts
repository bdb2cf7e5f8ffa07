/**
 * A full disk under a VM tenant's window: vFunD writes the window whole, so
 * no space is a clear error where it happens (creating the window at start;
 * re-initialising a window its tenant truncated, at the next activation: a
 * `no-resources` nack), never a SIGBUS in a service later, and never a
 * crash. Once space returns, activation works again. The tree is a small
 * tmpfs mounted for the test (CI runs as root).
 */
import { existsSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, toSnapshot, windowPlans } from '../../src/actors/config.js';
import { replayJournal } from '../../src/actors/replay.js';
import { FileRuntime, type HostRegion } from '../../src/actors/runtime-files.js';
import { VFunD } from '../../src/actors/vfund.js';
import { WindowHost } from '../../src/dataplane/window-host.js';
import { planWindow } from '../../src/dataplane/window.js';
import type { Envelope } from '../../src/events/envelope.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { LineProcess } from '../support/line-process.js';
import { mountTmpfs, type Tmpfs } from '../support/tmpfs.js';
import { counterIds, steppingClock } from './helpers.js';

const SECRET = 'full-disk-window-tenant-secret';
const config = parseConfig({
  tenants: [{ id: 'vm', secret: SECRET, maxInstances: 3, ivshmem: { windowBytes: 1 << 16 } }],
  functions: [{ name: 'crc', kinds: { sw: { slots: 4, driver: 'crc32' } } }],
  regionCapacity: 4096,
});

describe('a full disk under a VM tenant’s window', () => {
  let fs: Tmpfs;
  let mnt: string;
  beforeAll(async () => {
    fs = await mountTmpfs(1 << 20);
    mnt = fs.dir;
  });
  afterAll(async () => {
    await fs.unmount();
  });

  it('creating the window on a full disk is a RESOURCES error at start, and leaves no file', async () => {
    await fs.fill();
    const path = join(mnt, 'w.shm');
    await expect(WindowHost.open(path, planWindow(1 << 16, 4096))).rejects.toMatchObject({
      code: 'RESOURCES',
      message: expect.stringMatching(/^cannot create the window .*w\.shm: no space left for its 65536 bytes \(ENOSPC\)$/),
    });
    expect(existsSync(path)).toBe(false);
    await fs.unfill();
  });

  it('re-initialising a truncated window on a full disk is a no-resources nack; once space returns, activation works again', async () => {
    const journal = new MemoryJournal();
    const runtime = await FileRuntime.create({ root: join(mnt, 'root'), windows: windowPlans(config) });
    const d = await VFunD.start<HostRegion>({ journal, runtime, config: toSnapshot(config), host: 'h', clock: steppingClock(), ids: counterIds() });
    const window = runtime.windows.get('vm')!;
    const creds = { tenant: 'vm', credential: SECRET };
    const open = async (app: string) => {
      const n = await d.negotiate({ ...creds, app, fn: 'crc', kind: 'sw' });
      if (!n.ok) throw new Error(n.detail);
      return { n, a: await d.activate({ ...creds, instance: n.instance }) };
    };
    const events = async (): Promise<Envelope[]> => {
      const out: Envelope[] = [];
      for await (const e of journal.read()) out.push(e);
      return out;
    };
    try {
      const first = await open('a1');
      expect(first.a).toMatchObject({ ok: true });
      truncateSync(window.path, 0); // its tenant's doing: the service dies of SIGBUS and is reclaimed
      await expect.poll(async () => (await events()).some((e) => e.type === 'instance.released'), { timeout: 30_000 }).toBe(true);
      await fs.fill(); // and the blocks the window gave back are taken meanwhile

      const full = await open('a2');
      expect(full.a).toMatchObject({
        ok: false,
        reason: 'no-resources',
        detail: expect.stringMatching(/cannot re-initialise the truncated window .*ivshmem\.shm: no space left for its 65536 bytes \(ENOSPC\)/),
      });
      expect(d.snapshot.instances[full.n.instance]).toBeUndefined(); // its reservation is freed

      await fs.unfill();
      const ok = await open('a3');
      if (!ok.a.ok) throw new Error(ok.a.detail);
      expect(window.reinitialisations).toBe(1);
      const guest = new LineProcess(new URL('../dataplane/fixtures/window-guest-proc.ts', import.meta.url), [window.path, ok.n.instance, '30000']);
      try {
        await guest.ready;
        expect(await guest.request({ ops: [['call', Buffer.from('hello').toString('hex')]] })).toMatchObject({ results: [{ ok: '86a61036' }] });
      } finally {
        await guest.close();
      }
    } finally {
      await d.stop();
      await runtime.close();
    }
    const all = await events();
    expect(all.filter((e) => e.type === 'service.failed').map((e) => (e.data as { cause?: unknown }).cause)).toEqual([{ code: null, signal: 'SIGBUS' }]);
    expect(all.filter((e) => e.type === 'activation.nacked').map((e) => (e.data as { reason: string }).reason)).toEqual(['no-resources']);
    expect((await replayJournal(all)).divergence).toBeNull();
  });
});
