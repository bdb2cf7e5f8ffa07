import { execFileSync, spawnSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, open, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError, VirtFunError } from '../../src/errors.js';
import {
  BOOT_MARKER,
  buildInitramfs,
  checkStaticBusybox,
  cpioNewc,
  elfInterpreter,
  EXIT_MARKER,
  INSMOD_FAILED_MARKER,
  initScript,
  withParents,
  type CpioEntry,
} from '../../src/vm/index.js';

// Extract with GNU cpio when installed, else busybox's (the VM tests need busybox-static anyway).
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const CPIO: string[] = has('cpio') ? ['cpio'] : ['busybox', 'cpio'];

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vfun-cpio-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

let n = 0;
/** Extract with `cpio -i -d` (modes kept), return the directory. */
async function unpack(archive: Buffer): Promise<string> {
  const dir = join(work, `x${n++}`);
  await writeFile(`${dir}.cpio`, archive);
  execFileSync('mkdir', ['-p', dir]);
  const r = spawnSync(CPIO[0]!, [...CPIO.slice(1), '-i', '-d', '-m', '-F', `${dir}.cpio`], { cwd: dir, encoding: 'utf8' });
  // Not root: device nodes cannot be made (GNU cpio then exits 2); everything else must extract.
  const errors = r.stderr.split('\n').filter((l) => l.includes('cpio:') && !/mknod|create node/.test(l));
  if (r.status !== 0 && (errors.length > 0 || process.getuid?.() === 0)) throw new Error(`${CPIO.join(' ')} -i failed: ${r.stderr}`);
  return dir;
}

