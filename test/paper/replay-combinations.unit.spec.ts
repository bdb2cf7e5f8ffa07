/**
 * replay-trace re-times each call on its own function's profile entry and
 * several (device, launch) combinations in one run (src/paper/replay-model.ts,
 * replay-trace.ts): a call naming crc32 in a sha256 trace is predicted at
 * crc32's throughput, `fn` forces one function for all; a call whose function
 * the profile lacks is refused naming its line and the profile's functions;
 * two devices and three launches give six predictions in one report, CSV and
 * figure, each the same as a run of that combination alone with the same seed.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callCost } from '../../simulator/model.js';
import { functionProfile, loadProfileSync } from '../../simulator/profile.js';
import { cdfPoints, combinations, retime, spansDecade } from '../../src/paper/replay-model.js';
import { formatReplay, REPLAY_CSV_COLUMNS, replayFigure, replayTrace, type ReplayCall, type ReplayReport } from '../../src/paper/replay-trace.js';
import { parseTrace } from '../../src/paper/trace-read.js';

const DOC_TRACE = /```jsonl\n([\s\S]*?)```/.exec(readFileSync(new URL('../../docs/traces.md', import.meta.url), 'utf8'))![1]!;
const U250 = loadProfileSync('alveo-u250');

/** The docs' trace with its 64 KiB call 1 a crc32 call; calls 0 and 2 are the header's sha256. */
const MIXED = DOC_TRACE.replace('"i":1,', '"i":1,"fn":"crc32",');
/** The docs' trace with call 1 naming a function no profile has. */
const UNKNOWN = DOC_TRACE.replace('"i":1,', '"i":1,"fn":"md5",');

const perCall = async (r: ReplayReport): Promise<ReplayCall[]> => (JSON.parse(await readFile(r.files.json, 'utf8')) as { per_call: ReplayCall[] }).per_call;

