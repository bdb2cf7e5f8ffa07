/**
 * `vfun bench compare` on the two committed runs of test/fixtures/paper-runs (made by
 * `vfun bench paper --quick --functions factorial --no-fpga --instances 250Kx2k,5Kx100k`).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { Comparison } from '../../src/paper/compare.js';
import type { PaperResults } from '../../src/paper/results.js';
import { median } from '../../src/paper/stats.js';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const A = join(import.meta.dirname, '../fixtures/paper-runs/a');
const B = join(import.meta.dirname, '../fixtures/paper-runs/b');
const raw = (dir: string): PaperResults => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as PaperResults;
const cells = ['250K x 2k', '5K x 100k'].flatMap((i) => ['host-host', 'guest-host', 'guest-net'].map((d) => [i, d] as const));

describe('vfun bench compare', () => {
  it('tabulates both runs per cell: medians, CIs, ratio b/a, overlap', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'bench', 'compare', A, B]);
    expect(stdout).toContain(`a: ${A} ·`);
    expect(stdout).toContain('warning: run a');
    expect(stdout).toContain('--quick');
    const rows = stdout.split('\n').filter((l) => l.startsWith('| factorial |'));
    expect(rows.map((l) => l.split(' | ').slice(1, 3))).toEqual(cells.map(([i, d]) => [i, d]));
    for (const [k, [i, d]] of cells.entries()) {
      const m = (r: PaperResults): number => median(r.raw.filter((x) => x.instance === i && x.domain === d).map((x) => x.seconds));
      const ratio = m(raw(B)) / m(raw(A));
      expect(rows[k]!.split(' | ')[5]).toBe(ratio.toFixed(3));
      expect(rows[k]).toMatch(/\| (yes|\*\*no\*\*) \|$/);
    }
  });

  it('--json: the same comparison as data', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'bench', 'compare', A, join(B, 'results.json'), '--json']);
    const c = JSON.parse(stdout) as Comparison;
    expect(c.a.scale).toBe(100_000);
    expect(c.rows).toHaveLength(cells.length);
    for (const r of c.rows) {
      expect(r.a!.ci_low).toBeLessThanOrEqual(r.a!.median);
      expect(r.b!.median).toBeLessThanOrEqual(r.b!.ci_high);
      expect(r.ratio).toBeCloseTo(r.b!.median / r.a!.median, 12);
      expect(r.overlap).toBe(r.a!.ci_low <= r.b!.ci_high && r.b!.ci_low <= r.a!.ci_high);
    }
  });

  it('--csv: a header and one line per cell', async () => {
    const { stdout, stderr } = await run(process.execPath, [CLI, 'bench', 'compare', A, B, '--csv']);
    expect(stderr).toMatch(/^warning: run a .* is a --quick run$/m); // no room for them in the CSV
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('fn,instance,domain,a_median_s,a_ci_low_s,a_ci_high_s,a_runs,b_median_s,b_ci_low_s,b_ci_high_s,b_runs,ratio_b_a,ci_overlap');
    expect(lines).toHaveLength(1 + cells.length);
    expect(lines[1]).toMatch(/^factorial,250K x 2k,host-host,[0-9.e-]+,/);
  });

  it('refuses a missing run naming the argument, exit 1', async () => {
    const e = await run(process.execPath, [CLI, 'bench', 'compare', A, join(B, 'nothing-here')]).catch((x: unknown) => x as { code: number; stderr: string });
    expect(e).toMatchObject({ code: 1 });
    expect((e as { stderr: string }).stderr).toMatch(/^vfun: <b>: no results folder or file .*nothing-here/m);
  });

  it('the committed runs carry their CSV files beside results.json', () => {
    for (const dir of [A, B]) {
      expect(readFileSync(join(dir, 'runs.csv'), 'utf8').trimEnd().split('\n')).toHaveLength(1 + raw(dir).raw.length);
      expect(readFileSync(join(dir, 'cells.csv'), 'utf8').trimEnd().split('\n')).toHaveLength(1 + raw(dir).cells.length);
    }
  });
});
