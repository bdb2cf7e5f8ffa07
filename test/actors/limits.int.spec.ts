/**
 * Per-tenant resource limits on the real host: vFunD (this test process) puts
 * each tenant's service processes into the tenant's cgroups. A tenant whose
 * driver allocates past its memory limit has its service process OOM-killed:
 * the instance is released with the cause journaled (SIGKILL, the memory
 * limit named) and another tenant keeps serving. A tenant with a CPU limit
 * has its service process in its group, with the quota set.
 *
 * Where the host offers no cgroups (not root, a read-only cgroupfs, a
 * controller missing), each test asserts the documented fallback instead:
 * vFunD says which limits are not enforced and why, and serves on with the
 * limits advisory. The non-root fallback is exercised for real whatever the
 * host: a vFunD-side probe run as an unprivileged user.
 *
 * The service processes run the compiled runtime (dist/: `npm run build`
 * first), as in production: run from the TypeScript sources, a service
 * process costs about 67 MiB of its tenant's limit (the TypeScript loader in
 * it and in its worker), more than the 64 MiB the memory test gives, where
 * the compiled one costs about 28 MiB. The test drivers' module is
 * transpiled next to the compiled sources for the same reason.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VFunD } from '../../src/actors/vfund.js';
import type { FileRuntime as FileRuntimeClass, HostRegion } from '../../src/actors/runtime-files.js';
import { parseConfig, toSnapshot } from '../../src/actors/config.js';
import { CPU_PERIOD_US, TenantCgroups } from '../../src/actors/cgroups.js';
import { MemoryJournal } from '../../src/events/memory-journal.js';
import { isFdRegion } from '../../src/dataplane/region-fds.js';
import type { Envelope } from '../../src/events/envelope.js';
import { callLoop } from '../support/call-loop.js';
import { LineProcess } from '../support/line-process.js';
import { counterIds, steppingClock } from './helpers.js';

const DIST = new URL('../../dist/', import.meta.url);
let base: string;
let FileRuntime: typeof FileRuntimeClass;
let driverModule: URL;
const cleanup: (() => Promise<void>)[] = [];
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'vfun-limits-'));
  const compiled = new URL('src/actors/runtime-files.js', DIST);
  if (!existsSync(compiled)) throw new Error(`${compiled.pathname} is missing: run npm run build first`);
  ({ FileRuntime } = (await import(compiled.href)) as typeof import('../../src/actors/runtime-files.js'));
  // The test drivers, transpiled where their import of src/drivers/driver.js finds the compiled one.
  const source = new URL('../dataplane/fixtures/test-drivers.ts', import.meta.url);
  driverModule = new URL('test/dataplane/fixtures/test-drivers.js', DIST);
  const js = ts.transpileModule(await readFile(source, 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  await mkdir(dirname(driverModule.pathname), { recursive: true });
  await writeFile(driverModule, js);
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

type Result = { ok?: string; error?: string; thrown?: string; message?: string };
const SECRETS = { hog: 'secret-of-the-memory-hog', busy: 'secret-of-the-cpu-burner', b: 'secret-of-honest-b' } as const;
type Tenant = keyof typeof SECRETS;
const validConfig = parseConfig({
  tenants: [
    { id: 'hog', secret: SECRETS.hog, maxInstances: 1, limits: { memoryMiB: 64 } },
    { id: 'busy', secret: SECRETS.busy, maxInstances: 1, limits: { cpus: 0.2 } },
    { id: 'b', secret: SECRETS.b, maxInstances: 1 },
  ],
  functions: [{ name: 'crc', kinds: { sw: { slots: 4, driver: 'crc32' } } }],
});
// The test drivers' module builds 'hog' (CRC-32 unless told to allocate or burn CPU); the configuration names it.
const snapshot = toSnapshot(validConfig);
const cfg = { ...snapshot, functions: [{ name: 'crc', kinds: { sw: { slots: 4, driver: 'hog' } } }] };

async function host() {
  const root = await mkdtemp(join(base, 'r-'));
  const limits = await TenantCgroups.create(validConfig.tenants);
  const journal = new MemoryJournal();
  const runtime = await FileRuntime.create({ root, driverModule, limits });
  const d = await VFunD.start<HostRegion>({ journal, runtime, config: cfg, host: 'h', clock: steppingClock(), ids: counterIds(`i${Math.random().toString(36).slice(2, 6)}`) });
  cleanup.push(async () => {
    await d.stop();
    await runtime.close();
    expect(await limits.remove()).toEqual([]);
  });
  const events = async (): Promise<Envelope[]> => {
    const out: Envelope[] = [];
    for await (const e of journal.read()) out.push(e);
    return out;
  };
  return { d, root, limits, events };
}

async function instance(d: VFunD<HostRegion>, root: string, tenant: Tenant) {
  const creds = { tenant, credential: SECRETS[tenant] };
  const n = await d.negotiate({ ...creds, app: 'app', fn: 'crc', kind: 'sw' });
  if (!n.ok) throw new Error(n.detail);
  const a = await d.activate({ ...creds, instance: n.instance });
  if (!a.ok) throw new Error(a.detail);
  if (!isFdRegion(a.region)) throw new Error('expected a sealed-memory region');
  const guest = new LineProcess(new URL('../dataplane/fixtures/guest-proc.ts', import.meta.url), ['fd:3,4', 'hybrid', '60000'], [a.region.dataoutFd, a.region.datainFd]);
  await guest.ready;
  cleanup.push(() => guest.close());
  const calls = async (ops: string[][]): Promise<Result[]> => (await guest.request<{ results: Result[] }>({ ops })).results;
  const entry = JSON.parse(await readFile(join(root, 'admin', 'instances', `${n.instance}.json`), 'utf8')) as { pid: number };
  return { instance: n.instance, servicePid: entry.pid, calls };
}

const u32 = (hex: string | undefined): number => Buffer.from(hex ?? '', 'hex').readUInt32LE(0);
/** The cgroup of `pid` in a hierarchy (v1: the line naming the controller; v2: `0::`), from /proc/<pid>/cgroup. */
function cgroupOf(pid: number, version: 1 | 2, controller: string): string | undefined {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const line = lines.find((l) => (version === 2 ? l.startsWith('0::') : l.split(':')[1]!.split(',').includes(controller)));
  return line?.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
}

