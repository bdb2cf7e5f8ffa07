/**
 * Where the native addon is loaded from (a build of one's own, then the prebuilt binary the
 * package ships), what the install script does with a prebuilt binary, and the rebuild advice a
 * user gets where the package is installed (docs/native.md, "Prebuilt binary").
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebuildAdvice, requireShm, SHM_ABI_VERSION, shmAddonCandidates, shmAddonPath } from '../../src/native/shm.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('shmAddonCandidates and rebuildAdvice', () => {
  it('tries the build of one’s own first, then the prebuilt binary of this platform and architecture', () => {
    expect(shmAddonCandidates('/p', 'linux', 'arm64')).toEqual(['/p/build/Release/vfun_shm.node', '/p/prebuilds/linux-arm64/vfun_shm.napi.node']);
  });

  it('advises `npm rebuild virtfun` where the package is a dependency, `npm run build:native` in its checkout', () => {
    expect(rebuildAdvice('/home/ops/app/node_modules/virtfun')).toBe('npm rebuild virtfun');
    expect(rebuildAdvice('/srv/app/node_modules/.pnpm/virtfun@0.1.0/node_modules/virtfun')).toBe('npm rebuild virtfun');
    expect(rebuildAdvice('/work/virtfun')).toBe('npm run build:native');
    expect(rebuildAdvice(null)).toBe('npm run build:native');
  });

  it('in this checkout the addon loads from a candidate, with the ABI the C sources define', () => {
    requireShm();
    expect(shmAddonCandidates(ROOT)).toContain(shmAddonPath());
    const define = /#define\s+VFUN_SHM_ABI_VERSION\s+(\d+)/.exec(readFileSync(join(ROOT, 'native', 'addon.c'), 'utf8'));
    expect(Number(define?.[1])).toBe(SHM_ABI_VERSION);
  });
});

describe('the install script (scripts/build-native.mjs) in an installed package', () => {
  let dir: string;
  let pkg: string;
  const prebuilt = (): string => join(pkg, 'prebuilds', `${process.platform}-${process.arch}`, 'vfun_shm.napi.node');

  /** Runs the install script with nothing on PATH: it cannot compile (no make, no python3, no cc). */
  function install(): { status: number | null; stderr: string } {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VIRTFUN_') && !k.startsWith('npm_')));
    const r = spawnSync(process.execPath, [join(pkg, 'scripts', 'build-native.mjs')], { env: { ...env, PATH: join(dir, 'empty') }, encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stderr: r.stderr };
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vfun-install-'));
    mkdirSync(join(dir, 'empty'));
    pkg = join(dir, 'app', 'node_modules', 'virtfun');
    for (const f of ['binding.gyp', 'native', 'scripts/build-native.mjs', 'scripts/native-addon.mjs']) cpSync(join(ROOT, f), join(pkg, f), { recursive: true });
    mkdirSync(join(prebuilt(), '..'), { recursive: true });
    requireShm();
    cpSync(shmAddonPath()!, prebuilt());
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('compiles nothing where the prebuilt binary loads with the sources’ ABI', () => {
    const r = install();
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`using the prebuilt ${prebuilt()} (N-API, ABI ${SHM_ABI_VERSION}): nothing to compile`);
    expect(existsSync(join(pkg, 'build'))).toBe(false);
  });

  it('compiles where it does not (another ABI), and when that fails advises `npm rebuild virtfun`', () => {
    const addonC = join(pkg, 'native', 'addon.c');
    const source = readFileSync(addonC, 'utf8');
    writeFileSync(addonC, source.replace(/(#define\s+VFUN_SHM_ABI_VERSION\s+)\d+/, '$199'));
    try {
      const r = install();
      expect(r.status).toBe(0); // optional: install goes on
      expect(r.stderr).toContain(`the prebuilt ${prebuilt()} does not load here (abiVersion ${SHM_ABI_VERSION}, expected 99): compiling from the sources`);
      expect(r.stderr).toContain('WARNING: the native addon vfun_shm (native/*.c) was NOT built.');
      expect(r.stderr).toMatch(/\n {6}npm rebuild virtfun\n/);
    } finally {
      writeFileSync(addonC, source);
    }
  });
});
