/**
 * The figures' colours, scales and labels, and `bench report`, which draws a run's results.md and
 * figures again from its results.json: the committed runs of docs/paper-runs must be what it draws
 * (`npm run paper:figures` regenerates them).
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, test as fcTest } from '@fast-check/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { benchReport } from '../../src/cli/bench-report.js';
import { groupedBars, PAPER_COLOURS, seriesColours, spansDecades, symlogTicks } from '../../src/paper/figures.js';
import { readRun } from '../../src/paper/compare.js';
import { figureSubtitle, runsText, stableLines } from '../../src/paper/report.js';
import { resummarize } from '../../src/paper/results.js';

const tmp = mkdtempSync(join(tmpdir(), 'vfun-bench-report-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('figure scales and colours', () => {
  it("gives the paper's domains the paper's colours and the others distinct ones, in order", () => {
    const c = seriesColours(['Guest-Net', 'Host-Host', 'other', 'Guest-Host', 'another']);
    expect(c.domain).toEqual(['Guest-Net', 'Host-Host', 'other', 'Guest-Host', 'another']);
    expect(c.range[0]).toBe(PAPER_COLOURS['Guest-Net']);
    expect(c.range[1]).toBe(PAPER_COLOURS['Host-Host']);
    expect(c.range[3]).toBe(PAPER_COLOURS['Guest-Host']);
    expect(new Set(c.range).size).toBe(5);
    expect(seriesColours(['Guest-Net (TCP loopback)', 'Guest-Host (FPGA sim)']).range).toEqual([PAPER_COLOURS['Guest-Net'], PAPER_COLOURS['Guest-Host (FPGA sim)']]);
  });

  it('calls for a log axis when positive values span more than a decade, ignoring zeros and non-numbers', () => {
    expect(spansDecades([0.15, 0.2, 9.2])).toBe(true);
    expect(spansDecades([0.15, 0.2, 1.4])).toBe(false);
    expect(spansDecades([0, 0.5, Number.NaN, 4])).toBe(false);
    expect(spansDecades([7])).toBe(false);
    expect(spansDecades([])).toBe(false);
  });

  fcTest.prop([fc.array(fc.double({ min: 1e-6, max: 1e6, noNaN: true }), { minLength: 2, maxLength: 20 }), fc.double({ min: 1e-3, max: 1e3, noNaN: true })])(
    'does not depend on the unit (values scaled by a constant span the same decades)',
    (values, k) => {
      const ratio = Math.max(...values) / Math.min(...values);
      fc.pre(Math.abs(Math.log10(ratio) - 1) > 1e-6); // not on the boundary, where rounding decides
      expect(spansDecades(values.map((v) => v * k))).toBe(spansDecades(values));
    },
  );

  it('puts ticks at 0 and the powers of ten of both signs on a symmetric log axis, as far as the values go', () => {
    expect(symlogTicks([-3, 0.5, 42, 7000])).toEqual([-10, -1, 0, 1, 10, 100, 1000, 10000]);
    expect(symlogTicks([0.2, 5])).toEqual([0, 1, 10]);
    expect(symlogTicks([])).toEqual([0]);
  });

  it('labels a log axis as such and sets the scale of bars and error bars alike', () => {
    const spec = groupedBars({ title: 't', subtitle: ['scale 1/1000'], values: [], x: 'i', xTitle: 'i', xOrder: [], series: 'd', seriesOrder: ['Host-Host'], y: 's', yTitle: 'seconds', yScale: 'log', errLow: 'lo', errHigh: 'hi' }) as {
      title: { text: string; subtitle: string[] };
      layer: { encoding: { y: { title?: string; scale: unknown } } }[];
    };
    expect(spec.title).toMatchObject({ text: 't', subtitle: ['scale 1/1000'] });
    expect(spec.layer[0]!.encoding.y.title).toBe('seconds (log scale)');
    expect(spec.layer.map((l) => l.encoding.y.scale)).toEqual([{ type: 'log' }, { type: 'log' }]);
    expect(spec.layer[0]!.encoding.y).toMatchObject({ stack: null }); // a stacked bar has no height on a log scale
  });
});

describe('bench report', () => {
  it('says on every figure how the run was scaled, and what makes it untrustworthy', () => {
    const r = readRun('test/fixtures/paper-runs/a');
    const sub = figureSubtitle({ ...r, meta: { ...r.meta, scale: 1000, quick: true } });
    expect(sub[0]).toContain('scale 1/1000');
    expect(sub.some((l) => l.includes('--quick'))).toBe(true);
    expect(figureSubtitle({ ...r, meta: { ...r.meta, scale: 1, quick: false } })[0]).toContain("the paper's sizes");
  });

  it('computes the summaries again from the raw runs (older runs lack the medians and the best-run ratios)', () => {
    const r = readRun('docs/paper-runs/scale100');
    const again = resummarize({ ...r, cells: [], ratios: [] });
    expect(again.cells.length).toBeGreaterThan(0);
    expect(again.cells.every((c) => c.median !== undefined && c.ci_low! <= c.median && c.median <= c.ci_high!)).toBe(true);
    expect(again.ratios.every((x) => x.gh_hh_best !== undefined)).toBe(true);
  });

  it.each(['default', 'scale100', 'traced', 'stable'])('draws exactly the committed docs/paper-runs/%s (npm run paper:figures regenerates them)', async (name) => {
    const committed = join('docs/paper-runs', name);
    const copy = join(tmp, name);
    cpSync(committed, copy, { recursive: true });
    const files = await benchReport(copy);
    expect(files.figuresSkipped).toBeUndefined();
    const drawn = [files.markdown, ...files.figures].map((f) => f.split('/').pop()!);
    expect(drawn).toContain('results.md');
    for (const f of drawn) expect(readFileSync(join(copy, f), 'utf8'), `${f} differs: run npm run paper:figures`).toBe(readFileSync(join(committed, f), 'utf8'));
    expect(readdirSync(copy).sort()).toEqual(readdirSync(committed).sort()); // nothing drawn that is not committed
  });

  it('draws every bar of the committed Figures 7 and 8 with a height (log time axis), and no NaN', () => {
    for (const f of ['figure7-factorial.svg', 'figure8-fibonacci.svg']) {
      const svg = readFileSync(join('docs/paper-runs/default', f), 'utf8');
      const bars = [...svg.matchAll(/<path[^>]*aria-roledescription="bar"[^>]*d="M[^"]*?v([-0-9.e]+)h/g)].map((m) => Number(m[1]));
      expect(bars.length, f).toBeGreaterThanOrEqual(4 * 6);
      expect(bars.every((h) => h > 0), `${f}: bar heights ${bars.join(' ')}`).toBe(true);
      expect(svg).not.toContain('NaN');
    }
  });

  it('says, of an --until-stable run, how many runs the cells have and which stopped at the cap without reaching the width', () => {
    const r = readRun('docs/paper-runs/stable');
    const runs = r.cells.map((c) => c.runs);
    expect(runsText(r)).toBe(Math.min(...runs) === Math.max(...runs) ? `${runs[0]} runs` : `${Math.min(...runs)}–${Math.max(...runs)} runs per cell`);
    const lines = stableLines(r, 'factorial').join(' ');
    const capped = r.cells.filter((c) => c.fn === 'factorial' && c.ci_rel_width! > 0.02);
    if (capped.length === 0) expect(lines).toMatch(/every cell reached ±1\.0%/);
    else expect(lines).toMatch(new RegExp(`${4 - capped.length} of 4 cells reached ±1\\.0%; .* stopped at the cap of 50 runs`));
    expect(stableLines(readRun('docs/paper-runs/default'), 'factorial')).toEqual([]); // not an --until-stable run
    expect(runsText(readRun('docs/paper-runs/default'))).toBe('5 runs');
  });

  it('refuses a folder without a results.json, naming the argument', async () => {
    await expect(benchReport(join(tmp, 'nothing-here'))).rejects.toThrow(/<run>.*no results folder/);
  });
});
