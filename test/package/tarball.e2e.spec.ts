/**
 * The package as a user installs it (test/support/packed.ts): `npm pack` of this checkout,
 * installed into a fresh project with `--ignore-scripts`, so no install script runs and nothing is
 * compiled. The prebuilt native addon must give the cross-process (mmap + futex) backend on the
 * Node running this test (CI runs the e2e tier on Node 20 and on Node 24); the tarball must hold
 * what a user needs and nothing of the project's tests and benchmarks. Needs `npm run build`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPacked, type PackedProject } from '../support/packed.js';

let project: PackedProject;

beforeAll(() => {
  // As an integrator who tests with virtfun/testing: fast-check (its optional peer dependency) beside it.
  const peers = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { peerDependencies: Record<string, string> }).peerDependencies;
  project = installPacked({ dependencies: { 'fast-check': peers['fast-check']! } });
}, 300_000);

afterAll(() => project?.cleanup());

/** Runs `node <args>` in the project; stdout, stderr and the exit status. */
function node(args: readonly string[], env: NodeJS.ProcessEnv = {}): { stdout: string; stderr: string; status: number | null } {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VIRTFUN_')));
  const r = spawnSync(process.execPath, args, { cwd: project.projectDir, env: { ...clean, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

const HOST = `
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileRegion, shmAvailable, shmUnavailableReason, startService } from 'virtfun/dataplane';

if (!shmAvailable()) { console.log(JSON.stringify({ available: false, reason: shmUnavailableReason() })); process.exit(0); }
const dir = mkdtempSync(join(tmpdir(), 'virtfun-consumer-region-'));
const region = createFileRegion({ dataout: join(dir, 'dataout'), datain: join(dir, 'datain') }, 4096);
const service = await startService({ region, driver: 'factorial' });
// The guest is another OS process: the two share the region through the addon's mmap and futexes.
const guest = spawnSync(process.execPath, ['guest.mjs', dir], { encoding: 'utf8', timeout: 30000 });
const stats = await service.stop();
console.log(JSON.stringify({ available: true, guest: guest.stdout.trim(), guestErr: guest.stderr, guestStatus: guest.status, calls: stats.calls }));
`;

const GUEST = `
import { connectDir } from 'virtfun';
const client = connectDir(process.argv[2]);
const out = [];
for (const n of [0, 5, 10, 20]) {
  const input = new Uint8Array(4);
  new DataView(input.buffer).setUint32(0, n, true);
  const r = client.call(input);
  out.push(new DataView(r.buffer, r.byteOffset, r.byteLength).getBigUint64(0, true).toString());
}
client.close?.();
console.log(out.join(','));
`;

describe('the packed tarball', () => {
  it('holds no tests, no benchmarks, no test support files; LICENSE, CHANGELOG, README and the prebuilt addon are in it', () => {
    const { files } = project;
    expect(files.length).toBeGreaterThan(100);
    expect(files.filter((f) => /^(test|bench)\//.test(f) || /^dist\/(test|bench)\//.test(f) || /\.(spec|test)\.[cm]?[jt]s$/.test(f))).toEqual([]);
    expect(files.filter((f) => f.startsWith('docs/paper-runs/'))).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'CHANGELOG.md', 'README.md', 'package.json', 'docs/versioning.md', `prebuilds/${process.platform}-${process.arch}/vfun_shm.napi.node`]));
    expect(files).toEqual(expect.arrayContaining(['binding.gyp', 'scripts/build-native.mjs', 'scripts/native-addon.mjs', 'dist/src/index.js', 'dist/src/index.d.ts']));
    expect(files.filter((f) => f.startsWith('build/'))).toEqual([]);
  });

  it('every shipped source map resolves: each .js names a .map that ships, each source is in the map or in the package', () => {
    const { files, packageDir } = project;
    const shipped = new Set(files);
    const maps = files.filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(100);
    const unresolved: string[] = [];
    for (const js of files.filter((f) => f.endsWith('.js') && f.startsWith('dist/'))) {
      const m = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(join(packageDir, js), 'utf8'));
      if (m && !shipped.has(normalize(join(dirname(js), m[1]!)))) unresolved.push(`${js} → ${m[1]}`);
    }
    for (const map of maps) {
      const { sources, sourcesContent } = JSON.parse(readFileSync(join(packageDir, map), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      sources.forEach((s, i) => {
        if (typeof sourcesContent?.[i] !== 'string' && !shipped.has(normalize(join(dirname(map), s)))) unresolved.push(`${map}: ${s}`);
      });
    }
    expect(unresolved).toEqual([]);
  });

  it('the README links to no file outside the package', () => {
    const readme = readFileSync(join(project.packageDir, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\(([^)]+)\)|`(\.\.\/[^`]+)`/g)].map((m) => m[1] ?? m[2]!).filter((l) => !/^(https?:|#)/.test(l));
    expect(links.filter((l) => normalize(l).startsWith('..'))).toEqual([]);
  });
});

describe('installed with --ignore-scripts (nothing compiled)', () => {
  it('has no build of its own and no figure packages: the prebuilt addon and the runtime dependencies only', () => {
    expect(existsSync(join(project.packageDir, 'build'))).toBe(false);
    expect(existsSync(join(project.packageDir, 'prebuilds', `${process.platform}-${process.arch}`, 'vfun_shm.napi.node'))).toBe(true);
    for (const pkg of ['vega', 'vega-lite']) expect(existsSync(join(project.projectDir, 'node_modules', pkg)), pkg).toBe(false);
  });

  it('every entry point imports (with fast-check for virtfun/testing, without vega)', () => {
    const entries = ['virtfun', 'virtfun/daemon', 'virtfun/journal', 'virtfun/dataplane', 'virtfun/simulator', 'virtfun/testing'];
    const r = node(['--input-type=module', '-e', `for (const e of ${JSON.stringify(entries)}) await import(e); console.log('ok')`]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('ok');
  });

  it(`gives a working cross-process backend on Node ${process.versions.node}: a guest process calls a service through mapped files`, () => {
    writeFileSync(join(project.projectDir, 'host.mjs'), HOST);
    writeFileSync(join(project.projectDir, 'guest.mjs'), GUEST);
    const r = node(['host.mjs']);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { available: boolean; reason?: string; guest?: string; guestErr?: string; guestStatus?: number; calls?: number };
    expect(out.reason ?? '').toBe('');
    expect(out.available).toBe(true);
    expect(out.guestErr).toBe('');
    expect(out.guestStatus).toBe(0);
    expect(out.guest).toBe('1,120,3628800,2432902008176640000');
    expect(out.calls).toBe(4);
  });

  it('`vfun bench paper` without vega and vega-lite writes its results and says in one line how to get the figures', () => {
    const r = node([join('node_modules', '.bin', 'vfun'), 'bench', 'paper', '--quick', '--runs', '1', '--instances', '5x1', '--functions', 'factorial', '--no-fpga', '--no-progress', '-o', 'paper']);
    expect(r.status, r.stderr).toBe(0);
    const out = `${r.stdout}${r.stderr}`;
    expect(out).toContain('results.md, results.json, runs.csv, cells.csv\n');
    expect(out.split('\n').filter((l) => l.includes('vega'))).toEqual([
      'no figures: they need the optional packages vega and vega-lite (`npm install vega@~6.4.0 vega-lite@~6.4.3` beside virtfun); the results are written without them',
    ]);
    expect(readdirSync(join(project.projectDir, 'paper')).sort()).toEqual(['cells.csv', 'results.json', 'results.md', 'runs.csv']);
    // an installed package is not a git checkout: no commit recorded
    expect((JSON.parse(readFileSync(join(project.projectDir, 'paper', 'results.json'), 'utf8')) as { meta: { environment: { git: unknown } } }).meta.environment.git).toBeNull();
  });

  it('without a usable addon it says why and gives the advice that works in a project: `npm rebuild virtfun`', () => {
    const prebuilds = join(project.packageDir, 'prebuilds');
    renameSync(prebuilds, `${prebuilds}.away`);
    try {
      const dir = join(project.projectDir, 'region');
      mkdirSync(dir);
      writeFileSync(join(dir, 'dataout'), new Uint8Array(4096));
      const r = node([
        '--input-type=module',
        '-e',
        `import { connectDir, shmAvailable, shmUnavailableReason } from 'virtfun';
         let message = '';
         try { connectDir(${JSON.stringify(dir)}); } catch (e) { message = e.code + ': ' + e.message; }
         console.log(JSON.stringify({ available: shmAvailable(), reason: shmUnavailableReason(), message }));`,
      ]);
      expect(r.stderr).toBe('');
      const out = JSON.parse(r.stdout) as { available: boolean; reason: string; message: string };
      expect(out.available).toBe(false);
      expect(out.reason).toContain(`there is no prebuilt binary for ${process.platform}-${process.arch}`);
      expect(out.message).toMatch(/^REGION: the native addon vfun_shm is not built: .*; run `npm rebuild virtfun`; the in-process SharedArrayBuffer backend still works$/);
    } finally {
      renameSync(`${prebuilds}.away`, prebuilds);
    }
  });
});