/** `cpio -itv` listing lines. */
function list(archive: Buffer): string[] {
  const r = spawnSync(CPIO[0]!, [...CPIO.slice(1), '-i', '-t', '-v'], { input: archive, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${CPIO.join(' ')} -it failed: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l !== '');
}

type Found =
  | { type: 'dir'; mode: number }
  | { type: 'file'; mode: number; data: Buffer }
  | { type: 'symlink'; target: string }
  | { type: 'device'; mode: number };

/** Everything under `dir`, keyed by relative path. */
async function snapshot(dir: string, prefix = ''): Promise<Map<string, Found>> {
  const out = new Map<string, Found>();
  for (const name of (await readdir(join(dir, prefix))).sort()) {
    const rel = prefix === '' ? name : `${prefix}/${name}`;
    const abs = join(dir, rel);
    const st = await lstat(abs);
    if (st.isSymbolicLink()) out.set(rel, { type: 'symlink', target: await readlink(abs) });
    else if (st.isCharacterDevice() || st.isBlockDevice()) out.set(rel, { type: 'device', mode: st.mode & 0o7777 }); // never read one
    else if (st.isDirectory()) {
      out.set(rel, { type: 'dir', mode: st.mode & 0o7777 });
      for (const [k, v] of await snapshot(dir, rel)) out.set(k, v);
    } else out.set(rel, { type: 'file', mode: st.mode & 0o7777, data: await readFile(abs) });
  }
  return out;
}

function expected(entries: readonly CpioEntry[]): Map<string, Found> {
  const out = new Map<string, Found>();
  for (const e of entries) {
    if (e.type === 'dir') out.set(e.path, { type: 'dir', mode: e.mode ?? 0o755 });
    else if (e.type === 'file') out.set(e.path, { type: 'file', mode: e.mode ?? 0o644, data: Buffer.from(e.data) });
    else if (e.type === 'symlink') out.set(e.path, { type: 'symlink', target: e.target });
  }
  return out;
}

describe('cpioNewc', () => {
  it('round-trips dirs, files (modes, binary and empty data), symlinks and UTF-8 names through cpio -i', async () => {
    const entries: CpioEntry[] = [
      { type: 'dir', path: 'bin', mode: 0o755 },
      { type: 'dir', path: 'secret', mode: 0o700 },
      { type: 'file', path: 'bin/tool', mode: 0o755, data: Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 255]) },
      { type: 'file', path: 'secret/key', mode: 0o600, data: 'k\n' },
      { type: 'file', path: 'empty', mode: 0o644, data: '' },
      { type: 'file', path: 'odd-1', mode: 0o640, data: 'x' },
      { type: 'file', path: 'odd-22', mode: 0o604, data: 'yy' },
      { type: 'file', path: 'odd-333', mode: 0o444, data: 'zzz' },
      { type: 'file', path: 'héllo wörld', mode: 0o644, data: 'ü' },
      { type: 'symlink', path: 'bin/sh', target: 'tool' },
      { type: 'symlink', path: 'abs', target: '/bin/tool' },
      { type: 'symlink', path: 'dangling', target: 'nowhere/at/all' },
    ];
    const got = await snapshot(await unpack(cpioNewc(entries)));
    expect(got).toEqual(expected(entries));
  });

  it('writes the newc magic, 4-byte alignment and the TRAILER!!! record last', () => {
    const a = cpioNewc([{ type: 'file', path: 'a', data: 'abc' }]);
    expect(a.toString('latin1', 0, 6)).toBe('070701');
    expect(a.length % 4).toBe(0);
    const trailer = a.lastIndexOf('TRAILER!!!');
    expect(trailer).toBeGreaterThan(0);
    expect(a.toString('latin1', trailer - 110, trailer - 104)).toBe('070701');
    // Same input, same bytes (mtime 0, inode numbers by position).
    expect(cpioNewc([{ type: 'file', path: 'a', data: 'abc' }]).equals(a)).toBe(true);
  });

  it('records device nodes with their major/minor', () => {
    const lines = list(cpioNewc([{ type: 'dir', path: 'dev' }, { type: 'char', path: 'dev/console', mode: 0o600, major: 5, minor: 1 }]));
    const line = lines.find((l) => l.endsWith('dev/console'));
    expect(line).toMatch(/^crw-------\s/);
    expect(line).toMatch(/\b5,\s+1\b/);
  });

  it('refuses unusable paths and duplicates, naming the path', () => {
    for (const path of ['', '/', 'a/../b', 'a//b', './.', 'x\0y']) {
      expect(() => cpioNewc([{ type: 'file', path, data: '' }])).toThrow(ValidationError);
    }
    expect(() => cpioNewc([{ type: 'dir', path: 'a' }, { type: 'dir', path: '/a/' }])).toThrow(/'a' appears twice/);
  });

  it('withParents adds missing parents before their children and moves explicit dirs up', () => {
    const out = withParents([
      { type: 'file', path: '/a/b/c', data: '' },
      { type: 'dir', path: 'a/b', mode: 0o700 },
      { type: 'symlink', path: 'a/l', target: 'b' },
    ]);
    expect(out.map((e) => `${e.type}:${e.path}:${'mode' in e ? (e.mode ?? 0).toString(8) : ''}`)).toEqual([
      'dir:a:755',
      'dir:a/b:700',
      'file:/a/b/c:',
      'symlink:a/l:',
    ]);
  });

  // A random tree: names map to a file, a symlink or a subtree.
  const name = fc.stringMatching(/^[a-z0-9_][a-z0-9_.-]{0,7}$/);
  const leaf = fc.oneof(
    fc.record({ type: fc.constant('file' as const), mode: fc.integer({ min: 0, max: 0o777 }), data: fc.uint8Array({ maxLength: 600 }) }),
    fc.record({ type: fc.constant('symlink' as const), target: fc.stringMatching(/^[a-z0-9/._-]{1,24}$/) }),
  );
  type Tree = { readonly [name: string]: { type: 'file'; mode: number; data: Uint8Array } | { type: 'symlink'; target: string } | { type: 'dir'; mode: number; children: Tree } };
  const { tree } = fc.letrec<{ tree: Tree; node: Tree[string] }>((tie) => ({
    tree: fc.dictionary(name, tie('node'), { maxKeys: 5 }),
    node: fc.oneof(
      { maxDepth: 3, depthIdentifier: 'tree' },
      leaf,
      fc.record({ type: fc.constant('dir' as const), mode: fc.integer({ min: 0o500, max: 0o777 }), children: tie('tree') }),
    ),
  }));
  const flatten = (t: Tree, prefix = ''): CpioEntry[] =>
    Object.entries(t).flatMap(([k, v]): CpioEntry[] => {
      const path = prefix === '' ? k : `${prefix}/${k}`;
      if (v.type === 'dir') return [{ type: 'dir', path, mode: v.mode }, ...flatten(v.children, path)];
      if (v.type === 'file') return [{ type: 'file', path, mode: v.mode, data: Buffer.from(v.data) }];
      return [{ type: 'symlink', path, target: v.target }];
    });

  test.prop([tree], { numRuns: 30 })('any tree of dirs, files and symlinks comes back from cpio -i as written', async (t) => {
    const entries = flatten(t);
    // Children first in the input: withParents must still put every directory before its contents.
    const archive = cpioNewc(withParents([...entries].reverse()));
    const got = await snapshot(await unpack(archive));
    expect(got).toEqual(expected(entries));
  });
});

describe('static busybox check', () => {
  it('accepts the installed static busybox', async () => {
    await expect(checkStaticBusybox('/usr/bin/busybox')).resolves.toBeUndefined();
  });

  it('refuses a dynamically linked binary naming busybox-static', async () => {
    const err = await checkStaticBusybox(process.execPath).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VirtFunError);
    expect((err as Error).message).toMatch(/dynamically linked \(interpreter \/.*ld-linux.*\).*apt-get install busybox-static/);
  });

  it('refuses a missing file and a non-ELF file', async () => {
    await expect(checkStaticBusybox(join(work, 'nope'))).rejects.toThrow(/busybox not found at .*busybox-static/);
    const txt = join(work, 'not-elf');
    await writeFile(txt, '#!/bin/sh\n');
    await expect(checkStaticBusybox(txt)).rejects.toThrow(/not an ELF executable.*busybox-static/);
  });

  it('elfInterpreter reads PT_INTERP', async () => {
    const fh = await open(process.execPath, 'r');
    const head = Buffer.alloc(64 * 1024);
    await fh.read(head, 0, head.length, 0);
    await fh.close();
    expect(elfInterpreter(head)).toMatch(/^\/lib.*ld-linux/);
    expect(elfInterpreter(Buffer.from('nope'))).toBe(false);
  });
});

