/**
 * `bench paper --vm`, its pure parts: the QEMU command line with a virtio-net NIC on the user
 * network, the guest's network set-up, the guest command, the parsing of the guest's reports
 * (fast-check: complete good reports in any order give every run; one bad field, a missing or a
 * duplicated run is refused naming it), the options, and the TCG label in results.md and figures.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { ValidationError, VirtFunError } from '../../src/errors.js';
import { paperOptionsFrom } from '../../src/paper/cli.js';
import { expected, PAPER_N, type PaperFn } from '../../src/paper/driver.js';
import { parseInstances, scaleInstance, type ScaledInstance } from '../../src/paper/instances.js';
import { markdown, runWarnings, titleFlags } from '../../src/paper/report.js';
import type { PaperResults, VmLabel } from '../../src/paper/results.js';
import { runPaperBench } from '../../src/paper/run.js';
import { guestCommand, parsePaperLine, runsFromReports, VIA_DOMAIN, vmFunctionName } from '../../src/paper/vm-guest.js';
import { paperVmConfig, PAPER_VM_TENANT } from '../../src/paper/vm-run.js';
import { parseConfig } from '../../src/actors/config.js';
import { qemuArgs } from '../../src/vm/qemu-args.js';
import { vmOptionsFrom } from '../../src/vm/options.js';
import { USER_NET_GUEST, USER_NET_HOST, userNetSetup } from '../../src/vm/user-net.js';

function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
}

function fieldOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof ValidationError) return e.field;
    throw e;
  }
  throw new Error('no error');
}

describe('qemuArgs with a NIC', () => {
  it('adds a virtio-net NIC on the user network instead of -nic none', () => {
    const args = qemuArgs({ kernel: 'k', initrd: 'i', ports: [], net: { mode: 'user' } }, 'tcg');
    expect(values(args, '-nic')).toEqual([]);
    expect(values(args, '-netdev')).toEqual(['user,id=vfunnet']);
    expect(values(args, '-device')).toEqual(['virtio-net-pci,netdev=vfunnet']);
    expect(values(qemuArgs({ kernel: 'k', initrd: 'i', ports: [] }, 'tcg'), '-nic')).toEqual(['none']);
  });

  it('refuses another network mode, naming the field', () => {
    expect(fieldOf(() => qemuArgs({ kernel: 'k', initrd: 'i', ports: [], net: { mode: 'tap' } as never }, 'tcg'))).toBe('net.mode');
  });

  it("brings the guest's first NIC up with the user network's addresses", () => {
    const sh = userNetSetup();
    expect(sh).toContain(`ip addr add ${USER_NET_GUEST}/24 dev "$_nic"`);
    expect(sh).toContain(`ip route add default via ${USER_NET_HOST}`);
    expect(sh).toMatch(/exit 3/);
  });
});

const INSTANCES: readonly ScaledInstance[] = parseInstances('5Kx100,500x1k,7x3').map((i) => scaleInstance(i, 1000));

describe('guestCommand', () => {
  it('runs vfun-guest --paper once per function, window then TCP, stopping at the first failure', () => {
    const cmd = guestCommand({ fns: ['factorial', 'fibonacci'], instances: INSTANCES, runs: 3, host: '10.0.2.2', ports: { factorial: 4001, fibonacci: 4002 }, callTimeoutMs: 5000 });
    expect(cmd.split('\n')).toEqual([
      'vfun-guest --paper paper-factorial --paper-n 51 --instances 5x100,1x1000,1x3 --runs 3 --tcp 10.0.2.2:4001 --timeout-ms 5000 || exit $?',
      'vfun-guest --paper paper-fibonacci --paper-n 93 --instances 5x100,1x1000,1x3 --runs 3 --tcp 10.0.2.2:4002 --timeout-ms 5000 || exit $?',
    ]);
  });

  it('refuses a function without a port, naming it', () => {
    expect(fieldOf(() => guestCommand({ fns: ['fibonacci'], instances: INSTANCES, runs: 1, host: 'h', ports: {}, callTimeoutMs: 1 }))).toBe('ports.fibonacci');
    expect(fieldOf(() => guestCommand({ fns: ['factorial'], instances: INSTANCES, runs: 1, host: 'h', ports: { factorial: 70000 }, callTimeoutMs: 1 }))).toBe('ports.factorial');
  });
});

describe("vFunD's configuration for the VM", () => {
  it('is valid: one VM tenant, the paper functions on the drivers of the module', () => {
    const c = parseConfig(paperVmConfig(['factorial', 'fibonacci'], 's'.repeat(32), '/x/vm-drivers.js'));
    expect(c.tenants.map((t) => [t.id, Boolean(t.ivshmem)])).toEqual([[PAPER_VM_TENANT, true]]);
    expect(c.functions.map((f) => f.name)).toEqual(['paper-factorial', 'paper-fibonacci']);
  });
});

/** Every report of a complete run of `plan`, in order. */
function reportsOf(fns: readonly PaperFn[], instances: readonly ScaledInstance[], runs: number, ns: (k: number) => number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const fn of fns)
    for (const via of ['ivshmem', 'tcp'] as const)
      for (const [k, inst] of instances.entries())
        for (let run = 0; run < runs; run++)
          out.push({ vfun: 'paper', via, fn: vmFunctionName(fn), instance: k, run, ns: ns(out.length), calls: inst.iterations, result: expected(fn, PAPER_N[fn]).toString() });
  return out;
}

