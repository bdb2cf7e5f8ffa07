/**
 * The initramfs writer, checked by reading back what it wrote with the tests'
 * own newc reader (test/support/newc.ts): no cpio or busybox program. Another
 * unpacker's view (busybox cpio, and busybox sh running /init) is in
 * initramfs.int.spec.ts; the kernel's own is in boot.int.spec.ts.
 */
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
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
  withParents,
  type CpioEntry,
} from '../../src/vm/index.js';
import { NewcFormatError, readNewc, S_IFCHR, unpackNewc, type Unpacked } from '../support/newc.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vfun-cpio-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function expected(entries: readonly CpioEntry[]): Map<string, Unpacked> {
  const out = new Map<string, Unpacked>();
  for (const e of entries) {
    if (e.type === 'dir') out.set(e.path, { type: 'dir', mode: e.mode ?? 0o755 });
    else if (e.type === 'file') out.set(e.path, { type: 'file', mode: e.mode ?? 0o644, data: Buffer.from(e.data) });
    else if (e.type === 'symlink') out.set(e.path, { type: 'symlink', target: e.target });
    else out.set(e.path, { type: e.type, mode: e.mode ?? 0o600, major: e.major, minor: e.minor });
  }
  return out;
}

/** One newc header as the format describes it: "070701" and 13 fields of 8 hex digits. */
const header = (f: { ino: number; mode: number; nlink: number; filesize?: number; rdev?: [number, number]; namesize: number }) =>
  '070701' +
  [f.ino, f.mode, 0, 0, f.nlink, 0, f.filesize ?? 0, 0, 0, f.rdev?.[0] ?? 0, f.rdev?.[1] ?? 0, f.namesize, 0].map((v) => v.toString(16).padStart(8, '0')).join('');

describe('the newc reader of the tests', () => {
  // dev/console (char 5,1, 0600), then the trailer: written by hand from the format, not by cpioNewc.
  const handWritten = Buffer.from(
    header({ ino: 1, mode: 0o020600, nlink: 1, rdev: [5, 1], namesize: 12 }).toUpperCase() +
      'dev/console\0' +
      '\0\0' + // 110 + 12 = 122: pad to 124
      header({ ino: 2, mode: 0, nlink: 1, namesize: 11 }) +
      'TRAILER!!!\0' +
      '\0\0\0', // 124 + 110 + 11 = 245: pad to 248
    'latin1',
  );

  it('reads a hand-written archive: type, mode, device numbers, upper- or lower-case hex', () => {
    expect(handWritten.length).toBe(248);
    const [r, ...rest] = readNewc(handWritten);
    expect(rest).toEqual([]);
    expect(r).toMatchObject({ name: 'dev/console', type: 'char', mode: S_IFCHR | 0o600, perm: 0o600, rdevmajor: 5, rdevminor: 1, ino: 1, nlink: 1, uid: 0, gid: 0 });
    expect(r!.data.length).toBe(0);
  });

  it('refuses what is not a whole newc archive, saying where', () => {
    const bad = (b: Buffer, what: RegExp) => expect(() => readNewc(b)).toThrow(what);
    bad(handWritten.subarray(0, 200), /offset 124: truncated header/);
    bad(Buffer.concat([Buffer.from('070707'), handWritten.subarray(6)]), /offset 0: magic is "070707"/);
    bad(Buffer.from(handWritten.toString('latin1').replace('TRAILER!!!', 'TRAILER!!?'), 'latin1'), /offset 124: TRAILER!!\?: c_mode 0o000000 is not a directory/);
    bad(Buffer.from(handWritten.toString('latin1').replace('0000000C', '0000000B'), 'latin1'), /not NUL-terminated/);
    bad(Buffer.concat([handWritten, Buffer.from('x')]), /offset 248: trailing padding byte is 0x78/);
    expect(() => unpackNewc(Buffer.from(header({ ino: 1, mode: 0o100644, nlink: 1, namesize: 4 }) + 'a/b\0' + header({ ino: 2, mode: 0, nlink: 1, namesize: 11 }) + 'TRAILER!!!\0\0\0\0', 'latin1'))).toThrow(
      NewcFormatError,
    );
  });
});

