/**
 * Regions in an ivshmem window, on the host (no VM needed): vFunD's
 * WindowHost hands out slots, services serve them from worker threads that
 * poll, a client maps its slot found from the window alone; a guest that
 * scribbles over the whole window (table, headers, other slots' dataout)
 * disturbs nobody but itself; a VM tenant runs all four phases through its
 * control socket, and its window outlives a vFunD restart.
 */
import { fc, test } from '@fast-check/vitest';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, truncateSync, writeSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceError } from '../../src/dataplane/client.js';
import { lookupWindowRegion, type WindowRegion } from '../../src/dataplane/region-window.js';
import { WindowHost } from '../../src/dataplane/window-host.js';
import { startService, type ServiceHandle } from '../../src/dataplane/service-host.js';
import { checkWindowHeader, initWindow, planWindow, publishEntry, readEntries, retractEntry, SLOT_ACTIVE, slotAreaBytes, type WindowPlan } from '../../src/dataplane/window.js';
import { areaViews, initRegion } from '../../src/dataplane/region.js';
import { connect } from '../../src/guest/connect.js';
import { ControlClient } from '../../src/guest/control-client.js';
import { MEMFD_REGION_SEALS, requireShm } from '../../src/native/shm.js';
import { PROTOCOL_VERSION } from '../../src/control/protocol.js';
import { startDaemon, type Daemon } from '../../src/daemon/index.js';
import { countOf } from '../../src/dataplane/latency-histogram.js';

const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const u64 = (b: Uint8Array): bigint => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0, true);

