/**
 * A running vFunD says what it holds: `Daemon.status()` against a real daemon (startDaemon, as
 * `vfun up` runs it), with a guest calling through the shared-memory channel: the instance, its
 * phase, its calls and errors as the service counted them, slots, quotas, journal and uptime.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/actors/config.js';
import { startDaemon, type Daemon } from '../../src/daemon/index.js';
import { ControlClient } from '../../src/guest/control-client.js';
import { connect } from '../../src/guest/connect.js';

const SECRET = 'the status tenant secret, 16+ characters';

describe('Daemon.status() of a running vFunD', () => {
  let dir: string;
  let daemon: Daemon;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-status-'));
    const config = parseConfig({
      tenants: [
        { id: 'acme', secret: SECRET, maxInstances: 3 },
        { id: 'idle', secret: `${SECRET} idle`, maxInstances: 1 },
      ],
      functions: [{ name: 'crc32', kinds: { sw: { slots: 2, driver: 'crc32' } } }],
    });
    const root = join(dir, 'root');
    daemon = await startDaemon({ config, root, journal: `file:${join(root, 'admin', 'journal.ndjson')}`, log: () => undefined });
  });

  afterAll(async () => {
    await daemon?.stop('test over');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('shows the instance with the calls its service answered, the slots and quotas in use, and the journal', async () => {
    const before = daemon.status();
    expect(before.instances).toEqual([]);
    expect(before.tenants).toEqual([
      { id: 'acme', instances: 0, maxInstances: 3, disabled: false },
      { id: 'idle', instances: 0, maxInstances: 1, disabled: false },
    ]);

    const c = await ControlClient.connect(daemon.sockets.acme!);
    const creds = { tenant: 'acme', credential: SECRET };
    const n = await c.negotiate({ ...creds, app: 'app', fn: 'crc32', kind: 'sw' });
    if (!n.ok) throw new Error(n.detail);
    const a = await c.activate({ ...creds, instance: n.instance });
    if (!a.ok) throw new Error(a.detail);
    const client = connect(a.region);
    for (let i = 0; i < 250; i++) client.call(new Uint8Array([i & 0xff, 1]));

    const s = daemon.status();
    expect(s.pid).toBe(process.pid);
    expect(s.accepting).toBe(true);
    expect(s.uptimeMs).toBeGreaterThanOrEqual(0);
    expect(Date.parse(s.startedAt)).toBeLessThanOrEqual(Date.now());
    expect(s.instances).toHaveLength(1);
    const i = s.instances[0]!;
    expect(i).toMatchObject({ id: n.instance, tenant: 'acme', app: 'app', fn: 'crc32', kind: 'sw', phase: 'computation', calls: 250, errors: 0 });
    expect(i.servicePid).toBeGreaterThan(0);
    expect(i.servicePid).not.toBe(process.pid);
    expect(i.ageMs).not.toBeNull();
    expect(s.slots).toEqual([{ fn: 'crc32', kind: 'sw', inUse: 1, slots: 2, device: null }]);
    expect(s.tenants[0]).toEqual({ id: 'acme', instances: 1, maxInstances: 3, disabled: false });
    expect(s.totals).toEqual([{ tenant: 'acme', fn: 'crc32', kind: 'sw', calls: 250, errors: 0, latency: null }]);
    expect(s.journal).toMatchObject({ backend: 'file', available: true, outboxDepth: 0 });
    expect(s.journal.head).toBeGreaterThanOrEqual(3); // started, acked, activation started + acked

    client.close();
    const r = await c.release({ ...creds, instance: n.instance });
    expect(r.ok).toBe(true);
    c.close();
    const after = daemon.status();
    expect(after.instances).toEqual([]);
    expect(after.slots[0]!.inUse).toBe(0);
    // The released instance's calls stay in the totals (counters never go back).
    expect(after.totals).toEqual([{ tenant: 'acme', fn: 'crc32', kind: 'sw', calls: 250, errors: 0, latency: null }]);
  });
});
