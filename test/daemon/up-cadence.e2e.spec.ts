/**
 * `vfun up`'s cadence options: checkpoints every N events (and never by time
 * with --checkpoint-interval 0), snapshots every M events, and a bad value
 * refused at once naming the option and its limit.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const DIST = join(import.meta.dirname, '../../dist');
const CLI = join(DIST, 'src/cli/main.js');
const OFFLOAD = join(DIST, 'examples/offload.js');
const SECRET = 'acme-secret-for-the-cadence-test';

describe('vfun up --checkpoint-every / --checkpoint-interval / --snapshot-every', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'vfun-cadence-'));
    await writeFile(join(root, 'config.json'), JSON.stringify({ tenants: [{ id: 'acme', secret: SECRET, maxInstances: 4 }], functions: [{ name: 'crc32', kinds: { sw: { slots: 4, driver: 'crc32' } } }] }));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('journals checkpoints and snapshots at the counts given; the journal verifies', async () => {
    const args = [CLI, 'up', '--config', join(root, 'config.json'), '--root', root, '--checkpoint-every', '3', '--checkpoint-interval', '0', '--snapshot-every', '4'];
    const daemon = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<number | null>((resolve) => daemon.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      daemon.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready')) resolve();
      });
      daemon.once('exit', (code) => reject(new Error(`vfun up exited (${code}): ${out}`)));
    });
    const sock = join(root, 'vmcli', 'acme', 'control.sock');
    for (const app of ['a', 'b', 'c']) {
      await exec(process.execPath, [OFFLOAD, '--socket', sock, '--tenant', 'acme', '--app', app, '--fn', 'crc32', '--kind', 'sw', '--arg', 'x'], { env: { ...process.env, VFUN_SECRET: SECRET } });
    }
    daemon.kill('SIGTERM');
    expect(await exited).toBe(0);
    const { stdout } = await exec(process.execPath, [CLI, 'audit', '--root', root, '--format', 'ndjson']);
    const envs = stdout.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; type: string });
    const seqsOf = (type: string) => envs.filter((e) => e.type === type).map((e) => e.seq);
    const checkpoints = seqsOf('journal.checkpoint');
    // 3 guests x 4 events (negotiation, activation started/acked, release) + start and stop: at least 4 by count, one at stop.
    expect(checkpoints.length).toBeGreaterThanOrEqual(5);
    expect(envs.at(-1)!.type).toBe('journal.checkpoint');
    expect(seqsOf('state.snapshot').length).toBeGreaterThanOrEqual(2);
    const verify = await exec(process.execPath, [CLI, 'audit', 'verify', '--root', root]);
    expect(verify.stdout).toMatch(new RegExp(`${checkpoints.length} checkpoint\\(s\\), the last covers seqs 1\\.\\.${envs.length - 1}; 0 event\\(s\\) not yet covered`));
  });

  it.each([
    ['--checkpoint-every', '0', "'0' is not an integer >= 1"],
    ['--checkpoint-interval', '-5', "'-5' is not a number >= 0"],
    ['--snapshot-every', 'many', "'many' is not an integer >= 0"],
  ])('%s %s is refused naming the option and its limit', async (option, value, message) => {
    const err = (await exec(process.execPath, [CLI, 'up', '--config', join(root, 'config.json'), '--root', root, option, value]).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(err.code).not.toBe(0);
    expect(err.stderr).toContain(`option '${option} <`);
    expect(err.stderr).toContain(message);
  });
});