describe('cpioNewc', () => {
  it('round-trips dirs, files (modes, binary and empty data), symlinks and UTF-8 names', () => {
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
    expect(unpackNewc(cpioNewc(entries))).toEqual(expected(entries));
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
    const [dev, consoleNode, vda] = readNewc(
      cpioNewc([{ type: 'dir', path: 'dev' }, { type: 'char', path: 'dev/console', mode: 0o600, major: 5, minor: 1 }, { type: 'block', path: 'dev/vda', major: 254, minor: 0 }]),
    );
    expect(dev).toMatchObject({ name: 'dev', type: 'dir', perm: 0o755 });
    expect(consoleNode).toMatchObject({ name: 'dev/console', type: 'char', mode: 0o020600, rdevmajor: 5, rdevminor: 1, devmajor: 0, devminor: 0, uid: 0, gid: 0 });
    expect(vda).toMatchObject({ name: 'dev/vda', type: 'block', mode: 0o060600, rdevmajor: 254, rdevminor: 0 });
    // Byte for byte what the format says (the hand-written archive above, up to the inode numbers).
    expect(cpioNewc([{ type: 'char', path: 'dev/console', mode: 0o600, major: 5, minor: 1 }]).toString('latin1')).toBe(
      header({ ino: 1, mode: 0o020600, nlink: 1, rdev: [5, 1], namesize: 12 }) + 'dev/console\0\0\0' + header({ ino: 2, mode: 0, nlink: 1, namesize: 11 }) + 'TRAILER!!!\0\0\0\0',
    );
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

  test.prop([tree], { numRuns: 100 })('any tree of dirs, files and symlinks reads back as written, every directory before its contents', (t) => {
    const entries = flatten(t);
    // Children first in the input: withParents must still put every directory before its contents
    // (unpackNewc refuses an entry whose directory has not come yet, as the kernel's one pass needs).
    const archive = cpioNewc(withParents([...entries].reverse()));
    expect(unpackNewc(archive)).toEqual(expected(entries));
    const inodes = readNewc(archive).map((r) => r.ino);
    expect(new Set(inodes).size).toBe(inodes.length); // no accidental hard links
  });
});

/** A minimal ELF64 header with no program headers, hence no PT_INTERP: what checkStaticBusybox calls static. */
function staticElfStandIn(): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2; // ELFCLASS64
  b[5] = 1; // little-endian
  b[6] = 1;
  b.writeUInt16LE(2, 0x10); // ET_EXEC
  b.writeUInt16LE(62, 0x12); // x86-64
  b.writeUInt16LE(64, 0x34);
  b.writeUInt16LE(56, 0x36); // phentsize; phnum stays 0
  return b;
}

describe('static busybox check', () => {
  it('accepts an ELF executable without a program interpreter', async () => {
    const path = join(work, 'static-elf');
    await writeFile(path, staticElfStandIn());
    await expect(checkStaticBusybox(path)).resolves.toBeUndefined();
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
    expect(elfInterpreter(staticElfStandIn())).toBeUndefined();
    expect(elfInterpreter(Buffer.from('nope'))).toBe(false);
  });
});

describe('buildInitramfs', () => {
  it('writes busybox, /init, the payload, modules in order, the files and the console, gzip-compressed', async () => {
    const modulesDir = join(work, 'mods', '9.9.9-test');
    await writeModules(modulesDir, { a: [], b: ['a'], c: ['b', 'a'] });
    const busybox = join(work, 'busybox-stand-in');
    await writeFile(busybox, staticElfStandIn());
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
      busybox,
    });
    const got = unpackNewc(gunzipSync(await readFile(out)));
    expect(got.get('init')).toMatchObject({ type: 'file', mode: 0o755 });
    expect(got.get('bin/busybox')).toEqual({ type: 'file', mode: 0o755, data: staticElfStandIn() });
    expect(got.get('bin/sh')).toEqual({ type: 'symlink', target: 'busybox' });
    expect(got.get('etc/vfun/secret')).toEqual({ type: 'file', mode: 0o600, data: Buffer.from('s3cret\n') });
    expect(got.get('opt/x/y')).toMatchObject({ type: 'file', mode: 0o755 });
    expect(got.get('tmp')).toEqual({ type: 'dir', mode: 0o1777 });
    expect(got.get('root')).toEqual({ type: 'dir', mode: 0o700 });
    expect((got.get('etc/vfun/payload.sh') as { data: Buffer }).data.toString()).toBe('echo hi; exit 7\n');
    expect([...got.keys()].filter((p) => p.startsWith('lib/modules/9.9.9-test/'))).toEqual(['a', 'b', 'c'].map((m) => `lib/modules/9.9.9-test/${m}.ko`));
    // The kernel's console exists before devtmpfs is mounted.
    expect(got.get('dev/console')).toEqual({ type: 'char', mode: 0o600, major: 5, minor: 1 });
    expect(got.get('dev/null')).toEqual({ type: 'char', mode: 0o666, major: 1, minor: 3 });
    const init = (got.get('init') as { data: Buffer }).data.toString();
    expect(init.startsWith('#!/bin/busybox sh\n')).toBe(true);
    // The boot marker is the first command; modules load dependencies first.
    expect(init.split('\n').find((l) => l !== '' && !l.startsWith('#'))).toBe(`echo ${BOOT_MARKER}`);
    const insmods = init.split('\n').filter((l) => l.startsWith('insmod '));
    expect(insmods).toEqual(['a', 'b', 'c'].map((m) => `insmod /lib/modules/9.9.9-test/${m}.ko || echo "${INSMOD_FAILED_MARKER} ${m}"`));
    expect(init).toContain('( . /etc/vfun/payload.sh )');
    expect(init).toMatch(new RegExp(`echo "${EXIT_MARKER} \\$status"\\nsync\\npoweroff -f\\n$`));
  });

  it('refuses a busybox that is not static, before writing anything', async () => {
    const out = join(work, 'dyn.gz');
    await expect(buildInitramfs({ out, kernel: { release: 'r', vmlinuz: '/x' }, modules: [], files: [], payload: '', busybox: process.execPath })).rejects.toThrow(
      /dynamically linked.*busybox-static/,
    );
    await expect(readFile(out)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses modules when the kernel has no modules directory, and replacing /init', async () => {
    const kernel = { release: 'r', vmlinuz: '/x' };
    const busybox = join(work, 'busybox-stand-in-2');
    await writeFile(busybox, staticElfStandIn());
    await expect(buildInitramfs({ out: join(work, 'no.gz'), kernel, modules: ['virtio'], files: [], payload: '', busybox })).rejects.toThrow(/modules/);
    await expect(
      buildInitramfs({ out: join(work, 'no.gz'), kernel, modules: [], files: [{ path: '/init', mode: 0o755, data: '' }], payload: '', busybox }),
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
