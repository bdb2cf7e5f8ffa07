/**
 * `vfun bench experiment <name> --quick` through the built command, with tiny settings (a few
 * seconds each, most of it the 1 s idle windows that measure the machine's load before and after):
 * the results folder's files and fields, and numbers that hang together (every cell's calls, p99 at
 * or above the median, N guests giving N × calls samples, vFunD's journal with one negotiation,
 * activation and release per guest). Bad input exits non-zero naming the flag. No timing is asserted.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'vfun-experiments-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Run `vfun …args`: exit code, stdout, stderr. */
function vfun(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [CLI, ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      res({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

interface Cell {
  readonly calls: number;
  readonly median_us: number;
  readonly ci_low_us: number;
  readonly ci_high_us: number;
  readonly p99_us: number;
  readonly p999_us: number;
  readonly min_us: number;
  readonly max_us: number;
  readonly [k: string]: unknown;
}

/** Run an experiment with --json; check what every results folder holds; return results.json. */
async function experiment(name: string, args: string[]): Promise<{ dir: string; json: Record<string, unknown> & { cells: Cell[] }; summary: Record<string, unknown> }> {
  const dir = join(tmp, name);
  const r = await vfun(['bench', 'experiment', name, '--quick', '--json', '--no-progress', '-o', dir, ...args]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const summary = JSON.parse(r.stdout) as Record<string, unknown>;
  expect(summary).toMatchObject({ experiment: name, out: dir, quick: true, underLoad: expect.any(Boolean) });
  for (const f of ['results.json', 'results.md', 'samples.csv', 'cells.csv']) expect(existsSync(join(dir, f)), f).toBe(true);
  const json = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Record<string, unknown> & { cells: Cell[]; meta: { quick: boolean; environment: Record<string, unknown> } };
  const env = json.meta.environment as { commandLine: string[]; options: Record<string, unknown>; seeds: Record<string, number>; load: Record<string, { foreignCores: number }>; underLoad: boolean; underLoadThresholdCores: number; cpus: number; kernel: string; node: string };
  expect(json.meta.quick).toBe(true);
  expect(env.commandLine.slice(0, 3)).toEqual(['vfun', 'bench', 'experiment']);
  expect(env.seeds).toEqual({ payload: 1, bootstrap: 19 });
  expect(env.cpus).toBeGreaterThan(0);
  expect(env.kernel).not.toBe('');
  expect(env.node).toBe(process.version);
  for (const w of ['before', 'during', 'after']) expect(env.load[w]!.foreignCores).toBeGreaterThanOrEqual(0);
  expect(env.underLoad).toBe(env.load['during']!.foreignCores > env.underLoadThresholdCores);
  expect(summary['cells']).toEqual(json.cells);
  for (const c of json.cells) {
    expect(c.min_us).toBeGreaterThan(0);
    expect(c.min_us).toBeLessThanOrEqual(c.ci_low_us);
    expect(c.ci_low_us).toBeLessThanOrEqual(c.median_us);
    expect(c.median_us).toBeLessThanOrEqual(c.ci_high_us);
    expect(c.median_us).toBeLessThanOrEqual(c.p99_us);
    expect(c.p99_us).toBeLessThanOrEqual(c.p999_us);
    expect(c.p999_us).toBeLessThanOrEqual(c.max_us);
  }
  const md = readFileSync(join(dir, 'results.md'), 'utf8');
  expect(md).toContain(`# VirtFun experiment: ${name}`);
  expect(md).toContain('--quick');
  expect(md).toContain("Other processes' CPU (cores)");
  if (env.underLoad) expect(md).toMatch(/^> \*\*Warning:\*\* under load/);
  const cellsCsv = readFileSync(join(dir, 'cells.csv'), 'utf8').trim().split('\n');
  expect(cellsCsv).toHaveLength(1 + json.cells.length);
  return { dir, json, summary };
}

const csvRows = (dir: string): string[][] =>
  readFileSync(join(dir, 'samples.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(','));

const svg = (dir: string, file: string): string => readFileSync(join(dir, file), 'utf8');

describe('vfun bench experiment', () => {
  it('payload-sweep: every domain at every size, each cell its calls, samples.csv every call, log-log figures', async () => {
    const { dir, json } = await experiment('payload-sweep', ['--sizes', '16,4K', '--calls', '30', '--warmup', '5', '--fn', 'crc32']);
    expect(json['fn']).toBe('crc32');
    expect(json.cells.map((c) => `${String(c['domain'])} ${String(c['size_bytes'])}`)).toEqual(['host-host 16', 'host-host 4096', 'guest-host 16', 'guest-host 4096', 'guest-net 16', 'guest-net 4096']);
    for (const c of json.cells) {
      expect(c.calls).toBe(30);
      expect(c['throughput_mb_s']).toBeCloseTo((c['size_bytes'] as number) / c.median_us, 6);
    }
    const rows = csvRows(dir);
    expect(rows).toHaveLength(6 * 30);
    expect(rows.filter((r) => r[0] === 'guest-net' && r[1] === '4096').map((r) => Number(r[2]))).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(svg(dir, 'payload-latency.svg')).toContain('Guest-Net (TCP loopback)');
    // the paper's colour for a domain, and under the title what was measured on what, and the --quick flag
    expect(svg(dir, 'payload-latency.svg')).toContain('#7f7f7f');
    expect(svg(dir, 'payload-latency.svg')).toMatch(/timed calls per cell after \d+ warm-up calls · \d+ × /);
    expect(svg(dir, 'payload-latency.svg')).toContain('--quick: few calls per cell');
    expect(svg(dir, 'payload-throughput.svg').trimStart().startsWith('<svg')).toBe(true);
  }, 120_000);

  it('concurrency: N guests give N × calls samples per mode, through vFunD (one negotiation, activation, release each)', async () => {
    const { dir, json } = await experiment('concurrency', ['--guests', '1,3', '--calls', '20', '--warmup', '5']);
    expect(json.cells.map((c) => `${String(c['mode'])} ${String(c['guests'])}`)).toEqual(['one-tenant 1', 'one-tenant 3', 'own-tenants 1', 'own-tenants 3']);
    for (const c of json.cells) {
      expect(c.calls).toBe((c['guests'] as number) * 20);
      expect(c['calls_per_s']).toBeGreaterThan(0);
    }
    const rows = csvRows(dir);
    expect(rows).toHaveLength(2 * (1 + 3) * 20);
    expect(new Set(rows.filter((r) => r[0] === 'own-tenants' && r[1] === '3').map((r) => r[2]))).toEqual(new Set(['1', '2', '3']));
    expect(json['journal']).toEqual({ file: 'journal.ndjson', events: expect.any(Number), chainValid: true, negotiated: 8, activated: 8, released: 8 });
    expect(existsSync(join(dir, 'journal.ndjson'))).toBe(true);
    expect(svg(dir, 'concurrency-latency.svg')).toContain('each its own tenant');
    expect(svg(dir, 'concurrency-throughput.svg').trimStart().startsWith('<svg')).toBe(true);
  }, 120_000);

  it('noisy-neighbour: B alone and while A hammers, the slowdown of their cells, A counted, CDF figure', async () => {
    const { dir, json } = await experiment('noisy-neighbour', ['--calls', '50', '--warmup', '5', '--hammers', '2', '--hammer-payload', '64K']);
    const [alone, withA] = json.cells;
    expect(json.cells.map((c) => c['phase'])).toEqual(['alone', 'with-neighbour']);
    expect(alone!.calls).toBe(50);
    expect(withA!.calls).toBe(50);
    const s = json['slowdown'] as { median: number; p99: number; p999: number };
    expect(s.median).toBeCloseTo(withA!.median_us / alone!.median_us, 9);
    expect(s.p99).toBeCloseTo(withA!.p99_us / alone!.p99_us, 9);
    const h = json['hammers'] as { processes: number; calls: number; calls_per_s: number };
    expect(h.processes).toBe(2);
    expect(h.calls).toBeGreaterThan(0);
    expect(json['journal']).toMatchObject({ chainValid: true, negotiated: 4, activated: 4, released: 4 });
    expect(csvRows(dir)).toHaveLength(100);
    expect(svg(dir, 'noisy-neighbour-cdf.svg')).toContain('B while A hammers');
    expect(readFileSync(join(dir, 'results.md'), 'utf8')).toMatch(/\| slowdown \(with A \/ alone\) \| \| [\d.]+× \|/);
  }, 120_000);

  it.each([
    [['concurrency', '--guests', '0'], /--guests: '0' is not an integer from 1 to 64/],
    [['payload-sweep', '--guests', '2'], /--guests: is an option of concurrency, not of payload-sweep/],
    [['noisy-neighbour', '--hammer-payload', '32M'], /--hammer-payload: 32M is 33554432 bytes: give 1 to 16777216/],
    [['latency'], /'latency' is invalid for argument 'name'/],
  ])('refuses %j naming the flag, exit 1, no stack trace', async (args, message) => {
    const r = await vfun(['bench', 'experiment', ...args, '-o', join(tmp, 'refused')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(tmp, 'refused'))).toBe(false);
  });

  it('refuses a folder that already holds results', async () => {
    const r = await vfun(['bench', 'experiment', 'payload-sweep', '--quick', '-o', join(tmp, 'payload-sweep')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--out: .* already holds results; name another folder/);
  });
});