const plans = fc.record({
  fns: fc.constantFrom<PaperFn[]>(['factorial'], ['fibonacci'], ['factorial', 'fibonacci']),
  instances: fc.integer({ min: 1, max: INSTANCES.length }).map((n) => INSTANCES.slice(0, n)),
  runs: fc.integer({ min: 1, max: 4 }),
});

describe('runsFromReports', () => {
  test.prop([plans, fc.array(fc.integer({ min: 1, max: 1e12 }), { minLength: 200, maxLength: 200 }), fc.infiniteStream(fc.nat())])(
    'turns complete reports, in any order and among other lines, into every run with the guest-clock time',
    (plan, ns, order) => {
      const good = reportsOf(plan.fns, plan.instances, plan.runs, (k) => ns[k % ns.length]!);
      const keys = order.take(good.length);
      const shuffled = good.map((r, i) => [[...keys][i]!, r] as const).sort((a, b) => a[0] - b[0]).map(([, r]) => r);
      const runs = runsFromReports([{ vfun: 'phase', phase: 'window', ok: true }, ...shuffled, { vfun: 'done', ok: true }], plan);
      expect(runs).toHaveLength(plan.fns.length * 2 * plan.instances.length * plan.runs);
      for (const r of runs) {
        const src = shuffled.find((x) => x['fn'] === vmFunctionName(r.fn) && VIA_DOMAIN[x['via'] as 'tcp'] === r.domain && plan.instances[x['instance'] as number]!.label === r.instance && x['run'] === r.run)!;
        expect(r.seconds).toBe((src['ns'] as number) / 1e9);
        expect(r.iterations).toBe(src['calls']);
      }
    },
  );

  const mutations: readonly [string, (r: Record<string, unknown>) => Record<string, unknown>][] = [
    ['via', (r) => ({ ...r, via: 'memfd' })],
    ['ns', (r) => ({ ...r, ns: 0 })],
    ['ns', (r) => ({ ...r, ns: 1.5 })],
    ['ns', (r) => ({ ...r, ns: 'fast' })],
    ['calls', (r) => ({ ...r, calls: (r['calls'] as number) + 1 })],
    ['result', (r) => ({ ...r, result: '12' })],
    ['result', (r) => ({ ...r, result: '-1' })],
    ['instance', (r) => ({ ...r, instance: 99 })],
    ['run', (r) => ({ ...r, run: 99 })],
    ['fn', (r) => ({ ...r, fn: 'sha256' })],
    ['run', (r) => ({ ...r, run: undefined })],
  ];
  test.prop([plans, fc.nat(), fc.integer({ min: 0, max: mutations.length - 1 })])('refuses one bad report, naming its index and field', (plan, at, m) => {
    const reports = reportsOf(plan.fns, plan.instances, plan.runs, () => 1000);
    const i = at % reports.length;
    const [field, mutate] = mutations[m]!;
    reports[i] = mutate(reports[i]!);
    const want = `reports[${i}].${field}`;
    expect(fieldOf(() => runsFromReports(reports, plan))).toBe(want);
  });

  test.prop([plans, fc.nat()])('refuses a missing run (the guest stopped early) and a duplicated one', (plan, at) => {
    const reports = reportsOf(plan.fns, plan.instances, plan.runs, () => 1000);
    const i = at % reports.length;
    expect(fieldOf(() => runsFromReports(reports.filter((_, k) => k !== i), plan))).toBe('reports');
    expect(fieldOf(() => runsFromReports([...reports, reports[i]!], plan))).toBe(`reports[${reports.length}].run`);
  });

  it("stops at the guest's own error lines, saying what failed", () => {
    const reports = [{ vfun: 'error', fn: 'paper-factorial', phase: 'paper-tcp', detail: 'cannot connect to 10.0.2.2:1: Connection refused' }];
    expect(() => runsFromReports(reports, { fns: ['factorial'], instances: INSTANCES, runs: 1 })).toThrow(VirtFunError);
    expect(() => runsFromReports(reports, { fns: ['factorial'], instances: INSTANCES, runs: 1 })).toThrow(/paper-tcp: cannot connect/);
  });

  it('names the field of a line that is not a paper report at all', () => {
    expect(fieldOf(() => parsePaperLine(null, 4))).toBe('reports[4]');
    expect(fieldOf(() => parsePaperLine({ vfun: 'paper' }, 0))).toBe('reports[0].via');
  });
});