describe('replay-trace: per-call functions, several devices and launches', () => {
  let dir = '';
  const file = (name: string): string => join(dir, name);
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-replay-comb-'));
    await writeFile(file('trace-doc.jsonl'), DOC_TRACE);
    await writeFile(file('trace-mixed.jsonl'), MIXED);
    await writeFile(file('trace-unknown.jsonl'), UNKNOWN);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("re-times a call naming its own function on that function's profile entry; fn forces one for all", () => {
    const trace = parseTrace(MIXED, 'mixed');
    const [sha, crc] = retime(trace, U250, { seed: 1, source: 'mixed' });
    expect(sha).toMatchObject({ fn: 'sha256', device: 'alveo-u250', launch_us: 30 });
    expect(crc).toMatchObject({ fn: 'crc32', in_bytes: 65536 });
    // 64 KiB of CRC-32 at 12 GB/s (5 µs) rather than of SHA-256 at 300 MB/s (218 µs).
    const floor = (fn: string): number => callCost(functionProfile(U250, fn)!, 65536, 32, 65536).totalNs / 1000;
    expect(crc!.device_us).toBeGreaterThanOrEqual(floor('crc32') - 0.001);
    expect(crc!.device_us).toBeLessThan(floor('crc32') * 2);
    expect(crc!.device_us).toBeLessThan(floor('sha256') / 5);
    // --fn: every call on one function, call 1's own crc32 included.
    const forced = retime(trace, U250, { fn: 'sha256', seed: 1, source: 'mixed' });
    expect(forced.map((c) => c.fn)).toEqual(['sha256', 'sha256', 'sha256']);
    expect(forced[0]).toEqual(sha); // same seed, same draws: call 0 was sha256 already
    expect(forced[1]!.device_us).toBeGreaterThanOrEqual(floor('sha256') - 0.001);
  });

  it("refuses a call whose function the profile lacks, naming its line, the function and the profile's functions", async () => {
    await expect(replayTrace({ trace: file('trace-unknown.jsonl'), device: 'alveo-u250', out: dir })).rejects.toThrow(
      `trace: ${file('trace-unknown.jsonl')}: line 3: fn: profile 'alveo-u250' has no function 'md5' (it has crc32, sha256, factorial, fibonacci); choose one with --fn`,
    );
    // The header's function, missing from the profile, is named at the first call that uses it.
    const header = parseTrace(DOC_TRACE.replace('"fn":"sha256"', '"fn":"sha1"'), 'h');
    expect(() => retime(header, U250, { seed: 1, source: 'h.jsonl' })).toThrow("h.jsonl: line 2: fn (the header's): profile 'alveo-u250' has no function 'sha1'");
    // --fn names a function the profile lacks: the option is named.
    expect(() => retime(header, U250, { fn: 'md5', seed: 1, source: 'h.jsonl' })).toThrow("fn: profile 'alveo-u250' has no function 'md5' (it has crc32, sha256, factorial, fibonacci)");
    // --fn re-times every call on a function the profile has.
    const r = await replayTrace({ trace: file('trace-unknown.jsonl'), device: 'alveo-u250', fn: 'sha256', out: dir });
    expect(r.functions).toEqual({ sha256: 30 });
  });

  it('two devices and three launches: six predictions in one report, CSV and figure, each as a run of that combination alone', async () => {
    const trace = file('trace-mixed.jsonl');
    const out = join(dir, 'multi');
    const r = await replayTrace({ trace, device: ['alveo-u250', 'fast-launch'], launchMicros: [1, 5, 30], seed: 9, out });
    expect(r.combinations.map((c) => [c.device, c.launch_us])).toEqual([
      ['alveo-u250', 1],
      ['alveo-u250', 5],
      ['alveo-u250', 30],
      ['fast-launch', 1],
      ['fast-launch', 5],
      ['fast-launch', 30],
    ]);
    expect(r.combinations.every((c) => c.launch_override)).toBe(true);
    expect(r.combinations[3]!.functions).toEqual({ crc32: 1, sha256: 1 });
    // The top-level prediction is the first combination's (one-combination readers keep working).
    expect({ device: r.device, launch_us: r.launch_us, predicted: r.predicted }).toEqual({ device: 'alveo-u250', launch_us: 1, predicted: r.combinations[0]!.predicted });
    expect(r.files.json).toBe(join(out, 'replay-trace-mixed-alveo-u250+fast-launch-launch1+5+30us-seed9.json'));
    const rows = parse(await readFile(r.files.csv, 'utf8'), { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0]!)).toEqual([...REPLAY_CSV_COLUMNS]);
    expect(rows).toHaveLength(6 * 3);
    const all = await perCall(r);
    expect(all).toHaveLength(18);
    // Each combination alone, with the same seed, predicts what the combined run did.
    const alone = await replayTrace({ trace, device: 'fast-launch', launchMicros: 5, seed: 9, out: join(dir, 'alone') });
    expect(alone.combinations).toHaveLength(1);
    expect(alone.predicted).toEqual(r.combinations[4]!.predicted);
    expect(await perCall(alone)).toEqual(all.filter((c) => c.device === 'fast-launch' && c.launch_us === 5));
    // A cheaper launch predicts less, per device.
    expect(r.combinations[0]!.predicted.p50).toBeLessThan(r.combinations[2]!.predicted.p50);
    const text = formatReplay(r);
    expect(text).toContain('re-timed on 6 combinations of alveo-u250, fast-launch');
    expect(text).toContain('| predicted fast-launch, launch 5 µs |');
    expect(text).toContain(`profile fast-launch: ${loadProfileSync('fast-launch').description}`);
    // Same seed, same output: the files are byte for byte the same.
    const again = await replayTrace({ trace, device: ['alveo-u250', 'fast-launch'], launchMicros: [1, 5, 30], seed: 9, out: join(dir, 'again') });
    expect(await readFile(again.files.csv, 'utf8')).toBe(await readFile(r.files.csv, 'utf8'));
    if (r.files.svg !== null) expect(await readFile(again.files.svg!, 'utf8')).toBe(await readFile(r.files.svg, 'utf8'));
  });

  it('one device without a launch: one combination on the profile launch, with the keys of earlier releases', async () => {
    const r = await replayTrace({ trace: file('trace-doc.jsonl'), device: 'alveo-u250', out: join(dir, 'one') });
    expect(r.combinations).toHaveLength(1);
    expect(r).toMatchObject({ device: 'alveo-u250', launch_us: 30, launch_override: false, device_fn: 'sha256', fn: 'sha256', calls: 3, errors: 1, seed: 1 });
    expect(r.speedup_ratio).toBe(r.combinations[0]!.speedup_ratio);
    expect(r.files.json).toBe(join(dir, 'one', 'replay-trace-doc-alveo-u250.json'));
    const text = formatReplay(r);
    expect(text).toContain('| predicted |');
    expect(text).toContain('predicted / recorded total time: ');
  });

  it('the figure overlays the recorded CDF and every prediction, on a log axis when they span more than a decade', () => {
    const r = { fn: 'sha256', instance: '', device_fn: 'sha256', combinations: [{ device: 'a', launch_us: 1, launch_override: true }, { device: 'b', launch_us: 1, launch_override: true }] } as unknown as ReplayReport;
    type Spec = { title: string; data: { values: { series: string }[] }; encoding: { x: { scale: { type?: string }; title: string } } };
    const wide = replayFigure(r, [1, 2, 3], [[5, 50], [2, 3]]) as Spec;
    expect(new Set(wide.data.values.map((v) => v.series))).toEqual(new Set(['recorded', 'predicted (a, launch 1 µs)', 'predicted (b, launch 1 µs)']));
    expect(wide.encoding.x.scale.type).toBe('log');
    expect(wide.title).toBe('sha256: recorded vs predicted on a, b (launch 1 µs)');
    const narrow = replayFigure(r, [1, 2, 3], [[5, 9], [2, 3]]) as Spec;
    expect(narrow.encoding.x.scale.type).toBeUndefined();
    expect(narrow.encoding.x.title).toBe('latency per call (µs)');
  });

  it('combinations: devices outermost, each device once on its own launch when none is given', () => {
    expect(combinations(['a', 'b'], [1, 2])).toEqual([
      { device: 'a', launchMicros: 1 },
      { device: 'a', launchMicros: 2 },
      { device: 'b', launchMicros: 1 },
      { device: 'b', launchMicros: 2 },
    ]);
    expect(combinations(['a', 'b'], [])).toEqual([{ device: 'a' }, { device: 'b' }]);
  });

  test.prop([fc.array(fc.double({ min: 1e-6, max: 1e9, noNaN: true }), { minLength: 1, maxLength: 50 })])('spansDecade is max > 10 * min; a zero is never on a log axis', (xs) => {
    expect(spansDecade(xs)).toBe(Math.max(...xs) > 10 * Math.min(...xs));
    expect(spansDecade([0, ...xs])).toBe(false);
  });

  test.prop([fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }).map(Math.abs), { maxLength: 2000 })])('cdfPoints: non-decreasing, ending at fraction 1 at the maximum, at most about 400 points', (xs) => {
    const pts = cdfPoints(xs, 's');
    if (xs.length === 0) {
      expect(pts).toEqual([]);
      return;
    }
    expect(pts.length).toBeLessThanOrEqual(802);
    expect(pts.at(-1)).toEqual({ latency_us: Math.max(...xs), fraction: 1, series: 's' });
    for (let k = 1; k < pts.length; k++) {
      expect(pts[k]!.latency_us).toBeGreaterThanOrEqual(pts[k - 1]!.latency_us);
      expect(pts[k]!.fraction).toBeGreaterThanOrEqual(pts[k - 1]!.fraction);
    }
  });
});
