/**
 * `vfun trace import` then `vfun replay-trace` with several devices and launch
 * costs, as a researcher runs them (the built dist/): the CSV of
 * docs/traces.md imports into a trace that `trace validate` accepts and that
 * replays on two devices and two launches into one report, one CSV and one
 * figure; a bad row exits 1 naming the line and the column and writes
 * nothing; a bad option is named.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const vfun = (...args: string[]) => exec(process.execPath, [CLI, ...args]);
const failed = (...args: string[]) => vfun(...args).then(() => expect.unreachable(`vfun ${args.join(' ')} exited 0`), (e: unknown) => e as { code: number; stdout: string; stderr: string });
const DOC_CSV = /```csv\n([\s\S]*?)```/.exec(readFileSync(new URL('../../docs/traces.md', import.meta.url), 'utf8'))![1]!;

describe('vfun trace import, vfun replay-trace with several devices and launches', () => {
  let dir = '';
  let csv = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-replay-cli-'));
    csv = join(dir, 'calls.csv');
    await writeFile(csv, DOC_CSV);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('imports the docs CSV into a valid trace that replays on two devices x two launches into one report', async () => {
    const trace = join(dir, 'traces', 'trace.jsonl');
    const imported = await vfun('trace', 'import', csv, '--from', 'csv', '--clock', 'CLOCK_REALTIME', '-o', trace);
    expect(imported.stderr).toContain(`${csv}: 3 calls imported to ${trace}`);
    expect((await vfun('trace', 'validate', trace)).stdout).toContain(`${trace}: valid trace, version 1: 3 calls of sha256 (imported, clock CLOCK_REALTIME), 1 ERROR`);
    // To stdout, the same text.
    expect((await vfun('trace', 'import', csv, '--from', 'csv', '--clock', 'CLOCK_REALTIME')).stdout).toBe(readFileSync(trace, 'utf8'));

    const out = join(dir, 'replays');
    const run = async (): Promise<Record<string, unknown>> =>
      JSON.parse((await vfun('replay-trace', trace, '--device', 'alveo-u250,fast-launch', '--launch-us', '2', '--launch-us', '20', '--seed', '3', '--json', '-o', out)).stdout) as Record<string, unknown>;
    const r = await run();
    const combos = r.combinations as { device: string; launch_us: number; predicted: { p50: number } }[];
    expect(combos.map((c) => `${c.device}@${c.launch_us}`)).toEqual(['alveo-u250@2', 'alveo-u250@20', 'fast-launch@2', 'fast-launch@20']);
    expect(r).toMatchObject({ calls: 3, errors: 1, seed: 3, fn: 'sha256', device: 'alveo-u250', launch_us: 2 });
    const files = r.files as { json: string; csv: string; svg: string | null };
    expect(readFileSync(files.csv, 'utf8').trimEnd().split('\n')).toHaveLength(1 + 4 * 3);
    if (files.svg !== null) {
      const svg = readFileSync(files.svg, 'utf8');
      for (const c of combos) expect(svg).toContain(`predicted (${c.device}, launch ${c.launch_us} µs)`);
    }
    expect(await run()).toEqual(r);
    // The table: one row per combination.
    const text = (await vfun('replay-trace', trace, '--device', 'alveo-u250', '--device', 'fast-launch', '-o', out)).stdout;
    expect(text).toContain('| predicted alveo-u250 |');
    expect(text).toContain('| predicted fast-launch |');
  });

  it('a bad row exits 1 naming the line and the column, and writes nothing', async () => {
    const bad = join(dir, 'bad.csv');
    await writeFile(bad, DOC_CSV.replace('1733616000000241,sha256', '1733616000000009,sha256'));
    const target = join(dir, 'out', 'never.jsonl');
    const e = await failed('trace', 'import', bad, '--from', 'csv', '-o', target);
    expect(e.code).toBe(1);
    expect(e.stderr).toContain(`vfun: csv: ${bad}: line 3: end_us: 1733616000000009 is before start_us 1733616000000010 (get before set)`);
    expect(existsSync(target)).toBe(false);
    expect((await failed('trace', 'import', csv, '--from', 'xlsx')).stderr).toContain("--from: 'xlsx' is not one of: csv");
    expect((await failed('trace', 'import', csv, '--from', 'csv', '--time-unit', 'h')).stderr).toContain('--time-unit');
    expect((await failed('replay-trace', join(dir, 'traces', 'trace.jsonl'), '--device', 'alveo-u250', '--launch-us', '1,-2')).stderr).toContain('--launch-us');
  });
});