describe('bench paper --vm options', () => {
  it('takes the VM options as vfun vm run does', () => {
    const o = paperOptionsFrom({ vm: true, accel: 'tcg', memory: '512', timeout: '60', quick: true });
    expect(o.vm).toMatchObject({ accel: 'tcg', memoryMiB: 512, timeoutMs: 60_000, bootTimeoutMs: 20_000 });
    expect(paperOptionsFrom({}).vm).toBeNull();
    expect(fieldOf(() => paperOptionsFrom({ vm: true, memory: '12' }))).toBe('--memory');
    expect(fieldOf(() => vmOptionsFrom({ cache: '/c', accel: 'auto', bootTimeout: '0' }))).toBe('--boot-timeout');
  });

  it('refuses --trace and --until-stable with --vm before starting anything', async () => {
    const base = paperOptionsFrom({ vm: true, out: '/nonexistent/never-made', quick: true });
    await expect(runPaperBench({ ...base, trace: true })).rejects.toMatchObject({ field: '--trace' });
    await expect(runPaperBench({ ...base, untilStable: { maxRelWidth: 0.1, maxRuns: 10 } })).rejects.toMatchObject({ field: '--until-stable' });
  });
});

describe('the VM label in results.md and the figures', () => {
  const committed = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/paper-runs/older/results.json'), 'utf8')) as PaperResults;
  const label: VmLabel = { accel: 'tcg', emulated: true, kernel: '6.1.0-x', guest: 'vfun-guest', guestHost: 'slot', guestNet: 'tcp', bootMs: 2400, durationMs: 9000, journal: 'vfund/journal.ndjson', chainVerified: true };
  const withVm = (vm: VmLabel): PaperResults => ({ ...committed, meta: { ...committed.meta, vm } });

  it('warns under TCG that the VM columns are not comparable with the paper', () => {
    const r = withVm(label);
    expect(runWarnings(r).some((w) => /QEMU guest under TCG.*not comparable with the paper/.test(w))).toBe(true);
    expect(titleFlags(r)).toContain('VM EMULATED (TCG)');
    const md = markdown(r, []);
    expect(md).toMatch(/^> \*\*Warning:\*\* the guest-host and guest-net columns ran in a QEMU guest under TCG/m);
    expect(md).toContain('Guest-Host and Guest-Net ran in a QEMU virtual machine (TCG, software emulation; kernel 6.1.0-x');
    expect(md).toContain('`vfund/journal.ndjson` (hash chain verified)');
  });

  it('says where the columns ran under KVM, without the warning', () => {
    const r = withVm({ ...label, accel: 'kvm', emulated: false });
    expect(runWarnings(r)).toEqual(runWarnings(committed));
    expect(titleFlags(r)).not.toContain('VM');
    expect(markdown(r, [])).toContain('QEMU virtual machine (KVM;');
  });
});