describe('regions in an ivshmem window (host side)', () => {
  let dir: string;
  let host: WindowHost;
  const services: ServiceHandle[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-window-'));
    host = await WindowHost.open(join(dir, 'ivshmem.shm'), planWindow(1 << 20, 4096));
  });
  afterAll(async () => {
    for (const s of services) await s.stop();
    host?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves two slots side by side; a client finds its slot from the window alone', async () => {
    const a = host.allocate({ instance: 'inst-a', app: 'vmapp', fn: 'factorial' });
    const b = host.allocate({ instance: 'inst-b', app: 'vmapp', fn: 'crc32' });
    expect([a.slot, b.slot]).toEqual([0, 1]);
    services.push(await startService({ region: a, driver: 'factorial' }), await startService({ region: b, driver: 'crc32' }));
    const ca = connect(lookupWindowRegion(host.path, 'inst-a'));
    const cb = connect(lookupWindowRegion(host.path, 'inst-b'));
    try {
      for (let i = 0; i < 2000; i++) expect(u64(ca.call(u32(51)))).toBe(18284192274659147776n);
      expect(Buffer.from(cb.call(new TextEncoder().encode('123456789'))).readUInt32LE(0)).toBe(0xcbf43926);
      expect(() => ca.call(new Uint8Array(3))).toThrow(ServiceError);
      expect(u64(ca.call(u32(20)))).toBe(2432902008176640000n);
    } finally {
      ca.close();
      cb.close();
    }
    expect(services[0]!.stats()).toMatchObject({ calls: 2002, errors: { BAD_INPUT: 1 } });
    expect(readEntries(await mapCopy(host.path)).filter((e) => e.state === SLOT_ACTIVE).map((e) => e.instance)).toEqual(['inst-a', 'inst-b']);
  });

  test.prop([fc.array(fc.record({ offset: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 512 }) }), { minLength: 1, maxLength: 40 })], { numRuns: 30 })(
    'a guest writing garbage anywhere but the victim slot leaves the victim served correctly',
    (writes) => {
      const victim = lookupWindowRegion(host.path, 'inst-b');
      const shm = requireShm();
      const win = new Uint8Array(shm.open(host.path, victim.windowBytes, { writable: true }));
      const c = connect(victim); // attached before the damage, as a running guest app would be
      const saved = win.slice(0, host.plan.slotsOffset);
      try {
        const victimRange: [number, number] = [victim.dataoutOffset, victim.dataoutOffset + host.plan.slotBytes];
        for (const w of writes) {
          // The whole window is the guest's to scribble over: header, table, the other slot.
          let at = w.offset % win.byteLength;
          if (at + w.bytes.length > victimRange[0] && at < victimRange[1]) at = (victimRange[0] - w.bytes.length - 1 + win.byteLength) % victimRange[0];
          win.set(w.bytes.subarray(0, Math.max(0, Math.min(w.bytes.length, victimRange[0] - at))), at);
        }
        expect(Buffer.from(c.call(new TextEncoder().encode('123456789'))).readUInt32LE(0)).toBe(0xcbf43926);
      } finally {
        c.close();
        win.set(saved, 0); // put the table back for the next run (vFunD never reads it back)
        shm.unmap(win.buffer as ArrayBuffer);
      }
    },
  );

  it('a guest forging datain (BUSY forever, a billion calls) neither trips the watchdog nor changes the counters vFunD journals', async () => {
    const { supervisedRuntime } = await import('../../src/actors/supervisor.js');
    const region = host.allocate({ instance: 'inst-f', app: 'vmapp', fn: 'factorial' });
    const restarts: string[] = [];
    const rt = await supervisedRuntime(
      region,
      { instance: 'inst-f', tenant: 'vm', app: 'vmapp', fn: 'factorial', kind: 'sw', driver: 'factorial', capacity: 4096 },
      { policy: { maxRestarts: 5, windowMs: 60_000, backoffMs: 10, maxBackoffMs: 100, callDeadlineMs: 200 } },
    );
    rt.onRestart((_a, _b, detail) => restarts.push(detail));
    const c = connect(region);
    for (let i = 0; i < 10; i++) c.call(u32(51));
    c.close();
    const shm = requireShm();
    const win = shm.open(host.path, region.windowBytes, { writable: true });
    const datain = new Int32Array(win, region.datainOffset, 64);
    Atomics.store(datain, 64 / 4, (11 << 4) | 2); // state word: seq 11 BUSY
    Atomics.store(datain, 76 / 4, 1_000_000_000); // calls
    await new Promise((r) => setTimeout(r, 800)); // four call deadlines
    shm.unmap(win);
    expect(restarts).toEqual([]);
    expect(rt.stats().calls).toBe(10);
    // Nor the latency histogram: its ten calls, timed by the service in the control area.
    expect(countOf(rt.latency!()!)).toBe(10);
    expect((await rt.stop()).calls).toBe(10);
    expect(countOf(rt.latency!()!)).toBe(10);
    host.free(region.slot);
  });

  it('a window client sees a dead service by its silent heartbeat (no pid to check in a VM)', async () => {
    const region = host.allocate({ instance: 'inst-d', app: 'vmapp', fn: 'factorial' });
    const svc = await startService({ region, driver: 'factorial' });
    const c = connect(region, { timeoutMs: 20_000 });
    expect(u64(c.call(u32(5)))).toBe(120n);
    await svc.kill();
    await svc.exited;
    const t0 = performance.now();
    expect(() => c.call(u32(5))).toThrow(/the service has shown no sign of life for 2000 ms/);
    expect(performance.now() - t0).toBeLessThan(15_000); // well before the call's own timeout
    c.close();
    host.free(region.slot);
  });

  it('free() retracts the entry and zeroes the slot; slots are handed out next-fit, a reused one gets a new serial', async () => {
    const s = services.shift()!;
    await s.stop();
    host.free(0);
    expect(() => lookupWindowRegion(host.path, 'inst-a')).toThrow(/no active entry for instance inst-a/);
    const again = host.allocate({ instance: 'inst-c', app: 'vmapp', fn: 'fibonacci' });
    expect(again.slot).not.toBe(0); // next-fit: the slot just freed is reused last
    services.push(await startService({ region: again, driver: 'fibonacci' }));
    const c = connect(again);
    expect(u64(c.call(u32(93)))).toBe(12200160415121876738n);
    c.close();
    // A three-slot window: once the others are taken, the freed one comes back with serial 2.
    const small = await WindowHost.open(join(dir, 'small.shm'), planWindow(1 << 16, 4096));
    try {
      expect(small.plan.slotCount).toBe(3);
      const got = ['x', 'y', 'z'].map((i) => small.allocate({ instance: i, app: 'a', fn: 'f' }).slot);
      expect(got).toEqual([0, 1, 2]);
      expect(() => small.allocate({ instance: 'w', app: 'a', fn: 'f' })).toThrow(/all 3 slots are in use/);
      small.free(1);
      expect(small.allocate({ instance: 'v', app: 'a', fn: 'f' }).slot).toBe(1);
      expect(readEntries(await mapCopy(small.path))[1]).toMatchObject({ instance: 'v', serial: 2, state: SLOT_ACTIVE });
    } finally {
      small.close();
    }
  });
});

