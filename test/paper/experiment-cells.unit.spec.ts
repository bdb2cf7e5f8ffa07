/**
 * The experiments' pure parts: latency summaries and CDF points, each experiment's cells, tables
 * and figure specifications, the payloads (fast-check properties; a failure prints its seed).
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { figureRenderer } from '../../src/paper/figures.js';
import { concurrencyCell, concurrencyCellsCsv, concurrencyFigures, concurrencyTable, CONCURRENCY_CELL_COLUMNS } from '../../src/paper/experiments/concurrency.js';
import { hammerSummary, noisyFigures, noisyTable, slowdown, type NoisyCell } from '../../src/paper/experiments/noisy-neighbour.js';
import { expectedOutput, makePayload } from '../../src/paper/experiments/payload.js';
import { formatSize, sweepCell, sweepCellsCsv, sweepFigures, sweepTable, SWEEP_CELL_COLUMNS, SWEEP_DOMAINS } from '../../src/paper/experiments/payload-sweep.js';
import { runWarnings, titleFlags } from '../../src/paper/experiments/runner.js';
import { cdfPoints, summarizeLatencies } from '../../src/paper/experiments/summary.js';

const latency = fc.double({ min: 0.01, max: 1e5, noNaN: true, noDefaultInfinity: true });
const latencies = fc.array(latency, { minLength: 1, maxLength: 60 });
const QUIET = { underLoad: false, quick: false };

/** The layers (or the spec itself) of a vega-lite spec, with their encodings. */
type Enc = Record<string, { field?: string; scale?: { type?: string } }>;
function encodings(spec: object): Enc[] {
  const s = spec as { layer?: { encoding: Enc }[]; encoding?: Enc };
  return s.layer !== undefined ? s.layer.map((l) => l.encoding) : [s.encoding!];
}

describe('latency summaries', () => {
  test.prop([latencies], { numRuns: 100 })('order min ≤ CI low ≤ median ≤ CI high ≤ max and median ≤ p99 ≤ p99.9 ≤ max', (xs) => {
    const s = summarizeLatencies(xs);
    expect(s.calls).toBe(xs.length);
    expect(s.min_us).toBe(Math.min(...xs));
    expect(s.max_us).toBe(Math.max(...xs));
    expect(s.min_us).toBeLessThanOrEqual(s.ci_low_us);
    expect(s.ci_low_us).toBeLessThanOrEqual(s.median_us);
    expect(s.median_us).toBeLessThanOrEqual(s.ci_high_us);
    expect(s.ci_high_us).toBeLessThanOrEqual(s.max_us);
    expect(s.median_us).toBeLessThanOrEqual(s.p99_us);
    expect(s.p99_us).toBeLessThanOrEqual(s.p999_us);
    expect(s.p999_us).toBeLessThanOrEqual(s.max_us);
    expect(s.mean_us).toBeGreaterThanOrEqual(s.min_us * (1 - 1e-12));
    expect(s.mean_us).toBeLessThanOrEqual(s.max_us * (1 + 1e-12));
  });

  it('refuses no calls', () => {
    expect(() => summarizeLatencies([])).toThrow(RangeError);
  });

  test.prop([fc.array(latency, { minLength: 1, maxLength: 2000 }), fc.integer({ min: 2, max: 500 })])('CDF points rise to 1 at the slowest call, at most `points` of them', (xs, points) => {
    const c = cdfPoints(xs, points);
    expect(c.length).toBe(Math.min(xs.length, points));
    for (let i = 1; i < c.length; i++) {
      expect(c[i]!.latency_us).toBeGreaterThanOrEqual(c[i - 1]!.latency_us);
      expect(c[i]!.fraction).toBeGreaterThan(c[i - 1]!.fraction);
    }
    expect(c.at(-1)!.fraction).toBe(1);
    expect(c.at(-1)!.latency_us).toBe(Math.max(...xs));
    expect(c[0]!.latency_us).toBeGreaterThanOrEqual(Math.min(...xs));
  });
});

