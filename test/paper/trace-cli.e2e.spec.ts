/**
 * `vfun trace validate`, `vfun trace export` and `vfun replay-trace --json
 * --seed -o` as a researcher runs them (the built dist/): the trace of
 * docs/traces.md is valid, exports and replays; a malformed one exits 1
 * naming the line and the field.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const vfun = (...args: string[]) => exec(process.execPath, [CLI, ...args]);
const DOC_TRACE = /```jsonl\n([\s\S]*?)```/.exec(readFileSync(new URL('../../docs/traces.md', import.meta.url), 'utf8'))![1]!;

describe('vfun trace validate, vfun replay-trace', () => {
  let dir = '';
  let good = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vfun-trace-cli-'));
    good = join(dir, 'trace-doc.jsonl');
    await writeFile(good, DOC_TRACE);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('says a valid trace is valid, and exits 1 naming line and field of a malformed one', async () => {
    const ok = await vfun('trace', 'validate', good);
    expect(ok.stdout).toContain(`${good}: valid trace, version 1: 3 calls of sha256 (imported, clock unspecified), 1 ERROR`);
    const bad = join(dir, 'trace-bad.jsonl');
    await writeFile(bad, DOC_TRACE.replace('"get_ns":3100', '"get_ns":-5'));
    const e = (await vfun('trace', 'validate', bad).catch((x: unknown) => x)) as { code: number; stderr: string };
    expect(e.code).toBe(1);
    expect(e.stderr).toContain(`vfun: trace: ${bad}: line 2: get_ns: -5:`);
    const j = (await vfun('trace', 'validate', bad, '--json').catch((x: unknown) => x)) as { code: number; stdout: string };
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toMatchObject({ valid: false, file: bad });
  });

  it('replay-trace --json --seed prints one JSON object, the same for the same seed, into a folder it creates', async () => {
    const out = join(dir, 'missing', 'folder');
    const run = async (): Promise<Record<string, unknown>> => JSON.parse((await vfun('replay-trace', good, '--device', 'alveo-u250', '--seed', '5', '--json', '-o', out)).stdout) as Record<string, unknown>;
    const a = await run();
    expect(a).toMatchObject({ calls: 3, errors: 1, seed: 5, fn: 'sha256' });
    expect(await run()).toEqual(a);
  });

  it('trace export writes Perfetto JSON into a folder it creates and CSV to stdout; an unknown format exits 1 naming --format', async () => {
    const out = join(dir, 'exports', 'trace.json');
    await vfun('trace', 'export', good, '--format', 'perfetto', '-o', out);
    const events = (JSON.parse(readFileSync(out, 'utf8')) as { traceEvents: { ph: string; tid: number }[] }).traceEvents;
    expect(events.filter((e) => e.ph === 'X' && e.tid === 1)).toHaveLength(3);
    const csv = (await vfun('trace', 'export', good, '--format', 'csv')).stdout.trimEnd().split('\n');
    expect(csv).toHaveLength(4);
    const e = (await vfun('trace', 'export', good, '--format', 'svg').catch((x: unknown) => x)) as { code: number; stderr: string };
    expect(e.code).toBe(1);
    expect(e.stderr).toContain("--format: 'svg' is not one of: perfetto, csv");
  });
});