describe('tenant resource limits', () => {
  it('a driver that allocates past its tenant’s 64 MiB: its service process is OOM-killed, the cause journaled, another tenant keeps serving (or, without cgroups: said at start, advisory)', async () => {
    const { d, root, limits, events } = await host();
    const hog = await instance(d, root, 'hog');
    const b = await instance(d, root, 'b');
    const loop = callLoop(b.calls);
    await loop.progressed();
    expect(limits.group('b')).toBeUndefined(); // no limits, no group

    if (limits.enforced('hog', 'memoryMiB')) {
      const group = limits.group('hog')!.memory!;
      expect(cgroupOf(hog.servicePid, group.version, 'memory')).toContain('/virtfun/');
      expect(group.dir.endsWith(cgroupOf(hog.servicePid, group.version, 'memory')!)).toBe(true);
      expect(readFileSync(join(group.dir, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(hog.servicePid));
      // 0xfc: allocate and touch up to 256 MiB. The OOM killer ends the process: the guest is told at once.
      const [r] = await hog.calls([['call', 'fc10']]);
      expect(r).toMatchObject({ thrown: 'CHANNEL_CLOSED' });
      await expect.poll(async () => (await events()).find((e) => e.type === 'instance.released' && e.data.instance === hog.instance)?.data, { timeout: 30_000 }).toMatchObject({ reason: 'failure' });
      const failed = (await events()).find((e) => e.type === 'service.failed');
      expect(failed?.tenant).toBe('hog');
      expect(failed?.data).toMatchObject({ instance: hog.instance, cause: { signal: 'SIGKILL' } });
      expect((failed?.data as { detail: string }).detail).toMatch(/killed by SIGKILL \(the OOM killer: tenant hog's memory limit of 64 MiB/);
    } else {
      // The documented fallback: said once at start, naming the limit and why; the limit is advisory.
      expect(limits.report().filter((l) => l.includes('NOT enforced'))).toEqual([expect.stringMatching(/hog\.memoryMiB.*: .+/)]);
      const [r] = await hog.calls([['call', 'fc10']]);
      expect(u32(r?.ok)).toBe(256);
      expect((await events()).filter((e) => e.type === 'service.failed')).toEqual([]);
    }
    await loop.progressed(); // the other tenant goes on
    await loop.stop();
    expect(loop.tally.bad).toEqual([]);
    expect(d.snapshot.instances[b.instance]?.lifecycle.value).toBe('computation');
  });

  it('a tenant with cpus 0.2: its service process is in its group, the quota reads back as set, a busy call is throttled (or, without cgroups: said at start, advisory)', async () => {
    const { d, root, limits } = await host();
    const busy = await instance(d, root, 'busy');
    const quota = Math.round(0.2 * CPU_PERIOD_US);
    if (limits.enforced('busy', 'cpus')) {
      const group = limits.group('busy')!.cpu!;
      expect(readFileSync(join(group.dir, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(busy.servicePid));
      expect(cgroupOf(busy.servicePid, group.version, 'cpu')).toContain('/virtfun/');
      expect(group.dir.endsWith(cgroupOf(busy.servicePid, group.version, 'cpu')!)).toBe(true);
      if (group.version === 2) {
        expect(readFileSync(join(group.dir, 'cpu.max'), 'utf8').trim()).toBe(`${quota} ${CPU_PERIOD_US}`);
      } else {
        expect(Number(readFileSync(join(group.dir, 'cpu.cfs_quota_us'), 'utf8'))).toBe(quota);
        expect(Number(readFileSync(join(group.dir, 'cpu.cfs_period_us'), 'utf8'))).toBe(CPU_PERIOD_US);
      }
      // 0xfb: burn 100 ms of CPU time; at 20 ms per 100 ms period that is throttled in several periods.
      const [r] = await busy.calls([['call', 'fb0a']]);
      expect(u32(r?.ok)).toBeGreaterThanOrEqual(100);
      const stat = readFileSync(join(group.dir, 'cpu.stat'), 'utf8');
      expect(Number(/^nr_throttled (\d+)$/m.exec(stat)?.[1])).toBeGreaterThan(0);
    } else {
      expect(limits.report().filter((l) => l.includes('NOT enforced'))).toEqual([expect.stringMatching(/busy\.cpus.*: .+/)]);
      expect(readFileSync(`/proc/${busy.servicePid}/cgroup`, 'utf8')).not.toContain('/virtfun/');
      const [r] = await busy.calls([['call', 'fb0a']]);
      expect(u32(r?.ok)).toBeGreaterThanOrEqual(100);
    }
    expect(d.snapshot.instances[busy.instance]?.lifecycle.value).toBe('computation');
  });

  it('without the right to make cgroups (an unprivileged vFunD), every limit is reported as advisory, with the reason, and nothing is created', async () => {
    // Run as nobody when the test runs as root; as the test's own (unprivileged) user otherwise.
    const asNobody = process.getuid?.() === 0;
    const probe = new LineProcess(new URL('./fixtures/cgroups-probe.ts', import.meta.url), [], [], asNobody ? { uid: 65534, gid: 65534 } : undefined);
    await probe.ready;
    const out = await probe.request<{ advisory: { tenant: string; limit: string; reason: string }[]; report: string[]; groups: unknown[]; uid: number }>({
      tenants: [
        { id: 'hog', limits: { memoryMiB: 64 } },
        { id: 'busy', limits: { cpus: 0.2 } },
        { id: 'b' },
      ],
    });
    await probe.close();
    expect(out.uid).not.toBe(0);
    expect(out.groups).toEqual([null, null, null]);
    expect(out.advisory.map((a) => `${a.tenant}.${a.limit}`).sort()).toEqual(['busy.cpus', 'hog.memoryMiB']);
    for (const a of out.advisory) expect(a.reason).toMatch(/permission denied .*not root|read-only|no (cpu|memory) controller|shows no control groups/);
    expect(out.report.filter((l) => l.includes('NOT enforced'))).toHaveLength(1);
  });
});
