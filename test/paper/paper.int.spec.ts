/**
 * `vfun bench paper --quick --trace` for real (host, guest processes, a loopback
 * network domain, the simulated FPGA; about 5 s, a minute on a busy machine), then replay-trace on its
 * traces. The options, drivers and instance notation are in paper.unit.spec.ts.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { paperOptionsFrom } from '../../src/paper/cli.js';
import { PAPER_INSTANCES, QUICK_EXTRA } from '../../src/paper/instances.js';
import { expected } from '../../src/paper/driver.js';
import { runPaperBench } from '../../src/paper/run.js';
import type { PaperResults } from '../../src/paper/results.js';
import { replayTrace } from '../../src/paper/replay-trace.js';
import { readTrace } from '../../src/paper/traces.js';

const tmp = mkdtempSync(join(tmpdir(), 'vfun-paper-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A well-formed SVG document: an XML prolog-free <svg> root that closes, with balanced tags. */
function expectSvg(text: string): void {
  expect(text.trimStart().startsWith('<svg')).toBe(true);
  expect(text.trimEnd().endsWith('</svg>')).toBe(true);
  const open = (text.match(/<[a-zA-Z][^>]*[^/]>|<[a-zA-Z]>/g) ?? []).length;
  const close = (text.match(/<\/[a-zA-Z][^>]*>/g) ?? []).length;
  expect(open).toBe(close);
}

describe('bench paper --quick --trace, then replay-trace', () => {
  const out = join(tmp, 'results');
  let results: PaperResults;

  it('writes tables, ratios, JSON and SVG figures for every instance x domain', async () => {
    const opts = paperOptionsFrom({ quick: true, trace: true, functions: ['factorial'], out });
    const seen: number[] = [];
    ({ results } = await runPaperBench({ ...opts, onRun: (d) => seen.push(d) }));
    const files = readdirSync(out).sort();
    expect(files).toEqual(expect.arrayContaining(['results.md', 'results.json', 'figure7-factorial.svg', 'figure9-ratios.svg']));
    const labels = [...PAPER_INSTANCES, ...QUICK_EXTRA].map((i) => i.label);
    const domains = ['host-host', 'guest-host', 'guest-net', 'guest-fpga', 'guest-host+trace'];
    expect(results.domains).toEqual(domains);
    for (const inst of labels)
      for (const d of domains) {
        const c = results.cells.find((x) => x.instance === inst && x.domain === d);
        expect(c, `${inst} ${d}`).toBeDefined();
        expect(c!.runs).toBe(2);
        expect(c!.min).toBeLessThanOrEqual(c!.mean);
        expect(c!.mean).toBeLessThanOrEqual(c!.max);
      }
    expect(seen.at(-1)).toBe(labels.length * domains.length * 2);
    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as PaperResults;
    expect(json.raw).toHaveLength(labels.length * domains.length * 2);
    expect(json.raw.every((r) => r.result === expected('factorial', 51).toString())).toBe(true);
    expect(json.ratios.map((r) => r.instance)).toEqual(labels);
    for (const r of json.ratios) {
      expect(r.gh_hh).toBeGreaterThan(0);
      expect(r.gn_gh).toBeGreaterThan(0);
      expect(r.gf_gh).toBeGreaterThan(0);
    }
    expect(json.traceOverhead).toHaveLength(labels.length);
    // The environment: machine, code, command line, seeds, profile, load before, during and after.
    const env = json.meta.environment!;
    expect(env.cpus).toBeGreaterThan(0);
    expect(env.options).toMatchObject({ scale: 100_000, runs: 2, quick: true, device: 'alveo-u250' });
    expect(env.seeds).toEqual({ simulatorJitter: 1, bootstrap: 19 });
    expect(env.deviceProfile).toMatchObject({ name: expect.any(String) });
    for (const w of [env.load.before, env.load.during, env.load.after]) expect(w.foreignCores).toBeGreaterThanOrEqual(0);
    expect(env.underLoad).toBe(env.load.during.foreignCores > env.underLoadThresholdCores);
    expect(json.meta.quick).toBe(true);
    // paths relative to the results folder
    expect(json.traces).toEqual(labels.map((l) => `trace-factorial-${l.replace(/ /g, '')}.jsonl`));
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toContain('| Factorial | 500M x 1');
    expect(md).toContain('| Guest-Net |');
    expect(md).toContain('GN/GH');
    expect(md).toContain('## Tracing overhead');
    expect(md).toContain('not comparable with the paper');
    expect(md).toContain("Other processes' CPU (cores)");
    expect(md).toContain('median [95% CI]');
    for (const f of files.filter((x) => x.endsWith('.svg'))) expectSvg(readFileSync(join(out, f), 'utf8'));
    // About 5 s on a quiet 2-core machine; 40-54 s beside two busy loops (its guest and service
    // processes spin for their core), and more while the rest of the suite runs too.
  }, 240_000);

  it('records per-call traces that replay-trace re-times on a device', async () => {
    const file = join(out, 'trace-factorial-250Kx2k.jsonl');
    const { header, calls } = readTrace(file);
    expect(header).toMatchObject({ fn: 'factorial', n: 51, instance: '250K x 2k', calls: 2000 });
    expect(calls).toHaveLength(2000);
    for (const c of calls.slice(0, 50)) {
      expect(c.status).toBe('DONE');
      expect(c.in_bytes).toBe(8);
      expect(c.busy_us).not.toBeNull();
      expect(c.set_us).toBeLessThanOrEqual(c.get_us);
      expect(c.done_us!).toBeGreaterThanOrEqual(c.busy_us!);
      expect(c.done_us!).toBeLessThanOrEqual(c.get_us); // the service's reading, bounded by the guest's
    }
    const split = (JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as PaperResults).traceSplit!;
    expect(split.map((x) => x.instance)).toContain('250K x 2k');
    for (const x of split) expect(x.service_us + x.channel_us).toBeCloseTo(x.recorded_us, 6);
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toContain("Where a traced call's time goes");
    // One clock read per call in the guest: a call's get is the next one's set.
    for (let i = 1; i < calls.length; i++) expect(calls[i]!.set_us, `call ${i}`).toBe(calls[i - 1]!.get_us);
    const r = await replayTrace({ trace: file, device: 'alveo-u250', out: tmp });
    expect(r.calls).toBe(2000);
    expect(r.predicted.p50).toBeGreaterThanOrEqual(30); // at least the profile's 30 µs launch
    const csv = readFileSync(r.files.csv, 'utf8').trim().split('\n');
    expect(csv).toHaveLength(2001);
    expectSvg(readFileSync(r.files.svg!, 'utf8'));
    const cheaper = await replayTrace({ trace: file, device: 'alveo-u250', launchMicros: 1, out: tmp });
    expect(cheaper.predicted.p50).toBeLessThan(r.predicted.p50);
  });
});

