/** The demo as a user runs it: the built CLI, in a fresh data root. */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');

describe('vfun demo', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'vfun-demo-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('prints the four phases of every instance and a verified journal summary', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'demo', '--root', root]);
    const instances = [...stdout.matchAll(/instance (i\d+) runs in/g)].map((m) => m[1]);
    expect(instances).toEqual(['i1', 'i2', 'i3', 'i4', 'i5']);
    for (const phase of ['negotiation', 'activation', 'computation', 'release', 'released']) {
      expect(stdout.match(new RegExp(`\\] ${phase}\\b`, 'g'))?.length).toBeGreaterThanOrEqual(5);
    }
    expect(stdout).toContain('factorial(51) = 18284192274659147776');
    expect(stdout).toContain('fibonacci(93) = 12200160415121876738');
    expect(stdout).toContain('nacked (no-capacity');
    expect(stdout).toContain('software fallback');
    expect(stdout).toContain('refused at negotiation: quota');
    expect(stdout).toContain('nacked: credential');
    expect(stdout).toContain('error BAD_INPUT');
    expect(stdout).toMatch(/hash chain verified: \d+ events/);
    // Regions are sealed memory mapped across processes; a separate guest process called through one.
    expect(stdout).toContain(`regions: sealed shared memory named under ${root}/vmcli`);
    expect(stdout).toMatch(/a guest process \(pid \d+\) mapped .*: 100000 calls of factorial\(51\) = 18284192274659147776/);
    // Release leaves nothing of any instance behind: no region, no service entry, no admin entry.
    expect(await readdir(join(root, 'vmcli'))).toEqual([]);
    expect(await readdir(join(root, 'service'))).toEqual([]);
    expect(await readdir(join(root, 'admin', 'instances'))).toEqual([]);
    const lines = (await readFile(join(root, 'admin', 'journal.ndjson'), 'utf8')).trim().split('\n');
    expect(JSON.parse(lines.at(-2)!)).toMatchObject({ type: 'vfund.stopped' });
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ type: 'journal.checkpoint', data: { size: lines.length - 1 } });
  });

  it('--device webgpu: each GPU function through the four phases on the adapter, agreeing with its twin; the adapter journaled', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'demo', '--root', root, '--device', 'webgpu']);
    expect(stdout, 'no WebGPU adapter here: run `npm run setup:gpu`').toMatch(/adapter: \S+ \/ \S+ \/ /);
    for (const fn of ['saxpy', 'matmul', 'crc32-batch']) {
      for (const phase of ['negotiation', 'activation', 'computation', 'release', 'released']) expect(stdout).toMatch(new RegExp(`\\[acme/gpu-${fn}/${fn}\\] ${phase}\\b`));
      expect(stdout).toMatch(new RegExp(`\\[acme/gpu-${fn}/${fn}\\] instance i\\d+ runs in hardware: WebGPU gpu0`));
      expect(stdout).toMatch(new RegExp(`\\[acme/gpu-${fn}/${fn}\\] activation compiled the pipelines and allocated the buffers in [\\d.]+ ms`));
      expect(stdout).toMatch(new RegExp(`\\n  ${fn} \\(\\d+ B in, \\d+ B out\\): agrees with the software twin`));
    }
    expect(stdout).toMatch(/hash chain verified: \d+ events/);
    const events = (await readFile(join(root, 'admin', 'journal.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
    expect(events.find((e) => e.type === 'device.probed')?.data).toMatchObject({ device: 'gpu0', available: true, adapter: { vendor: expect.any(String) } });
    expect(events.filter((e) => e.type === 'activation.acked' && e.data['driver'] !== undefined)).toHaveLength(3);
  });

  it('--device webgpu on a host without an adapter (forced): the GPU functions nack and fall back to their twins', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'demo', '--root', root, '--device', 'webgpu'], { env: { ...process.env, VIRTFUN_WEBGPU: 'off' } });
    expect(stdout).toContain('no usable adapter: WebGPU is turned off on this host (VIRTFUN_WEBGPU=off)');
    for (const fn of ['saxpy', 'matmul', 'crc32-batch']) {
      expect(stdout).toContain(`[acme/gpu-${fn}/${fn}] nacked (device-unavailable: device gpu0:`);
      expect(stdout).toMatch(new RegExp(`\\n  ${fn} \\(\\d+ B in, \\d+ B out\\): agrees with the software twin`));
    }
    expect(stdout.match(/runs in software, after a hardware nack: software fallback/g)?.length).toBeGreaterThanOrEqual(4);
  });

  it('continues the chain across runs and cuts a torn last record', async () => {
    await run(process.execPath, [CLI, 'demo', '--root', root]);
    const path = join(root, 'admin', 'journal.ndjson');
    const text = await readFile(path, 'utf8');
    await writeFile(path, text + text.split('\n')[1]!.slice(0, 40)); // a torn append
    const { stdout } = await run(process.execPath, [CLI, 'demo', '--root', root]);
    expect(stdout).toContain('journal: cut a torn last record (40 bytes)');
    const n = text.trim().split('\n').length;
    expect(stdout).toContain(`hash chain verified: ${2 * n} events`);
  });

  it('runs in-process with --backend sab', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'demo', '--root', root, '--backend', 'sab']);
    expect(stdout).toContain('regions: in-process SharedArrayBuffers');
    expect(stdout).toMatch(/hash chain verified: \d+ events/);
  });

  it('refuses an unknown journal URL with a clear error and exit code 1', async () => {
    await expect(run(process.execPath, [CLI, 'demo', '--journal', 'ftp://x'])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining("journal URL 'ftp://x' has an unknown scheme"),
    });
  });
});
