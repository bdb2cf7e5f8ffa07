import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { DriverInputError } from '../../src/drivers/driver.js';
import { FactorialDriver, FibonacciDriver } from '../../src/drivers/software.js';
import { paperOptionsFrom, registerPaperCommands } from '../../src/bench/cli.js';
import { parseInstance, parseInstances, PAPER_INSTANCES, QUICK_EXTRA, scaleInstance } from '../../src/bench/instances.js';
import { createPaperDriver, encodeInput, expected, PAPER_N, readU64 } from '../../src/bench/paper-driver.js';
import { runPaperBench, type PaperResults } from '../../src/bench/paper.js';
import { replayTrace } from '../../src/bench/replay.js';
import { readTrace } from '../../src/bench/trace.js';

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

describe('paper drivers', () => {
  const out = new Uint8Array(8);
  it.each([
    ['factorial', new FactorialDriver()],
    ['fibonacci', new FibonacciDriver()],
  ] as const)('paper-%s computes what the plain driver does, whatever the repetitions', (fn, plain) => {
    const n = PAPER_N[fn];
    const plainIn = new Uint8Array(4);
    new DataView(plainIn.buffer).setUint32(0, n, true);
    const ref = new Uint8Array(8);
    plain.call(plainIn, ref);
    for (const reps of [1, 7]) {
      expect(createPaperDriver(`paper-${fn}`).call(encodeInput(n, reps), out)).toBe(8);
      expect(readU64(out)).toBe(readU64(ref));
    }
    expect(readU64(ref)).toBe(expected(fn, n));
    // the simulated FPGA computes the same value
    expect(createPaperDriver(`paper-sim:fast-launch:${fn}`).call(encodeInput(n, 3), out)).toBe(8);
    expect(readU64(out)).toBe(readU64(ref));
  });

  it('refuses bad arguments and bad names', () => {
    expect(() => createPaperDriver('paper-factorial').call(encodeInput(51, 0), out)).toThrow(DriverInputError);
    expect(() => createPaperDriver('paper-factorial').call(new Uint8Array(4), out)).toThrow(/exactly 8/);
    expect(() => createPaperDriver('paper-sqrt')).toThrow(/paper-factorial/);
    expect(() => createPaperDriver('paper-sim:no-such-device:factorial')).toThrow();
  });
});

describe('instances', () => {
  it("parses the paper's notation", () => {
    expect(parseInstance('250Kx2k')).toMatchObject({ reps: 250_000, iterations: 2000, label: '250K x 2k' });
    expect(parseInstance('500 x 1M')).toMatchObject({ reps: 500, iterations: 1_000_000 });
    expect(PAPER_INSTANCES.map((i) => i.reps * i.iterations)).toEqual(Array(5).fill(500_000_000));
    expect(parseInstances('5Mx100,5Kx100k').map((i) => i.paper)).toEqual([true, false]);
    expect(scaleInstance(parseInstance('500x1M'), 1000).runReps).toBe(1);
    expect(scaleInstance(parseInstance('250Kx2k'), 1000).runReps).toBe(250);
    expect(() => parseInstance('5x')).toThrow(/instances/);
  });
});

describe('command line', () => {
  function run(args: string[]): { error: string } {
    const program = new Command('vfun').exitOverride();
    let error = '';
    program.configureOutput({ writeErr: (s) => (error += s), writeOut: () => undefined });
    registerPaperCommands(program);
    for (const c of program.commands) {
      c.exitOverride().configureOutput({ writeErr: (s) => (error += s), writeOut: () => undefined });
      for (const cc of c.commands) cc.exitOverride().configureOutput({ writeErr: (s) => (error += s), writeOut: () => undefined });
    }
    try {
      program.parse(args, { from: 'user' });
    } catch (e) {
      error += (e as Error).message;
    }
    return { error };
  }

  it.each([
    [['bench', 'paper', '--scale', 'abc'], '--scale'],
    [['bench', 'paper', '--scale', '0.5'], '--scale'],
    [['bench', 'paper', '--runs', '0'], '--runs'],
    [['bench', 'paper', '--instances', '5x'], '--instances'],
    [['bench', 'paper', '--functions', 'sqrt'], '--functions'],
    [['bench', 'paper', '--device', 'no-such-device'], '--device'],
    [['bench', 'paper', '--strategy', 'sleepy'], '--strategy'],
    [['replay-trace', 'x.jsonl'], '--device'],
    [['replay-trace', 'x.jsonl', '--device', 'alveo-u250', '--launch-us', '-3'], '--launch-us'],
  ])('%j names %s', (args, option) => {
    expect(run(args).error).toContain(option);
  });

  it('rejects contradictions and picks the documented defaults', () => {
    expect(() => paperOptionsFrom({ full: true, quick: true })).toThrow(/--full and --quick/);
    expect(() => paperOptionsFrom({ full: true, scale: 10 })).toThrow(/--scale/);
    const d = paperOptionsFrom({});
    expect(d).toMatchObject({ scale: 1000, runs: 5, device: 'alveo-u250' });
    expect(d.instances.map((i) => i.label)).toEqual(['500M x 1', '50M x 10', '5M x 100', '500K x 1k', '250K x 2k', '5K x 100k']);
    expect(paperOptionsFrom({ full: true }).instances.map((i) => i.label)).toContain('500 x 1M');
    expect(paperOptionsFrom({ fpga: false }).device).toBeNull();
  });
});

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
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toContain('| Factorial | 500M x 1');
    expect(md).toContain('| Guest-Net |');
    expect(md).toContain('GN/GH');
    expect(md).toContain('## Tracing overhead');
    for (const f of files.filter((x) => x.endsWith('.svg'))) expectSvg(readFileSync(join(out, f), 'utf8'));
  });

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
    }
    const r = await replayTrace({ trace: file, device: 'alveo-u250', out: tmp });
    expect(r.calls).toBe(2000);
    expect(r.predicted.p50).toBeGreaterThanOrEqual(30); // at least the profile's 30 µs launch
    const csv = readFileSync(r.files.csv, 'utf8').trim().split('\n');
    expect(csv).toHaveLength(2001);
    expectSvg(readFileSync(r.files.svg, 'utf8'));
    const cheaper = await replayTrace({ trace: file, device: 'alveo-u250', launchMicros: 1, out: tmp });
    expect(cheaper.predicted.p50).toBeLessThan(r.predicted.p50);
  });
});
