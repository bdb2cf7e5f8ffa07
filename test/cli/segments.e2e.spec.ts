/**
 * vFunD's journal in segments: each `vfun demo` run ends with a checkpoint,
 * so with a small `segment=` every run closes a segment; the next run goes
 * on from it, and the read-only commands read across them.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const vfun = (...args: string[]) => exec(process.execPath, [CLI, ...args]);

describe('vfun demo and audit on a segmented journal', () => {
  let root: string;
  let path: string;
  let url: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'vfun-segments-e2e-'));
    path = join(root, 'admin', 'journal.ndjson');
    url = `file:${path}?segment=1KiB`;
    await vfun('demo', '--root', root, '--journal', url);
    await vfun('demo', '--root', root, '--journal', url);
  }, 120_000);
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('each run closed a segment ending with its closing checkpoint; the active file is empty', async () => {
    const segments = (await readdir(join(root, 'admin'))).filter((f) => /^journal\.ndjson\.\d{12}-\d{12}$/.test(f)).sort();
    expect(segments).toHaveLength(2);
    const [a, b] = segments.map((f) => f.slice('journal.ndjson.'.length).split('-').map(Number)) as [number[], number[]];
    expect(a[0]).toBe(1);
    expect(b[0]).toBe(a[1]! + 1);
    for (const f of segments) {
      const lines = (await readFile(join(root, 'admin', f), 'utf8')).trim().split('\n');
      expect((JSON.parse(lines.at(-1)!) as { type: string }).type).toBe('journal.checkpoint');
    }
    expect(await readFile(path, 'utf8')).toBe('');
  });

  it('audit, verify and replay read across the segments', async () => {
    const { stdout } = await vfun('audit', '--root', root, '--journal', url, '--format', 'ndjson');
    const seqs = stdout.trim().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect((await vfun('audit', 'verify', '--root', root, '--journal', url)).stdout).toMatch(new RegExp(`hash chain verified, ${seqs.length} events`));
    expect((await vfun('replay', '--root', root, '--journal', url)).stdout).toMatch(/decide reproduces all \d+ recorded decisions/);
  });

  it('with the first segment archived, the commands name what is missing and exit 1', async () => {
    const first = (await readdir(join(root, 'admin'))).filter((f) => /^journal\.ndjson\.0{11}1-/.test(f))[0]!;
    await rename(join(root, 'admin', first), join(root, first));
    try {
      await expect(vfun('audit', '--root', root, '--journal', url)).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/seqs 1\.\.\d+ are not here.*read from seq \d+ on/) });
      await expect(vfun('audit', 'verify', '--root', root, '--journal', url)).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/chain BROKEN at seq 1: seqs 1\.\.\d+ are not here/) });
    } finally {
      await rename(join(root, first), join(root, 'admin', first));
    }
  });
});