describe('payloads', () => {
  test.prop([fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 0, max: 2 ** 31 })])('are the same bytes for the same seed and size, and sha256 and crc32 answer as node does', (size, seed) => {
    const p = makePayload(size, seed);
    expect(p.length).toBe(size);
    expect(makePayload(size, seed)).toEqual(p);
    expect(Buffer.from(expectedOutput('sha256', p))).toEqual(createHash('sha256').update(p).digest());
    expect(Buffer.from(expectedOutput('crc32', p)).readUInt32LE(0)).toBe(crc32(p));
  });

  it('differ between seeds', () => {
    expect(makePayload(64, 1)).not.toEqual(makePayload(64, 2));
  });
});

describe('payload-sweep', () => {
  const sizes = [16, 1024, 1048576];
  const cells = SWEEP_DOMAINS.flatMap((d, k) => sizes.map((s) => sweepCell(d, s, [1 + k + s / 1000, 2 + k + s / 1000, 30 + k + s / 1000])));

  test.prop([fc.integer({ min: 1, max: 1 << 24 }), latencies])('throughput is the payload over the median call (bytes/µs = MB/s)', (size, xs) => {
    const c = sweepCell('guest-host', size, xs);
    expect(c.throughput_mb_s).toBeCloseTo(size / c.median_us, 9);
    expect(c.size_bytes).toBe(size);
  });

  it('tabulates one row per size, one column per domain, and writes every cell to CSV', () => {
    const t = sweepTable(cells).split('\n');
    expect(t).toHaveLength(2 + sizes.length);
    expect(t[0]).toContain('Guest-Net (TCP loopback)');
    expect(t[2]).toMatch(/^\| 16 B \| 2\.02 \[1\.02, 30\.0\] · 29\.5 · 7\.9 \|/);
    expect(t[4]).toMatch(/^\| 1 MiB \|/);
    const csv = sweepCellsCsv(cells).trim().split('\n');
    expect(csv[0]).toBe(SWEEP_CELL_COLUMNS.join(','));
    expect(csv).toHaveLength(1 + cells.length);
    expect(formatSize(65536)).toBe('64 KiB');
    expect(formatSize(1000)).toBe('1000 B');
  });

  it('draws latency and throughput against size on log-log axes, one line per domain, flagged when under load', async () => {
    const figs = sweepFigures(cells, 'sha256', { underLoad: true, quick: true });
    expect(figs.map((f) => f.file)).toEqual(['payload-latency.svg', 'payload-throughput.svg']);
    for (const f of figs) {
      const [line] = encodings(f.spec);
      expect(line!['x']!.scale!.type).toBe('log');
      expect(line!['y']!.scale!.type).toBe('log');
      expect((f.spec as { title: string }).title).toMatch(/\[UNDER LOAD; --quick\]$/);
      expect((f.spec as { data: { values: unknown[] } }).data.values).toHaveLength(cells.length);
    }
    const svg = await (await figureRenderer())!(figs[0]!.spec);
    expect(svg.trimStart().startsWith('<svg')).toBe(true);
    expect(svg).toContain('Guest-Host (shared memory)');
  });
});

