/** The environment a `bench paper` run records, and how results.md flags a run under load or --quick. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CLOCK_TICKS,
  foreignBetween,
  gitState,
  isUnderLoad,
  loadWarning,
  parsePidStatTicks,
  parseProcStatBusy,
  sampleCpu,
  staticEnvironment,
  UNDER_LOAD_CORES,
  type ForeignCpu,
  type RunEnvironment,
} from '../../src/paper/environment.js';
import { markdown, runWarnings, titleFlags } from '../../src/paper/report.js';
import type { PaperResults } from '../../src/paper/results.js';

const window = (cores: number): ForeignCpu => ({ windowMs: 1000, foreignCpuSeconds: cores, foreignCores: cores, loadavg1: 0.5 });

describe('CPU counters', () => {
  it('reads busy ticks of /proc/stat: user+nice+system+irq+softirq+steal, not idle or iowait', () => {
    expect(parseProcStatBusy('cpu  100 2 30 9999 77 4 5 6 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n')).toBe(100 + 2 + 30 + 4 + 5 + 6);
    expect(() => parseProcStatBusy('intr 1 2\n')).toThrow(/cpu line/);
  });

  it('reads utime+stime+cutime+cstime of /proc/<pid>/stat, whatever the name holds', () => {
    const fields = ['S', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12', '13', '14', '15', '16'];
    // fields 14..17 (utime stime cutime cstime) are 11, 12, 13, 14 here
    expect(parsePidStatTicks(`42 (node) ${fields.join(' ')}`)).toBe(11 + 12 + 13 + 14);
    expect(parsePidStatTicks(`42 (a (weird) name) ${fields.join(' ')}`)).toBe(11 + 12 + 13 + 14);
  });

  it('foreign CPU is the machine minus ours, in cores, never negative', () => {
    const a = { atMs: 0, machineBusy: 1000, ours: 500 };
    const f = foreignBetween(a, { atMs: 2000, machineBusy: 1000 + 3 * CLOCK_TICKS, ours: 500 + CLOCK_TICKS }, 1.25);
    expect(f.foreignCpuSeconds).toBeCloseTo(2, 9);
    expect(f.foreignCores).toBeCloseTo(1, 9);
    expect(f.loadavg1).toBe(1.25);
    expect(foreignBetween(a, { atMs: 1000, machineBusy: 1000, ours: 600 }, 0).foreignCores).toBe(0);
  });

  it('samples this machine', () => {
    const s = sampleCpu();
    expect(s.machineBusy).toBeGreaterThan(0);
    expect(s.ours).toBeGreaterThanOrEqual(0);
    expect(s.machineBusy).toBeGreaterThanOrEqual(s.ours);
  });
});

describe('the recorded environment', () => {
  it('has kernel, CPU, Node, git, command line, options, seeds and profile, with their types', () => {
    const e = staticEnvironment({ options: { scale: 10 }, seeds: { simulatorJitter: 1 }, deviceProfile: { name: 'x' }, argv: ['/usr/bin/node', '/x/main.js', 'bench', 'paper', '--quick'] });
    expect(typeof e.kernel).toBe('string');
    expect(e.kernel.length).toBeGreaterThan(0);
    expect(typeof e.kernelVersion).toBe('string');
    expect(typeof e.cpuModel).toBe('string');
    expect(Number.isInteger(e.cpus) && e.cpus > 0).toBe(true);
    expect(e.node).toBe(process.version);
    expect(e.commandLine).toEqual(['vfun', 'bench', 'paper', '--quick']);
    expect(e.options).toEqual({ scale: 10 });
    expect(e.seeds).toEqual({ simulatorJitter: 1 });
    expect(e.deviceProfile).toEqual({ name: 'x' });
    // This repository is a checkout: a commit and a dirty flag, where git runs here (the isolated
    // unit tier runs as another user, for whom git refuses a checkout it does not own: null then).
    const head = spawnSync('git', ['-C', import.meta.dirname, 'rev-parse', 'HEAD'], { encoding: 'utf8' });
    if (head.status === 0) {
      expect(e.git).toEqual({ commit: head.stdout.trim(), dirty: expect.any(Boolean) as boolean });
      expect(e.git!.commit).toMatch(/^[0-9a-f]{40}$/);
    } else {
      expect(e.git).toBeNull();
    }
  });

  it('git state is null outside a checkout', () => {
    expect(gitState('/')).toBeNull();
  });

  it(`a run is under load above ${UNDER_LOAD_CORES} foreign cores during it, and the warning says how much`, () => {
    expect(isUnderLoad(window(UNDER_LOAD_CORES))).toBe(false);
    expect(isUnderLoad(window(UNDER_LOAD_CORES + 0.01))).toBe(true);
    expect(loadWarning({ underLoad: false, load: { before: window(0), during: window(0), after: window(0) } })).toBeNull();
    expect(loadWarning({ underLoad: true, load: { before: window(0.05), during: window(0.93), after: window(0.5) } })).toMatch(/0\.93 cores during the run \(before 0\.05, after 0\.50/);
  });
});

describe('results.md flags what makes a run untrustworthy', () => {
  const committed = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/paper-runs/older/results.json'), 'utf8')) as PaperResults;
  const env = (during: number): RunEnvironment => ({
    ...staticEnvironment({ options: {}, seeds: { simulatorJitter: 1 }, deviceProfile: null }),
    load: { before: window(0), during: window(during), after: window(0) },
    underLoad: isUnderLoad(window(during)),
    underLoadThresholdCores: UNDER_LOAD_CORES,
  });
  const withMeta = (m: Partial<PaperResults['meta']>): PaperResults => ({ ...committed, meta: { ...committed.meta, ...m } });

  it('a quiet full run: no warning, an environment paragraph', () => {
    const r = withMeta({ quick: false, environment: env(0.02) });
    expect(runWarnings(r)).toEqual([]);
    expect(titleFlags(r)).toBe('');
    const md = markdown(r, []);
    expect(md.startsWith('# VirtFun')).toBe(true);
    expect(md).toMatch(/Other processes' CPU \(cores\): 0\.00 before, 0\.02 during, 0\.00 after/);
  });

  it('under load and --quick: warning lines at the top, flags in the titles', () => {
    const r = withMeta({ quick: true, environment: env(0.8) });
    const md = markdown(r, []);
    const top = md.split('\n').slice(0, 4).join('\n');
    expect(top).toMatch(/^> \*\*Warning:\*\* under load: other processes used 0\.80 cores/);
    expect(top).toContain('not comparable with the paper');
    expect(titleFlags(r)).toBe(' [UNDER LOAD; --quick, not comparable with the paper]');
  });

  it('an older run without an environment still renders', () => {
    expect(runWarnings(committed)).toEqual([]);
    expect(markdown(committed, [])).toContain('## Ratios');
  });
});