describe('a VM tenant through vFunD (control socket + window, no VM)', () => {
  let root: string;
  let daemon: Daemon | undefined;
  const secret = 'vm-tenant-secret-for-the-window-test';
  const config = {
    tenants: [
      { id: 'vm1', secret, maxInstances: 3, ivshmem: { windowBytes: 1 << 20 } },
      { id: 'proc', secret: 'a-process-tenant-secret-xyz', maxInstances: 2 },
    ],
    functions: [
      { name: 'factorial', kinds: { sw: { slots: 4, driver: 'factorial' } } },
      { name: 'crc32', kinds: { sw: { slots: 4, driver: 'crc32' } } },
    ],
    regionCapacity: 4096,
  };
  const log: string[] = [];
  const up = async (): Promise<Daemon> => startDaemon({ configPath: join(root, 'config.json'), journal: `file:${join(root, 'journal.ndjson')}`, root: join(root, 'tree'), log: (l) => log.push(l) });
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'vfun-vmtenant-'));
    await writeFile(join(root, 'config.json'), JSON.stringify(config));
    daemon = await up();
  });
  afterAll(async () => {
    await daemon?.stop('test over');
    await rm(root, { recursive: true, force: true });
  });
  const windowPath = () => join(root, 'tree', 'vmcli', 'vm1', 'ivshmem.shm');

  it('creates the window in the tenant tree (0600) and says where it is', async () => {
    expect(log.join('\n')).toContain(`ivshmem window ${windowPath()} (1048576 bytes, 63 slots)`);
    expect(((await stat(windowPath())).mode & 0o777).toString(8)).toBe('600');
  });

  it('negotiates, activates into a window slot (no host path on the wire), computes and releases', async () => {
    const raw = await ControlClient.connect(daemon!.sockets.vm1!);
    const c = await ControlClient.connect(daemon!.sockets.vm1!, { window: windowPath() });
    try {
      const creds = { tenant: 'vm1', credential: secret };
      const neg = await c.negotiate({ ...creds, app: 'vmapp', fn: 'factorial', kind: 'sw' });
      expect(neg).toMatchObject({ ok: true, kind: 'sw' });
      if (!neg.ok) return;
      const act = await c.activate({ ...creds, instance: neg.instance });
      expect(act).toMatchObject({ ok: true, capacity: 4096, region: { slot: 0, windowPath: windowPath() } });
      if (!act.ok) return;
      // The region's directory is not created for a window instance.
      expect(await readdir(join(root, 'tree', 'vmcli', 'vm1'))).toEqual(expect.arrayContaining(['ivshmem.shm', 'control.sock']));
      expect(await readdir(join(root, 'tree', 'vmcli', 'vm1'))).toHaveLength(2);
      const ch = connect(act.region as WindowRegion);
      for (let i = 0; i < 500; i++) expect(u64(ch.call(u32(51)))).toBe(18284192274659147776n);
      ch.close();
      const rel = await c.release({ ...creds, instance: neg.instance });
      expect(rel).toMatchObject({ ok: true, stats: { calls: 500 } });
      expect(readEntries(await mapCopy(windowPath())).every((e) => e.state === 0)).toBe(true);
      // What the guest is told on the wire: its slot and offsets only.
      const neg2 = await c.negotiate({ ...creds, app: 'vmapp', fn: 'crc32', kind: 'sw' });
      if (!neg2.ok) throw new Error('negotiation refused');
      const line = await raw.request({ v: 1, op: 'activate', tenant: 'vm1', nonce: randomBytes(16).toString('hex'), ts: Date.now(), instance: neg2.instance }, secret);
      expect(line).toMatchObject({ ok: true, region: { window: { slot: 1, dataoutOffset: expect.any(Number), datainOffset: expect.any(Number) } } });
      expect(JSON.stringify(line)).not.toContain(root);
      await c.release({ ...creds, instance: neg2.instance });
    } finally {
      c.close();
      raw.close();
    }
  });

  it('an overlong request line is refused and dropped; the connection (the VM lease) and what it holds survive', async () => {
    const c = await ControlClient.connect(daemon!.sockets.vm1!, { window: windowPath() });
    try {
      const creds = { tenant: 'vm1', credential: secret };
      const neg = await c.negotiate({ ...creds, app: 'vmapp', fn: 'crc32', kind: 'sw' });
      if (!neg.ok) throw new Error(neg.detail);
      // One chunk with its newline, and one spread over many chunks (past the socket's read size).
      expect(await c.sendRaw('x'.repeat(40_000))).toMatchObject({ ok: false, reason: 'malformed', detail: expect.stringContaining('longer than 16384') });
      expect(await c.sendRaw('y'.repeat(1_000_000))).toMatchObject({ ok: false, reason: 'malformed', detail: expect.stringContaining('longer than 16384') });
      const act = await c.activate({ ...creds, instance: neg.instance });
      expect(act).toMatchObject({ ok: true });
      expect(await c.release({ ...creds, instance: neg.instance })).toMatchObject({ ok: true });
    } finally {
      c.close();
    }
  });

  it('a process tenant gets sealed memory over its socket, and no host path', async () => {
    const c = await ControlClient.connect(daemon!.sockets.proc!);
    const creds = { tenant: 'proc', credential: 'a-process-tenant-secret-xyz' };
    const neg = await c.negotiate({ ...creds, app: 'p', fn: 'crc32', kind: 'sw' });
    if (!neg.ok) throw new Error('refused');
    const raw = await c.request({ v: PROTOCOL_VERSION, op: 'activate', tenant: 'proc', nonce: randomBytes(16).toString('hex'), ts: Date.now(), instance: neg.instance }, creds.credential);
    expect(raw).toMatchObject({ ok: true, op: 'activate', region: { memfd: true } });
    expect(JSON.stringify(raw)).not.toContain('/');
    const region = await c.fetchRegion({ ...creds, instance: neg.instance });
    expect(requireShm().memfdSeals(region.dataoutFd) & MEMFD_REGION_SEALS).toBe(MEMFD_REGION_SEALS);
    const client = connect(region);
    expect(Buffer.from(client.call(new TextEncoder().encode('hello'))).toString('hex')).toBe('86a61036');
    client.close();
    await c.release({ ...creds, instance: neg.instance });
    c.close();
  });

  it('the window survives a vFunD restart in place (same inode: a running VM keeps its device)', async () => {
    const before = (await stat(windowPath())).ino;
    await daemon!.stop('restart');
    daemon = await up();
    expect((await stat(windowPath())).ino).toBe(before);
    const events = await readJournalFile(join(root, 'journal.ndjson'));
    // An auditor can tell the VM tenant from the process tenant, and its window's geometry.
    const started = events.find((e) => e.type === 'vfund.started') as unknown as { data: { config: { tenants: { id: string; vm?: unknown }[] } } };
    expect(started.data.config.tenants).toEqual([
      expect.objectContaining({ id: 'vm1', vm: { windowBytes: 1 << 20, slotBytes: 16384, slots: 63 } }),
      expect.not.objectContaining({ vm: expect.anything() }),
    ]);
    const vm = events.filter((e) => e.tenant === 'vm1').map((e) => e.type);
    expect(vm).toEqual([
      'negotiation.acked',
      'activation.started',
      'activation.acked',
      'instance.released',
      'negotiation.acked',
      'activation.started',
      'activation.acked',
      'instance.released',
      'negotiation.acked',
      'request.refused',
      'request.refused',
      'activation.started',
      'activation.acked',
      'instance.released',
    ]);
  });

  it('refuses a VM tenant whose maxInstances exceeds its window slots, naming the field', async () => {
    const bad = { ...config, tenants: [{ ...config.tenants[0]!, maxInstances: 100 }] };
    await writeFile(join(root, 'bad.json'), JSON.stringify(bad));
    await expect(startDaemon({ configPath: join(root, 'bad.json'), journal: 'memory:', root: join(root, 'tree2'), log: () => undefined })).rejects.toThrow(
      /tenants\.0\.maxInstances: 100 is more than the 63 slots its ivshmem window holds/,
    );
    const bad2 = { ...config, tenants: [{ ...config.tenants[0]!, ivshmem: { windowBytes: 3000000 } }] };
    await writeFile(join(root, 'bad2.json'), JSON.stringify(bad2));
    await expect(startDaemon({ configPath: join(root, 'bad2.json'), journal: 'memory:', root: join(root, 'tree3'), log: () => undefined })).rejects.toThrow(
      /tenants\.0\.ivshmem\.windowBytes: 3000000 must be a power of two/,
    );
  });
});