describe('concurrency', () => {
  const guestLines = fc.array(
    fc.record({ latencies_us: fc.array(latency, { minLength: 3, maxLength: 3 }), startNs: fc.integer({ min: 0, max: 1e9 }), lengthNs: fc.integer({ min: 1, max: 1e9 }) }).map((g) => ({ latencies_us: g.latencies_us, startNs: g.startNs, endNs: g.startNs + g.lengthNs })),
    { minLength: 1, maxLength: 8 },
  );

  test.prop([guestLines])('N guests give one cell of N × calls calls over the span from the first start to the last end', (lines) => {
    const c = concurrencyCell('own-tenants', lines);
    expect(c.guests).toBe(lines.length);
    expect(c.calls).toBe(lines.length * 3);
    expect(c.calls_per_guest).toBe(3);
    const span = (Math.max(...lines.map((l) => l.endNs)) - Math.min(...lines.map((l) => l.startNs))) / 1e9;
    expect(c.span_s).toBeCloseTo(span, 12);
    expect(c.calls_per_s).toBeCloseTo(c.calls / span, 6);
    expect(c.median_us).toBeLessThanOrEqual(c.p99_us);
  });

  it('refuses a cell of no guests', () => {
    expect(() => concurrencyCell('one-tenant', [])).toThrow(RangeError);
  });

  it('tabulates one row per N and draws latency (log) and calls/s against N', () => {
    const line = (us: number) => ({ latencies_us: [us, us, us * 2], startNs: 0, endNs: 1e6 });
    const cells = [1, 2, 4].flatMap((n) => (['one-tenant', 'own-tenants'] as const).map((m) => concurrencyCell(m, Array.from({ length: n }, () => line(10 * n)))));
    const t = concurrencyTable(cells).split('\n');
    expect(t).toHaveLength(2 + 3);
    expect(t[0]).toContain('each its own tenant');
    expect(t[4]).toMatch(/^\| 4 \| 40\.0 \[/);
    expect(concurrencyCellsCsv(cells).split('\n')[0]).toBe(CONCURRENCY_CELL_COLUMNS.join(','));
    const [lat, tput] = concurrencyFigures(cells, 'sha256', QUIET);
    expect(encodings(lat!.spec)[0]!['y']!.scale!.type).toBe('log');
    expect((lat!.spec as { data: { values: unknown[] } }).data.values).toHaveLength(cells.length * 2);
    expect((tput!.spec as { title: string }).title).not.toContain('[');
  });
});

describe('noisy-neighbour', () => {
  test.prop([latencies, latencies])('the slowdown is with-A over alone for the median, p99 and p99.9', (a, b) => {
    const alone = summarizeLatencies(a);
    const withA = summarizeLatencies(b);
    const s = slowdown(alone, withA);
    expect(s.median).toBeCloseTo(withA.median_us / alone.median_us, 9);
    expect(s.p99).toBeCloseTo(withA.p99_us / alone.p99_us, 9);
    expect(s.p999).toBeCloseTo(withA.p999_us / alone.p999_us, 9);
  });

  it("sums the hammers' calls over their span", () => {
    expect(hammerSummary([
      { hammered: 100, startNs: 0, endNs: 1e9 },
      { hammered: 50, startNs: 5e8, endNs: 2e9 },
    ])).toEqual({ processes: 2, calls: 150, calls_per_s: 75 });
    expect(hammerSummary([])).toEqual({ processes: 0, calls: 0, calls_per_s: 0 });
  });

  it('tabulates both phases and the slowdown, and draws their CDFs on a log latency axis', async () => {
    const samples = { alone: [1, 2, 3, 4], 'with-neighbour': [2, 4, 6, 80] };
    const cells: NoisyCell[] = (['alone', 'with-neighbour'] as const).map((phase) => ({ phase, ...summarizeLatencies(samples[phase]) }));
    const t = noisyTable(cells, slowdown(cells[0]!, cells[1]!));
    expect(t.split('\n')).toHaveLength(5);
    expect(t).toMatch(/\| slowdown \(with A \/ alone\) \| \| 2\.00× \|/);
    const [cdf] = noisyFigures(samples, { fn: 'crc32', payload: 64, hammers: 2, hammerFn: 'sha256', hammerPayload: 262144 }, QUIET);
    expect(encodings(cdf!.spec)[0]!['x']!.scale!.type).toBe('log');
    expect((cdf!.spec as { title: string }).title).toContain('2 processes');
    expect((cdf!.spec as { data: { values: { phase: string }[] } }).data.values.filter((v) => v.phase === 'B alone')).toHaveLength(4);
    const svg = await (await figureRenderer())!(cdf!.spec);
    expect(svg).toContain('B while A hammers');
  });
});

describe('warnings', () => {
  const load = (during: number) => ({ windowMs: 1000, foreignCpuSeconds: during, foreignCores: during, loadavg1: 1 });
  it('say a run was under load or quick, and the titles carry the short form', () => {
    expect(runWarnings({ load: { before: load(0), during: load(0), after: load(0) }, underLoad: false }, false)).toEqual([]);
    const w = runWarnings({ load: { before: load(0), during: load(1.5), after: load(0) }, underLoad: true }, true);
    expect(w[0]).toMatch(/^under load: other processes used 1\.50 cores/);
    expect(w[1]).toMatch(/^--quick/);
    expect(titleFlags({ underLoad: false, quick: true })).toBe(' [--quick]');
    expect(titleFlags(QUIET)).toBe('');
  });
});
