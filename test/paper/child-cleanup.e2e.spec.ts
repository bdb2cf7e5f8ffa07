/**
 * `vfun bench paper` leaves no child behind when it dies: its guest and server processes die
 * with it (PR_SET_PDEATHSIG), whether its reader closes the pipe early or it is killed mid-run.
 * Children are found by a marker in their environment, which they inherit from the bench process.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'vfun-paper-children-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Pids of live processes whose environment holds `marker`, other than `except`. */
function marked(marker: string, except: readonly number[] = []): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    const pid = Number(d);
    if (!Number.isInteger(pid) || except.includes(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (/\) Z /.test(stat)) continue; // a zombie spins nothing
      if (readFileSync(`/proc/${d}/environ`, 'latin1').includes(marker)) out.push(pid);
    } catch {
      // gone meanwhile, or not ours
    }
  }
  return out;
}

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const BENCH = ['bench', 'paper', '--quick', '--functions', 'factorial', '--no-fpga', '--no-progress'];

describe('bench paper children die with it', () => {
  it('piped into a reader that closes after one line: exit 0, no stack trace, no child left', async () => {
    const marker = `VFUN_TEST_MARK=pipe-${process.pid}-${Date.now()}`;
    const [k, v] = marker.split('=') as [string, string];
    const sh = spawn('/bin/bash', ['-c', '"$0" "$@" | head -1; exit "${PIPESTATUS[0]}"', process.execPath, CLI, ...BENCH, '-o', join(tmp, 'pipe')], {
      env: { ...process.env, [k]: v },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    sh.stdout.on('data', (b: Buffer) => (out += b.toString()));
    sh.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const code = await new Promise<number | null>((res) => sh.once('exit', res));
    expect(err).not.toMatch(/EPIPE|Error|\n\s+at /);
    expect(code).toBe(0);
    expect(out.split('\n').filter((l) => l !== '')).toHaveLength(1);
    expect(out).toMatch(/^results in /);
    await until('no marked process', () => marked(v).length === 0, 5000);
  }, 240_000);

  it('killed (SIGKILL) while a guest child computes a long run without writing: the child dies too', async () => {
    const v = `kill-${process.pid}-${Date.now()}`;
    // One invocation of 200M repetitions: about a minute of silent computing in the host-host child,
    // which would only notice its closed stdout at its next line.
    const bench = spawn(process.execPath, [CLI, ...BENCH, '--instances', '200Mx1', '--scale', '1', '--runs', '1', '-o', join(tmp, 'kill')], {
      env: { ...process.env, VFUN_TEST_MARK: v },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise((res) => bench.once('exit', res));
    await until('a guest child', () => marked(v, [bench.pid!]).length > 0, 60_000);
    const children = marked(v, [bench.pid!]);
    await new Promise((r) => setTimeout(r, 500)); // inside its timed run
    bench.kill('SIGKILL');
    await exited;
    try {
      await until(`children ${children.join(', ')} to die`, () => marked(v).length === 0, 5000);
    } finally {
      for (const pid of marked(v)) process.kill(pid, 'SIGKILL');
    }
  }, 120_000);
});