describe('buildInitramfs', () => {
  it('writes busybox, /init, the payload, modules in order and the files, gzip-compressed', async () => {
    const modulesDir = join(work, 'mods', '9.9.9-test');
    await writeModules(modulesDir, { a: [], b: ['a'], c: ['b', 'a'] });
    const out = join(work, 'initrd.gz');
    await buildInitramfs({
      out,
      kernel: { release: '9.9.9-test', vmlinuz: '/nonexistent', modulesDir },
      modules: ['c'],
      files: [
        { path: '/etc/vfun/secret', mode: 0o600, data: 's3cret\n' },
        { path: '/opt/x/y', mode: 0o755, data: Buffer.from('bin') },
      ],
      payload: 'echo hi; exit 7',
    });
    const dir = await unpack(gunzipSync(await readFile(out)));
    const got = await snapshot(dir);
    expect(got.get('init')).toMatchObject({ type: 'file', mode: 0o755 });
    expect(got.get('bin/busybox')).toMatchObject({ type: 'file', mode: 0o755 });
    expect(got.get('bin/sh')).toEqual({ type: 'symlink', target: 'busybox' });
    expect(got.get('etc/vfun/secret')).toEqual({ type: 'file', mode: 0o600, data: Buffer.from('s3cret\n') });
    expect(got.get('opt/x/y')).toMatchObject({ type: 'file', mode: 0o755 });
    expect((got.get('etc/vfun/payload.sh') as { data: Buffer }).data.toString()).toBe('echo hi; exit 7\n');
    expect(got.has('lib/modules/9.9.9-test/c.ko')).toBe(true);
    const init = (got.get('init') as { data: Buffer }).data.toString();
    expect(init.startsWith('#!/bin/busybox sh\n')).toBe(true);
    // The boot marker is the first command; modules load dependencies first.
    expect(init.split('\n').find((l) => l !== '' && !l.startsWith('#'))).toBe(`echo ${BOOT_MARKER}`);
    const insmods = init.split('\n').filter((l) => l.startsWith('insmod '));
    expect(insmods).toEqual(['a', 'b', 'c'].map((m) => `insmod /lib/modules/9.9.9-test/${m}.ko || echo "${INSMOD_FAILED_MARKER} ${m}"`));
    expect(init).toContain('( . /etc/vfun/payload.sh )');
    expect(init).toMatch(new RegExp(`echo "${EXIT_MARKER} \\$status"\\nsync\\npoweroff -f\\n$`));
    // The kernel's console exists before devtmpfs is mounted.
    expect(list(gunzipSync(await readFile(out))).some((l) => /^crw.*dev\/console$/.test(l))).toBe(true);
  });

  it('runs its /init under busybox sh: markers, failed insmod reported, payload status, vfun_port', async () => {
    // Execute the generated script's logic on the host with stand-ins for the privileged commands.
    const script = initScript([{ name: 'm1', file: '/lib/modules/x/m1.ko' }])
      .replace('/bin/busybox --install -s /bin\n', '')
      .replace(/^mount .*$/gm, ':')
      .replace('insmod ', 'false ')
      .replace('( . /etc/vfun/payload.sh )', '( exit 5 )')
      .replace('sync\npoweroff -f\n', '');
    const r = spawnSync('busybox', ['sh', '-c', script], { encoding: 'utf8' });
    expect(r.stdout.split('\n').filter((l) => l !== '')).toEqual([BOOT_MARKER, `${INSMOD_FAILED_MARKER} m1`, `${EXIT_MARKER} 5`]);
  });

  it('refuses modules when the kernel has no modules directory, and replacing /init', async () => {
    const kernel = { release: 'r', vmlinuz: '/x' };
    await expect(buildInitramfs({ out: join(work, 'no.gz'), kernel, modules: ['virtio'], files: [], payload: '' })).rejects.toThrow(/modules/);
    await expect(
      buildInitramfs({ out: join(work, 'no.gz'), kernel, modules: [], files: [{ path: '/init', mode: 0o755, data: '' }], payload: '' }),
    ).rejects.toThrow(/\/init is part of the generated initramfs/);
  });
});

/** Synthetic modules: non-ELF files holding just the NUL-separated .modinfo strings. */
async function writeModules(modulesDir: string, deps: Record<string, string[]>): Promise<void> {
  await mkdir(join(modulesDir, 'kernel', 'drivers'), { recursive: true });
  for (const [m, d] of Object.entries(deps)) {
    await writeFile(join(modulesDir, 'kernel', 'drivers', `${m}.ko`), Buffer.from(`\0license=GPL\0depends=${d.join(',')}\0name=${m}\0`, 'latin1'));
  }
}
