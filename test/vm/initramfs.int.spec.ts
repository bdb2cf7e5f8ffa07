/**
 * The initramfs against another implementation of the format: the static
 * busybox the VM tests need anyway (busybox-static, installed by `npm test`'s
 * pretest). busybox unpacks what cpioNewc writes; the tests' newc reader reads
 * what busybox writes; busybox sh runs the generated /init. The unit tests
 * (initramfs.unit.spec.ts) need none of this; the kernel's own unpacker is
 * exercised by boot.int.spec.ts.
 */
import { spawnSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BOOT_MARKER,
  buildInitramfs,
  checkStaticBusybox,
  cpioNewc,
  DEFAULT_BUSYBOX,
  EXIT_MARKER,
  INSMOD_FAILED_MARKER,
  initScript,
  type CpioEntry,
} from '../../src/vm/index.js';
import { readNewc } from '../support/newc.js';

const BUSYBOX = DEFAULT_BUSYBOX;

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vfun-cpio-bb-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function busybox(args: readonly string[], opts: { cwd?: string; input?: string | Buffer } = {}): { stdout: Buffer; stderr: string } {
  const r = spawnSync(BUSYBOX, args, { cwd: opts.cwd, input: opts.input });
  if (r.error) throw new Error(`${BUSYBOX} ${args.join(' ')}: ${r.error.message} (npm test installs busybox-static)`);
  if (r.status !== 0) throw new Error(`${BUSYBOX} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  return { stdout: r.stdout, stderr: r.stderr.toString() };
}

let n = 0;
/** Extract with `busybox cpio -i -d -m` (modes kept), return the directory. */
async function unpack(archive: Buffer): Promise<string> {
  const dir = join(work, `x${n++}`);
  await mkdir(dir);
  await writeFile(`${dir}.cpio`, archive);
  const r = spawnSync(BUSYBOX, ['cpio', '-i', '-d', '-m', '-F', `${dir}.cpio`], { cwd: dir, encoding: 'utf8' });
  if (r.error) throw new Error(`${BUSYBOX}: ${r.error.message} (npm test installs busybox-static)`);
  // Not root: device nodes cannot be made; everything else must extract.
  const errors = r.stderr.split('\n').filter((l) => l.includes('cpio:') && !/mknod|create node|Operation not permitted/.test(l));
  if (r.status !== 0 && (errors.length > 0 || process.getuid?.() === 0)) throw new Error(`busybox cpio -i exited ${r.status}: ${r.stderr}`);
  return dir;
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

describe('cpioNewc, unpacked by busybox cpio', () => {
  it('round-trips dirs, files (modes, binary and empty data), symlinks and UTF-8 names', async () => {
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
    expect(await snapshot(await unpack(cpioNewc(entries)))).toEqual(expected(entries));
  });

  const name = fc.stringMatching(/^[a-z0-9_][a-z0-9_.-]{0,7}$/);
  const leaf = fc.oneof(
    fc.record({ type: fc.constant('file' as const), mode: fc.integer({ min: 0, max: 0o777 }), data: fc.uint8Array({ maxLength: 600 }) }),
    fc.record({ type: fc.constant('symlink' as const), target: fc.stringMatching(/^[a-z0-9/._-]{1,24}$/) }),
  );
  const entries = fc.uniqueArray(fc.tuple(name, leaf), { maxLength: 8, selector: ([k]) => k }).map((pairs): CpioEntry[] =>
    pairs.map(([k, v]) => (v.type === 'file' ? { type: 'file', path: `d/${k}`, mode: v.mode, data: Buffer.from(v.data) } : { type: 'symlink', path: `d/${k}`, target: v.target })),
  );
  test.prop([entries], { numRuns: 10 })('any directory of files and symlinks comes back from busybox cpio -i as written', async (es) => {
    const all: CpioEntry[] = [{ type: 'dir', path: 'd', mode: 0o755 }, ...es];
    expect(await snapshot(await unpack(cpioNewc(all)))).toEqual(expected(all));
  });
});

describe('the newc reader of the tests, on what busybox cpio -o writes', () => {
  it('reads names, types, modes, sizes and symlink targets', async () => {
    const src = join(work, 'src');
    await mkdir(join(src, 'sub'), { recursive: true, mode: 0o750 });
    await writeFile(join(src, 'sub', 'f'), 'hello\n', { mode: 0o640 });
    await writeFile(join(src, 'odd'), Buffer.from([1, 2, 3]), { mode: 0o600 });
    await symlink('sub/f', join(src, 'l'));
    const { stdout } = busybox(['cpio', '-o', '-H', 'newc'], { cwd: src, input: ['sub', 'sub/f', 'odd', 'l'].join('\n') + '\n' });
    const byName = new Map(readNewc(stdout).map((r) => [r.name, r]));
    expect([...byName.keys()]).toEqual(['sub', 'sub/f', 'odd', 'l']);
    expect(byName.get('sub')).toMatchObject({ type: 'dir', perm: (await lstat(join(src, 'sub'))).mode & 0o7777 });
    expect(byName.get('sub/f')).toMatchObject({ type: 'file', perm: 0o640, data: Buffer.from('hello\n') });
    expect(byName.get('odd')).toMatchObject({ type: 'file', perm: 0o600, data: Buffer.from([1, 2, 3]) });
    expect(byName.get('l')).toMatchObject({ type: 'symlink', data: Buffer.from('sub/f') });
  });
});

describe('busybox', () => {
  it('the installed busybox is static', async () => {
    await expect(checkStaticBusybox(BUSYBOX)).resolves.toBeUndefined();
  });

  it('buildInitramfs with the installed busybox unpacks with busybox cpio', async () => {
    const out = join(work, 'initrd.gz');
    await buildInitramfs({ out, kernel: { release: 'r', vmlinuz: '/x' }, modules: [], files: [{ path: '/etc/vfun/secret', mode: 0o600, data: 's\n' }], payload: 'true' });
    const got = await snapshot(await unpack(gunzipSync(await readFile(out))));
    const bb = got.get('bin/busybox');
    expect(bb).toMatchObject({ type: 'file', mode: 0o755 });
    expect((bb as { data: Buffer }).data.equals(await readFile(BUSYBOX))).toBe(true); // toEqual on 2 MB walks every byte
    expect(got.get('etc/vfun/secret')).toEqual({ type: 'file', mode: 0o600, data: Buffer.from('s\n') });
  });

  it('runs the generated /init under busybox sh: markers, failed insmod reported, payload status', () => {
    // Execute the generated script's logic on the host with stand-ins for the privileged commands.
    const script = initScript([{ name: 'm1', file: '/lib/modules/x/m1.ko' }])
      .replace('/bin/busybox --install -s /bin\n', '')
      .replace(/^mount .*$/gm, ':')
      .replace('insmod ', 'false ')
      .replace('( . /etc/vfun/payload.sh )', '( exit 5 )')
      .replace('sync\npoweroff -f\n', '');
    const { stdout } = busybox(['sh', '-c', script]);
    expect(stdout.toString().split('\n').filter((l) => l !== '')).toEqual([BOOT_MARKER, `${INSMOD_FAILED_MARKER} m1`, `${EXIT_MARKER} 5`]);
  });
});