describe('bench paper --until-stable', () => {
  const cellsOf = async (maxRelWidth: number, maxRuns: number, dir: string): Promise<PaperResults> => {
    const opts = paperOptionsFrom({ quick: true, functions: ['fibonacci'], fpga: false, instances: [PAPER_INSTANCES[4]!], out: join(tmp, dir) });
    return (await runPaperBench({ ...opts, untilStable: { maxRelWidth, maxRuns }, loadWindowMs: 100 })).results;
  };

  it('repeats a cell whose interval stays too wide up to the cap, numbering the runs on', async () => {
    const r = await cellsOf(1e-12, 5, 'stable-cap');
    for (const c of r.cells) {
      expect(c.runs, c.domain).toBe(5);
      expect(c.ci_low!).toBeLessThanOrEqual(c.median!);
      expect(c.median!).toBeLessThanOrEqual(c.ci_high!);
    }
    for (const d of r.domains) expect(r.raw.filter((x) => x.domain === d).map((x) => x.run)).toEqual([0, 1, 2, 3, 4]);
    expect(r.meta.environment!.options).toMatchObject({ untilStable: { maxRelWidth: 1e-12, maxRuns: 5 } });
    expect(r.meta.environment!.seeds).toMatchObject({ bootstrap: expect.any(Number) });
  }, 240_000);

  it('stops a cell once its interval is narrow enough (never before 5 runs)', async () => {
    const r = await cellsOf(1e9, 40, 'stable-loose');
    for (const c of r.cells) expect(c.runs, c.domain).toBe(6); // 2, then 2 by 2 until at least 5
  }, 240_000);
});