/** The envelopes of a file journal (one canonical JSON line each). */
async function readJournalFile(path: string): Promise<{ type: string; tenant: string | null }[]> {
  return (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; tenant: string | null });
}

/** A private copy of a window file's bytes (so the test never holds a mapping). */
async function mapCopy(path: string): Promise<ArrayBuffer> {
  const b = await readFile(path);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

describe('WindowHost model (generated allocate/free sequences)', () => {
  type Cmd = { kind: 'allocate' } | { kind: 'free'; pick: number } | { kind: 'free-unknown'; slot: number };
  const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
    { weight: 3, arbitrary: fc.constant({ kind: 'allocate' as const }) },
    { weight: 2, arbitrary: fc.nat().map((pick) => ({ kind: 'free' as const, pick })) },
    { weight: 1, arbitrary: fc.integer({ min: -2, max: 10 }).map((slot) => ({ kind: 'free-unknown' as const, slot })) },
  );

  test.prop([fc.array(cmdArb, { minLength: 1, maxLength: 60 })], { numRuns: 60 })(
    'the table always shows exactly the live instances, each in its own slot with its own areas; serials count reuse; the file is byte for byte what the layout functions make of a mapping',
    async (cmds) => {
      const dir = await mkdtemp(join(tmpdir(), 'vfun-winmodel-'));
      const host = await WindowHost.open(join(dir, 'w.shm'), planWindow(1 << 16, 4096)); // 3 slots
      // The reference: the same steps through the layout functions over memory (what vFunD did when it mapped the window).
      const ref = new ArrayBuffer(host.plan.windowBytes);
      const areaLen = slotAreaBytes(host.plan.capacity);
      initWindow(ref, host.plan, process.pid);
      const sameBytes = async () => expect(Buffer.compare(await readFile(host.path), Buffer.from(ref))).toBe(0);
      await sameBytes();
      try {
        const live = new Map<string, number>(); // instance -> slot
        const uses = new Map<number, number>(); // slot -> times allocated
        let n = 0;
        for (const c of cmds) {
          if (c.kind === 'allocate') {
            const instance = `i${n++}`;
            if (live.size === host.plan.slotCount) {
              expect(() => host.allocate({ instance, app: 'a', fn: 'f' })).toThrow(/all 3 slots are in use/);
              continue;
            }
            const r = host.allocate({ instance, app: 'a', fn: 'f' });
            initRegion(areaViews(ref, r.dataoutOffset, areaLen), areaViews(ref, r.datainOffset, areaLen), host.plan.capacity);
            publishEntry(ref, host.plan, r.slot, { instance, app: 'a', fn: 'f' });
            expect([...live.values()]).not.toContain(r.slot);
            live.set(instance, r.slot);
            uses.set(r.slot, (uses.get(r.slot) ?? 0) + 1);
          } else if (c.kind === 'free') {
            const names = [...live.keys()];
            if (names.length === 0) continue;
            const victim = names[c.pick % names.length]!;
            host.free(live.get(victim)!);
            retractEntry(ref, host.plan, live.get(victim)!);
            live.delete(victim);
          } else if (![...live.values()].includes(c.slot)) {
            host.free(c.slot); // a slot nobody holds (or out of range): nothing happens
          }
          expect(host.slotsInUse).toBe(live.size);
          const table = readEntries(await mapCopy(host.path));
          const active = table.filter((e) => e.state === SLOT_ACTIVE);
          expect(new Map(active.map((e) => [e.instance, e.slot]))).toEqual(live);
          for (const e of table) expect(e.serial).toBe(uses.get(e.slot) ?? 0);
          await sameBytes();
        }
      } finally {
        host.close();
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('vFunD writes the window and never maps it; a window its tenant resized', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-winfile-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const who = (instance: string) => ({ instance, app: 'a', fn: 'f' });
  /** Lines of this process's memory map that name `path`. */
  const mappingsOf = async (path: string) => (await readFile('/proc/self/maps', 'utf8')).split('\n').filter((l) => l.endsWith(path));
  /** A fresh window with `instance` alone, in slot 0: what the layout functions make of a mapping. */
  const freshWith = (plan: WindowPlan, instance: string): Buffer => {
    const ref = new ArrayBuffer(plan.windowBytes);
    initWindow(ref, plan, process.pid);
    const len = slotAreaBytes(plan.capacity);
    initRegion(areaViews(ref, plan.slotsOffset, len), areaViews(ref, plan.slotsOffset + len, len), plan.capacity);
    publishEntry(ref, plan, 0, who(instance));
    return Buffer.from(ref);
  };

  it('creates the window written whole (every block allocated, no hole) and holds no mapping of it', async () => {
    const host = await WindowHost.open(join(dir, 'whole.shm'), planWindow(1 << 20, 4096));
    try {
      const st = await stat(host.path);
      expect(st.size).toBe(1 << 20);
      expect(st.blocks * 512).toBeGreaterThanOrEqual(1 << 20); // written, not just sized: a full disk fails here, not later
      const a = host.allocate(who('x'));
      host.free(a.slot);
      host.allocate(who('y'));
      expect(await mappingsOf(host.path)).toEqual([]);
      expect(checkWindowHeader(await mapCopy(host.path))).toMatchObject({ vfundPid: process.pid, generation: 3, windowBytes: 1 << 20 });
    } finally {
      host.close();
    }
  });

  it('a window that cannot be written whole (a full disk; here a file size limit) is an error at start, and no file is left', async () => {
    const path = join(dir, 'limited.shm');
    const fixture = new URL('./fixtures/window-open-proc.ts', import.meta.url).pathname;
    // 64 blocks of at most 1 KiB: far less than the 1 MiB window.
    const child = spawn('/bin/sh', ['-c', 'ulimit -f 64 && exec "$0" --import tsx "$@"', process.execPath, fixture, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await once(child, 'exit');
    expect(JSON.parse(out)).toEqual({ code: 'RESOURCES', error: expect.stringMatching(/^cannot create the window .*limited\.shm: a file size limit is below its 1048576 bytes \(EFBIG\)$/), left: false });
  });

  it('truncated while a slot is held: no new slot, naming why; once released, re-initialised in place (same inode, written whole)', async () => {
    const plan = planWindow(1 << 16, 4096); // 3 slots
    const host = await WindowHost.open(join(dir, 'cut.shm'), plan);
    try {
      const a = host.allocate(who('a'));
      const inode = (await stat(host.path)).ino;
      truncateSync(host.path, 0); // what its tenant's QEMU user can do to the file
      expect(() => host.allocate(who('b'))).toThrow(
        /cut\.shm is 0 bytes, its layout needs 65536: it was truncated \(only its tenant's QEMU user can resize it\); no new slot while 1 instance\(s\) still hold one; once they are released vFunD re-initialises it in place/,
      );
      host.free(a.slot);
      expect((await stat(host.path)).size).toBe(0); // a release writes nothing past the end (no file grown back with holes)
      expect(host.allocate(who('c')).slot).toBe(0);
      expect(host.reinitialisations).toBe(1);
      const st = await stat(host.path);
      expect([st.ino, st.size, st.blocks * 512 >= plan.windowBytes]).toEqual([inode, plan.windowBytes, true]);
      expect(Buffer.compare(await readFile(host.path), freshWith(plan, 'c'))).toBe(0);
    } finally {
      host.close();
    }
  });

  it('truncated and grown back, or its header overwritten from inside the VM: the header is written again, slots and table left alone', async () => {
    const plan = planWindow(1 << 16, 4096);
    const host = await WindowHost.open(join(dir, 'regrown.shm'), plan);
    try {
      host.allocate(who('a'));
      truncateSync(host.path, 0);
      truncateSync(host.path, plan.windowBytes); // all zeros again: no header, no table
      const b = host.allocate(who('b'));
      expect(host.reinitialisations).toBe(0);
      let bytes = await mapCopy(host.path);
      expect(checkWindowHeader(bytes)).toMatchObject({ slotCount: 3, generation: 2 });
      expect(readEntries(bytes).filter((e) => e.state === SLOT_ACTIVE).map((e) => [e.instance, e.slot])).toEqual([['b', b.slot]]);
      // A guest rewrites the geometry (slotCount 1000): the next allocation puts it back and goes on.
      const fd = openSync(host.path, 'r+');
      writeSync(fd, u32(1000), 0, 4, 16);
      closeSync(fd);
      host.allocate(who('c'));
      bytes = await mapCopy(host.path);
      expect(checkWindowHeader(bytes)).toMatchObject({ slotCount: 3, generation: 3 });
      expect(readEntries(bytes).filter((e) => e.state === SLOT_ACTIVE).map((e) => e.instance)).toEqual(['b', 'c']);
    } finally {
      host.close();
    }
  });

  it("a service waiting on a word of a window truncated under it dies of SIGBUS (the futex's EFAULT is not what ends it)", async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', new URL('./fixtures/window-futex-proc.ts', import.meta.url).pathname, join(dir, 'futex.shm')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    expect({ code, signal, out }).toEqual({ code: null, signal: 'SIGBUS', out: '' });
  });

  it('grown: vFunD leaves the extra bytes alone and goes on handing out slots', async () => {
    const plan = planWindow(1 << 16, 4096);
    const host = await WindowHost.open(join(dir, 'grown.shm'), plan);
    try {
      host.allocate(who('a'));
      truncateSync(host.path, 1 << 30); // a sparse GiB
      const b = host.allocate(who('b'));
      expect((await stat(host.path)).size).toBe(1 << 30);
      expect(lookupWindowRegion(host.path, 'b')).toMatchObject({ slot: b.slot, dataoutOffset: b.dataoutOffset });
      host.free(b.slot);
      expect(host.reinitialisations).toBe(0);
    } finally {
      host.close();
    }
  });
});
