/**
 * A tenant floods its own control socket with malformed lines: vFunD journals a bounded number of
 * events (the tenant's refusal limit, one summary per period, one disconnection), closes the
 * flooding connection (and releases what it held, as a lease), starts a reconnection with what the
 * tenant's bucket has left, and meanwhile another tenant negotiates, activates, calls and releases.
 * The journal verifies and replays. Real sockets, real file journal, real services.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, toSnapshot } from '../../src/actors/config.js';
import { replayJournal } from '../../src/actors/replay.js';
import { FileRuntime, type HostRegion } from '../../src/actors/runtime-files.js';
import { VFunD } from '../../src/actors/vfund.js';
import { summarize } from '../../src/cli/audit.js';
import { ControlServer } from '../../src/control/server.js';
import { verifyChain } from '../../src/events/chain.js';
import type { Envelope } from '../../src/events/envelope.js';
import { openJournal } from '../../src/events/adapters/open-journal.js';
import { connect } from '../../src/guest/connect.js';
import { ControlClient } from '../../src/guest/control-client.js';
import { randomIds, systemClock } from '../../src/util/system.js';

const SECRETS = { flood: 'secret-of-the-flooding-tenant', calm: 'secret-of-the-calm-tenant-xyz' };
const LINES = 5000;
// A short period so the summaries come within the test; a refill so slow that no token comes back
// while it runs (the bucket is what the tenant has left, whatever it does); the connection is
// closed by its count of suppressed refusals (the rule on periods in a row is out of the way, so a
// slow machine does not change which rule closes it).
const LIMITS = { burst: 20, refillPerSecond: 0.001, summaryIntervalMs: 200, disconnectAfter: 200, disconnectIntervals: 1000 };

describe('a tenant flooding its control socket with refused requests', () => {
  let dir: string;
  let runtime: FileRuntime;
  let vfund: VFunD<HostRegion>;
  let close: () => Promise<void>;
  const servers: Record<string, ControlServer> = {};
  const seen: Envelope[] = [];
  const waiters: { match: (e: Envelope) => boolean; resolve: (e: Envelope) => void }[] = [];
  /** The first journaled event (already seen or to come) that matches. */
  const eventWhere = (match: (e: Envelope) => boolean): Promise<Envelope> => {
    const found = seen.find(match);
    return found ? Promise.resolve(found) : new Promise((resolve) => waiters.push({ match, resolve }));
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-flood-'));
    const config = parseConfig({
      tenants: [
        { id: 'flood', secret: SECRETS.flood, maxInstances: 2, refusals: LIMITS },
        { id: 'calm', secret: SECRETS.calm, maxInstances: 2 },
      ],
      functions: [{ name: 'crc32', kinds: { sw: { slots: 4, driver: 'crc32' } } }],
      regionCapacity: 4096,
    });
    runtime = await FileRuntime.create({ root: join(dir, 'tree') });
    const { journal } = await openJournal(`file:${join(dir, 'journal.ndjson')}`, { host: 'h' });
    vfund = await VFunD.start<HostRegion>({ journal, runtime, config: toSnapshot(config), host: 'h', clock: systemClock, ids: randomIds });
    vfund.subscribe((envs) => {
      for (const e of envs) {
        seen.push(e);
        for (const w of waiters.splice(0)) (w.match(e) ? w.resolve(e) : waiters.push(w));
      }
    });
    for (const t of config.tenants) {
      await runtime.tree.prepareTenant(t.id);
      servers[t.id] = await ControlServer.start({
        vfund,
        tenant: { id: t.id, secret: t.secret! },
        socketPath: join(runtime.tree.root, 'vmcli', t.id, 'control.sock'),
        clock: systemClock,
        refusals: t.refusals,
      });
    }
    close = async () => {
      for (const s of Object.values(servers)) await s.close();
      await vfund.stop('test over');
      await runtime.close();
      await journal.close();
    };
  });
  afterAll(async () => {
    await close?.();
    await rm(dir, { recursive: true, force: true });
  });

  it(`${LINES} malformed lines: a bounded journal, the flooding connection closed and its lease released, the other tenant served meanwhile; the journal verifies and replays`, async () => {
    const flood = await ControlClient.connect(servers.flood!.path);
    const fcreds = { tenant: 'flood', credential: SECRETS.flood };
    const held = await flood.negotiate({ ...fcreds, app: 'noisy', fn: 'crc32', kind: 'sw' });
    if (!held.ok) throw new Error(held.detail);
    expect(await flood.activate({ ...fcreds, instance: held.instance })).toMatchObject({ ok: true });

    // The flood: every line sent at once, each answer awaited.
    const answers = Promise.all(Array.from({ length: LINES }, (_, i) => flood.sendRaw(i % 2 ? 'not json' : '{"op":"negotiate"}')));

    // Meanwhile the other tenant goes through all four phases.
    const calm = await ControlClient.connect(servers.calm!.path);
    const ccreds = { tenant: 'calm', credential: SECRETS.calm };
    const neg = await calm.negotiate({ ...ccreds, app: 'steady', fn: 'crc32', kind: 'sw' });
    if (!neg.ok) throw new Error(neg.detail);
    const act = await calm.activate({ ...ccreds, instance: neg.instance });
    if (!act.ok) throw new Error(act.detail);
    const ch = connect(act.region);
    for (let i = 0; i < 100; i++) expect(Buffer.from(ch.call(Buffer.from('hello'))).toString('hex')).toBe('86a61036');
    ch.close();
    expect(await calm.release({ ...ccreds, instance: neg.instance })).toMatchObject({ ok: true, stats: { calls: 100 } });
    calm.close();

    // The flooding connection was answered up to its disconnection, then closed.
    const got = await answers;
    const refused = got.filter((a) => !a.ok && a.reason === 'malformed').length;
    const cutOff = got.filter((a) => !a.ok && a.reason === 'not-started').length;
    expect(refused).toBe(LIMITS.burst + LIMITS.disconnectAfter + 1);
    expect(refused + cutOff).toBe(LINES);
    await expect(flood.sendRaw('not json')).rejects.toThrow('the control channel closed');

    // Journaled once, with the count; the instance it held released as a lease.
    const disconnected = await eventWhere((e) => e.type === 'control.disconnected');
    expect(disconnected).toMatchObject({ tenant: 'flood', data: { refusals: refused, suppressed: LIMITS.disconnectAfter + 1, peer: { pid: process.pid, uid: process.getuid!() } } });
    expect(await eventWhere((e) => e.type === 'instance.released' && e.instance === held.instance)).toMatchObject({ data: { reason: 'lease' } });
    expect(await eventWhere((e) => e.type === 'client.lost' && e.instance === held.instance)).toMatchObject({ data: { detail: expect.stringContaining('for flooding') } });
    const ended = await eventWhere((e) => e.type === 'refusals.suppressed' && e.data.ended);

    // A new connection starts with what the tenant's bucket has left: nothing, so its refusal is
    // answered and counted, not journaled one by one.
    const again = await ControlClient.connect(servers.flood!.path);
    expect(await again.sendRaw('still not json')).toMatchObject({ ok: false, reason: 'malformed' });
    again.close();
    await eventWhere((e) => e.type === 'refusals.suppressed' && e.seq > ended.seq && e.data.ended);

    const mine = seen.filter((e) => e.tenant === 'flood');
    const byType: Record<string, number> = {};
    for (const e of mine) byType[e.type] = (byType[e.type] ?? 0) + 1;
    expect(byType['request.refused']).toBe(LIMITS.burst);
    expect(byType['control.disconnected']).toBe(1);
    const summaries = mine.filter((e) => e.type === 'refusals.suppressed');
    expect(summaries.reduce((n, e) => n + (e.type === 'refusals.suppressed' ? e.data.total : 0), 0)).toBe(LIMITS.disconnectAfter + 1 + 1);
    // Bounded: a handful of events for 5000 lines (before: one event, ~0.5-0.9 KB, per line).
    expect(mine.length).toBeLessThan(40);

    await close();
    close = async () => undefined;
    const { journal } = await openJournal(`file:${join(dir, 'journal.ndjson')}`, { readOnly: true });
    const all: Envelope[] = [];
    for await (const e of journal.read()) all.push(e);
    await journal.close();
    expect(await verifyChain(all)).toMatchObject({ ok: true });
    expect((await replayJournal(all)).divergence).toBeNull();
    // The audit counts every refusal answered, journaled one by one or not, as a security event.
    expect(summarize(all).find((r) => r.tenant === 'flood')).toMatchObject({ security: refused + 1 + 1, nacks: { malformed: refused + 1 } });
    expect(summarize(all).find((r) => r.tenant === 'calm')).toMatchObject({ security: 0, calls: 100 });
  });
});
