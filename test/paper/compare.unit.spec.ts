/** compareRuns and the CSV files of bench paper, on hand-made runs and on a committed older run. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareRuns, formatComparison } from '../../src/paper/compare.js';
import { csvField, cellsCsv, runsCsv, toCsv } from '../../src/paper/csv.js';
import type { AnyDomain, PaperResults, RawRun } from '../../src/paper/results.js';

const older = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/paper-runs/older/results.json'), 'utf8')) as PaperResults;

function runOf(times: Record<string, readonly number[]>, scale = 1000): PaperResults {
  const raw: RawRun[] = Object.entries(times).flatMap(([k, xs]) => {
    const [instance, domain] = k.split('/') as [string, AnyDomain];
    return xs.map((seconds, run) => ({ fn: 'factorial' as const, instance, domain, run, seconds, reps: 1, iterations: 10, result: '1' }));
  });
  return { ...older, meta: { ...older.meta, scale }, fns: ['factorial'], raw, cells: [] };
}

describe('compareRuns', () => {
  it('ratio b/a of the medians; overlap says whether the CIs share a point; a cell of one run only has no ratio', () => {
    const a = runOf({ '500M x 1/host-host': [1, 1.01, 0.99, 1, 1.02], '500M x 1/guest-host': [2, 2.1, 1.9, 2, 2] });
    const b = runOf({ '500M x 1/host-host': [2, 2.02, 1.98, 2, 2.01], '500M x 1/guest-host': [2, 2.05, 1.95, 2.1, 2], '50M x 10/host-host': [1] });
    const c = compareRuns(a, b, ['A', 'B']);
    expect(c.rows.map((r) => [r.instance, r.domain])).toEqual([
      ['500M x 1', 'host-host'],
      ['500M x 1', 'guest-host'],
      ['50M x 10', 'host-host'],
    ]);
    expect(c.rows[0]).toMatchObject({ ratio: 2, overlap: false });
    expect(c.rows[1]).toMatchObject({ ratio: 1, overlap: true });
    expect(c.rows[2]).toMatchObject({ a: null, ratio: null, overlap: null });
    expect(c.rows[2]!.b).toMatchObject({ median: 1, runs: 1 });
    expect(formatComparison(c)).toContain('| factorial | 500M x 1 | host-host | 1.000 [');
    expect(formatComparison(c)).toContain('| 2.000 | **no** |');
  });

  it('warns about different scales and runs without a recorded environment', () => {
    const c = compareRuns(runOf({ 'x/host-host': [1] }, 1000), runOf({ 'x/host-host': [1] }, 100));
    expect(c.warnings.join('\n')).toMatch(/different scales \(1\/1000 and 1\/100\)/);
    expect(c.warnings.join('\n')).toMatch(/run a .* recorded no environment/);
  });

  it('shows four significant digits, so cells whose intervals do not overlap do not print the same', () => {
    const a = runOf({ 'x/host-host': [0.001412, 0.001415, 0.001418, 0.00142, 0.00141] });
    const b = runOf({ 'x/host-host': [0.001501, 0.001503, 0.001502, 0.0015, 0.001504] });
    const text = formatComparison(compareRuns(a, b));
    expect(text).toContain('0.001415 [');
    expect(text).toContain('0.001502 [');
    expect(text).toContain('**no**');
  });

  it('warns that cells of fewer than 5 runs have an interval that says little, and the CSV gives the warnings to stderr', () => {
    const c = compareRuns(runOf({ 'x/host-host': [1, 1.1] }), runOf({ 'x/host-host': [2, 2.1, 2, 2, 2] }));
    expect(c.warnings.join('\n')).toMatch(/1 cell\(s\) have fewer than 5 runs/);
    expect(compareRuns(runOf({ 'x/host-host': [1, 1, 1, 1, 1] }), runOf({ 'x/host-host': [1, 1, 1, 1, 1] })).warnings.join('\n')).not.toMatch(/fewer than/);
  });

  it('compares an older run (no medians recorded) with itself: every ratio 1, every interval overlapping', () => {
    const c = compareRuns(older, older);
    expect(c.rows).toHaveLength(older.cells.length);
    expect(c.rows.every((r) => r.ratio === 1 && r.overlap === true)).toBe(true);
  });
});

describe('CSV', () => {
  it('quotes what needs it (RFC 4180)', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "x"')).toBe('"say ""x"""');
    expect(csvField(null)).toBe('');
    expect(csvField(1.5)).toBe('1.5');
    expect(toCsv(['a', 'b'], [[1, 'x\ny']])).toBe('a,b\n1,"x\ny"\n');
  });

  it('runs.csv and cells.csv have a line per run and per cell', () => {
    expect(runsCsv(older).trimEnd().split('\n')).toHaveLength(1 + older.raw.length);
    const lines = cellsCsv(older.cells).trimEnd().split('\n');
    expect(lines).toHaveLength(1 + older.cells.length);
    expect(lines[0]).toBe('fn,instance,domain,runs,mean_s,min_s,max_s,median_s,ci_low_s,ci_high_s,ci_rel_width,per_call_us');
    // older cells have no median: empty fields, not "undefined"
    expect(lines[1]).not.toContain('undefined');
  });
});
