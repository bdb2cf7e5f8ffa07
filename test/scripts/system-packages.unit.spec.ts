/**
 * scripts/system-packages.json is the one list of the programs the tests, the scripts and `vfun`
 * start. Checked here: its shape, that README.md names the same packages and programs, and that
 * every program the sources start by a literal name (execFile, spawn, … with a quoted name) and the
 * programs they start by constant (QEMU, busybox, setpriv, nats-server, the C compiler) are listed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BUSYBOX, QEMU_BINARY } from '../../src/vm/index.js';

const ROOT = join(import.meta.dirname, '../..');

interface SystemPackage {
  readonly package: string;
  readonly programs: readonly string[];
  readonly from: 'pretest' | 'machine' | 'debian' | 'fetched';
  readonly tiers: readonly ('unit' | 'int' | 'e2e')[];
  readonly why: string;
  readonly staticElf?: readonly string[];
  readonly files?: readonly string[];
  readonly group?: 'gpu';
  readonly minVersion?: string;
  readonly backportsSuite?: string;
}

const { packages } = JSON.parse(readFileSync(join(ROOT, 'scripts/system-packages.json'), 'utf8')) as { packages: SystemPackage[] };
const listed = new Set(packages.flatMap((p) => p.programs));

describe('scripts/system-packages.json', () => {
  it('names each package once, with where it comes from, the tiers that need it and why', () => {
    expect(new Set(packages.map((p) => p.package)).size).toBe(packages.length);
    for (const p of packages) {
      expect(['pretest', 'machine', 'debian', 'fetched'], p.package).toContain(p.from);
      expect(p.tiers.every((t) => ['unit', 'int', 'e2e'].includes(t)), p.package).toBe(true);
      expect(p.why.length, p.package).toBeGreaterThan(10);
    }
    // What `npm test` installs (the unit tier needs none of it), and the C toolchain node-gyp needs.
    expect(packages.filter((p) => p.from === 'pretest').map((p) => p.package).sort()).toEqual([
      'busybox-static',
      'gcc-aarch64-linux-gnu',
      'libc6-dev-arm64-cross',
      'libvulkan1',
      'mesa-vulkan-drivers',
      'nats-server',
      'qemu-system-x86',
      'qemu-user',
      'systemd',
    ]);
    expect(packages.filter((p) => p.from === 'pretest').some((p) => p.tiers.includes('unit'))).toBe(false);
    expect(packages.filter((p) => p.from === 'machine').map((p) => p.package)).toEqual(expect.arrayContaining(['gcc', 'libc6-dev']));
  });

  it('names the GPU group, its minimum Mesa and the suite it comes from on bookworm; npm run setup:gpu installs that group', () => {
    expect(packages.filter((p) => p.group !== undefined).map((p) => [p.package, p.group])).toEqual([
      ['libvulkan1', 'gpu'],
      ['mesa-vulkan-drivers', 'gpu'],
    ]);
    for (const p of packages) {
      // Only what the project installs has a version to check or a suite to take it from.
      if (p.minVersion !== undefined || p.backportsSuite !== undefined || p.group !== undefined) expect(p.from, p.package).toBe('pretest');
      if (p.minVersion !== undefined) expect(p.minVersion, p.package).toMatch(/^\d+(\.\d+)*$/);
      if (p.backportsSuite !== undefined) {
        expect(p.backportsSuite, p.package).toMatch(/^[a-z]+-backports$/);
        expect(p.minVersion, `${p.package}: a backports suite is for a version the default suite lacks`).toBeDefined();
      }
      // Nothing a package without programs provides could be checked: it has files or a version.
      if (p.from === 'pretest' && p.programs.length === 0) expect(p.files !== undefined || p.minVersion !== undefined, p.package).toBe(true);
    }
    const mesa = packages.find((p) => p.package === 'mesa-vulkan-drivers')!;
    expect([mesa.minVersion, mesa.backportsSuite]).toEqual(['24', 'bookworm-backports']);
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts['setup:gpu']).toBe('node scripts/ensure-system-packages.mjs --group gpu');
  });

  it('README.md lists the same packages, programs and origins', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = /\n## System packages\n([\s\S]*?)(\n## |$)/.exec(readme)?.[1];
    expect(section, 'README.md has a "## System packages" section').toBeDefined();
    const rows = section!
      .split('\n')
      .filter((l) => /^\| `/.test(l))
      .map((l) => l.split('|').map((c) => c.trim()));
    const fromReadme = rows.map(([, pkg, programs, from]) => ({
      package: pkg!.replaceAll('`', ''),
      programs: programs === '' ? [] : programs!.split(',').map((p) => p.trim().replaceAll('`', '')),
      from: from!,
    }));
    expect(fromReadme).toEqual(packages.map((p) => ({ package: p.package, programs: [...p.programs], from: p.from })));
  });

  it('lists every program the sources start by name', () => {
    const started = new Set<string>();
    const call = /\b(?:spawn|spawnSync|execFile|execFileSync|execSync|exec|run|requireTool)\(\s*'([^'\s]+)'/g;
    for (const dir of ['src', 'test', 'scripts', 'bench', 'examples', 'simulator']) {
      for (const f of readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })) {
        if (!/\.(ts|mts|mjs|js)$/.test(f)) continue;
        for (const m of readFileSync(join(ROOT, dir, f), 'utf8').matchAll(call)) started.add(basename(m[1]!)); // /bin/sh -> sh
      }
    }
    // Started by constant or by path rather than by a literal name in the call:
    for (const p of [QEMU_BINARY, basename(DEFAULT_BUSYBOX), 'setpriv', 'nats-server', 'cc', 'systemd-analyze']) started.add(p);
    expect(started.size).toBeGreaterThan(10);
    expect([...started].filter((p) => !listed.has(p)).sort()).toEqual([]);
  });
});
