/**
 * A hostile tenant attacks what it was given, against a real `vfun up`, while
 * an honest tenant keeps calling: its two sealed memfds (shrink, grow, every
 * fallocate mode), its region's bytes (random over dataout, header and request
 * word included, over datain too, holes punched), and its branch of the tree
 * (region.json, its directories, its control socket). After each attack vFunD
 * is the same live process and answers, the honest loop has no error and goes
 * on, the attacker's instance is released and the journal verifies and
 * replays. Test/support/hostile.ts sets the stage.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lifeOf, stage, type Stage } from '../support/hostile.js';

type Opened = { instance: string; servicePid: number };

describe('a hostile tenant and its region', () => {
  let s: Stage;
  beforeAll(async () => {
    s = await stage('hostile-region', { eve: true });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('cannot resize its memfds: ftruncate and fallocate refused, sizes unchanged, its instance still answers', async () => {
    const a = await s.attacker();
    const { instance } = await a.request<Opened>('open', { app: 'resize', fn: 'crc32' });
    expect((await stat(join(s.root, 'vmcli', 'mallory', 'resize', 'crc32', 'region.json'))).isFile()).toBe(true);
    const r = await a.request<{ bytes: number; attempts: Record<string, string>; sizes: Record<string, number[]> }>('resize');
    for (const [what, got] of Object.entries(r.attempts)) {
      // Shrinking or growing: EPERM (the seals); inserting or collapsing a range: not supported on shared memory.
      expect({ what, got }).toEqual({ what, got: /range/.test(what) ? 'EOPNOTSUPP' : 'EPERM' });
    }
    expect(r.sizes).toEqual({ dataout: [r.bytes, r.bytes], datain: [r.bytes, r.bytes] });
    expect(await a.request('calls', { n: 100 })).toMatchObject({ ok: 100, errors: {} });
    expect(await a.request('release')).toMatchObject({ released: { [instance]: { calls: 100 } } });
    await s.checkContained();
    expect(lifeOf(await s.audit('mallory'), instance).map((e) => e.type)).toEqual(['negotiation.acked', 'activation.started', 'activation.acked', 'instance.released']);
    await a.close();
  });

  it('writes garbage over dataout (header and request word included), datain, and punches holes: only its own calls suffer', async () => {
    const a = await s.attacker();
    const { instance, servicePid } = await a.request<Opened>('open', { app: 'garbage', fn: 'crc32' });
    expect((await s.adminEntry(instance)).pid).toBe(servicePid);
    const g = await a.request<{ written: number; punched: Record<string, string>; after: { ok: number; errors: Record<string, number> } }>('garbage', { rounds: 400, datain: true, punch: true });
    expect(g.written).toBeGreaterThan(1_000_000);
    // Punching holes is not resizing: the sizes stay, the pages read back as zeros (like writing zeros).
    expect(g.punched).toEqual({ dataout: 'ok', datain: 'ok' });
    const released = await a.request<{ released: Record<string, { calls?: number; error?: string }> }>('release');
    // Its service validated what it read and lived on: the release is the guest's own, with its counters.
    expect(released.released[instance]).toMatchObject({ calls: expect.any(Number) });
    await s.checkContained();
    const life = lifeOf(await s.audit('mallory'), instance);
    expect(life.map((e) => e.type)).toEqual(['negotiation.acked', 'activation.started', 'activation.acked', 'instance.released']);
    expect(life.at(-1)!.data.reason).toBe('client');
    await a.close();
  });

  it('tampers with its branch of the tree: refused by the OS with a uid of its own, and harmless without one', async () => {
    const a = await s.attacker();
    const { instance } = await a.request<Opened>('open', { app: 'tree', fn: 'crc32' });
    const t = await a.request<{ attempts: Record<string, string>; decoy: string; after: { ok: number } }>('tree', { variant: 'symlink' });
    if (s.identity) {
      // Its directories and its socket's directory belong to vFunD: it can only change the files it owns.
      expect(t.attempts).toMatchObject({
        'region.json overwrite': 'ok',
        'region.json chmod 000': 'ok',
        'region.json unlink': 'EACCES',
        'fn dir rename': 'EACCES',
        'app dir rename': 'EACCES',
        'control.sock rename': 'EACCES',
        'control.sock symlink': 'EACCES',
        'control.sock chmod back': 'ok',
      });
    }
    expect(t.after.ok).toBe(5); // its mapping is what it calls through: the tree is only names
    expect(await a.request('release')).toMatchObject({ released: { [instance]: { calls: 5 } } });
    expect(await a.request('decoy', { path: t.decoy, fn: 'crc32' })).toEqual(expect.objectContaining({ canary: true }));
    await s.checkContained();
    await a.close();
  });

  it('without a uid of its own (eve: vFunD’s user), replaces region.json, its directories and its socket: released all the same', async () => {
    const a = await s.attacker('eve');
    // Instances released by the guest after the attack, one left for vFunD's shutdown.
    const first = await a.request<Opened>('open', { app: 'swap', fn: 'crc32' });
    const t1 = await a.request<{ attempts: Record<string, string>; decoy: string }>('tree', { instance: first.instance, variant: 'symlink' });
    expect(t1.attempts).toMatchObject({ 'region.json unlink': 'ok', 'region.json symlink': 'ok', 'fn dir rename': 'ok', 'app dir rename': 'ok', 'app dir symlink': 'ok', 'control.sock rename': 'ok', 'control.sock symlink': 'ok', 'control.sock restore': 'ok' });
    expect(await a.request('release')).toMatchObject({ released: { [first.instance]: { calls: 5 } } });
    // vFunD removed the instance's names without following the link eve put in place of its app directory.
    expect(await a.request('decoy', { path: t1.decoy, fn: 'crc32' })).toEqual(expect.objectContaining({ canary: true }));
    // A file in place of its app directory: the release goes through all the same.
    const gone = await a.request<Opened>('open', { app: 'gone', fn: 'crc32' });
    const t3 = await a.request<{ attempts: Record<string, string>; decoy: string }>('tree', { instance: gone.instance, variant: 'file' });
    expect(t3.attempts).toMatchObject({ 'fn dir file': 'ok', 'app dir file': 'ok', 'control.sock restore': 'ok' });
    expect(await a.request('release')).toMatchObject({ released: { [gone.instance]: { calls: 5 } } });
    await a.request('decoy', { path: t3.decoy, fn: 'crc32' });

    const second = await a.request<Opened>('open', { app: 'kept', fn: 'crc32' });
    const t2 = await a.request<{ attempts: Record<string, string>; decoy: string }>('tree', { instance: second.instance, variant: 'file' });
    expect(t2.attempts).toMatchObject({ 'fn dir file': 'ok', 'app dir file': 'ok', 'control.sock restore': 'ok' });
    await a.request('decoy', { path: t2.decoy, fn: 'crc32' });
    // And its tenant directory, where its socket is, swapped for a link to a directory of its own.
    const swap = await a.request<{ attempts: Record<string, string>; decoy: string }>('swapTenantDir');
    expect(swap.attempts).toEqual({ 'tenant dir rename': 'ok', 'tenant dir symlink': 'ok' });
    await s.checkContained();

    // SIGTERM: vFunD releases what is held (eve's instance among them) and stops cleanly.
    expect(await s.stop()).toBe(0);
    await s.journalOk();
    const events = await s.events();
    expect(lifeOf(events, first.instance).at(-1)).toMatchObject({ type: 'instance.released', data: { reason: 'client' } });
    expect(lifeOf(events, second.instance).at(-1)).toMatchObject({ type: 'instance.released', data: { reason: 'shutdown' } });
    expect(events.at(-2)).toMatchObject({ type: 'vfund.stopped' });
    expect(events.at(-1)).toMatchObject({ type: 'journal.checkpoint' });
    const acked = events.filter((e) => e.type === 'negotiation.acked').map((e) => e.data.instance);
    const released = new Set(events.filter((e) => e.type === 'instance.released').map((e) => e.data.instance));
    expect(acked.filter((i) => !released.has(i))).toEqual([]);

    // The next vFunD on this root starts, serves, and has followed none of eve's links.
    await s.restart();
    expect(await a.request('decoy', { path: swap.decoy })).toEqual(expect.objectContaining({ canary: true }));
    await s.checkContained();
    expect(await s.stop()).toBe(0);
    await s.journalOk();
  });
});
