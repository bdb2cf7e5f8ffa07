/**
 * The guest's initramfs: a gzip'd cpio "newc" archive written here in
 * TypeScript (no cpio binary needed) holding a static busybox, the kernel
 * modules the guest needs (in load order), the caller's files, and an /init
 * shell script that prints a boot marker, mounts proc/sysfs/devtmpfs, loads
 * the modules, runs the payload in a subshell, prints its exit status, and
 * powers the VM off. The markers are how runVm (qemu.ts) follows the guest on
 * its serial console.
 */
import { open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { ValidationError, VirtFunError } from '../errors.js';
import type { GuestKernel } from './kernel.js';
import { readModuleFile, resolveModules } from './modules.js';
import { elfInterpreter } from './elf.js';

/** Printed by /init before anything else: the kernel has booted and userspace runs. */
export const BOOT_MARKER = 'VFUN-VM-BOOT';
/** `VFUN-VM-EXIT <status>`: the payload finished with that status; poweroff follows. */
export const EXIT_MARKER = 'VFUN-VM-EXIT';
/** `VFUN-VM-INSMOD-FAILED <module>`: insmod of that module failed (the payload still runs). */
export const INSMOD_FAILED_MARKER = 'VFUN-VM-INSMOD-FAILED';

export const DEFAULT_BUSYBOX = '/usr/bin/busybox';
/** Where busybox-static puts busybox without merged /usr. */
const OTHER_BUSYBOX = '/bin/busybox';

// ---------------------------------------------------------------------------
// cpio "newc"

export type CpioEntry =
  | { readonly type: 'dir'; readonly path: string; readonly mode?: number }
  | { readonly type: 'file'; readonly path: string; readonly mode?: number; readonly data: Buffer | string }
  | { readonly type: 'symlink'; readonly path: string; readonly target: string }
  | { readonly type: 'char' | 'block'; readonly path: string; readonly mode?: number; readonly major: number; readonly minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const TRAILER = 'TRAILER!!!';

/** Archive path: no leading `/` or `./`, no empty/`.`/`..` components, no NUL. */
export function cpioPath(path: string): string {
  const p = path.replace(/^(\.?\/)+/, '').replace(/\/+$/, '');
  const parts = p.split('/');
  if (p === '' || p.includes('\0') || parts.some((c) => c === '' || c === '.' || c === '..')) {
    throw new ValidationError('path', `'${path}' is not a usable archive path`);
  }
  return p;
}

/**
 * A newc archive of `entries`, in the given order (parents must come before
 * their children for the kernel's unpacker), ending with TRAILER!!!. Owner is
 * root, mtime is `mtime` (default 0, so equal inputs give equal bytes).
 */
export function cpioNewc(entries: readonly CpioEntry[], opts: { mtime?: number } = {}): Buffer {
  const mtime = opts.mtime ?? 0;
  const chunks: Buffer[] = [];
  let offset = 0;
  let ino = 1;
  const push = (b: Buffer) => {
    chunks.push(b);
    offset += b.length;
  };
  const pad = () => {
    const n = (4 - (offset % 4)) % 4;
    if (n > 0) push(Buffer.alloc(n));
  };
  const record = (name: string, mode: number, nlink: number, data: Buffer, rdev: [number, number] = [0, 0]) => {
    const nameBytes = Buffer.from(name + '\0', 'utf8');
    const fields = [ino++, mode, 0, 0, nlink, mtime, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0];
    const hex = fields.map((v) => {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new ValidationError('cpio', `${name}: field value ${v} does not fit in newc`);
      return v.toString(16).padStart(8, '0');
    });
    push(Buffer.from('070701' + hex.join(''), 'latin1'));
    push(nameBytes);
    pad();
    if (data.length > 0) {
      push(data);
      pad();
    }
  };
  const seen = new Set<string>();
  for (const e of entries) {
    const name = cpioPath(e.path);
    if (seen.has(name)) throw new ValidationError('path', `'${name}' appears twice in the archive`);
    seen.add(name);
    switch (e.type) {
      case 'dir':
        record(name, S_IFDIR | ((e.mode ?? 0o755) & 0o7777), 2, Buffer.alloc(0));
        break;
      case 'file':
        record(name, S_IFREG | ((e.mode ?? 0o644) & 0o7777), 1, typeof e.data === 'string' ? Buffer.from(e.data, 'utf8') : e.data);
        break;
      case 'symlink':
        if (e.target === '' || e.target.includes('\0')) throw new ValidationError('target', `symlink ${name} has an unusable target`);
        record(name, S_IFLNK | 0o777, 1, Buffer.from(e.target, 'utf8'));
        break;
      case 'char':
      case 'block':
        record(name, (e.type === 'char' ? S_IFCHR : S_IFBLK) | ((e.mode ?? 0o600) & 0o7777), 1, Buffer.alloc(0), [e.major, e.minor]);
        break;
    }
  }
  record(TRAILER, 0, 1, Buffer.alloc(0));
  return Buffer.concat(chunks);
}

/**
 * `entries` with every missing parent directory added (mode 0755) just before
 * its first child, so the archive unpacks in order.
 */
export function withParents(entries: readonly CpioEntry[]): CpioEntry[] {
  const explicit = new Map<string, CpioEntry>();
  for (const e of entries) if (e.type === 'dir') explicit.set(cpioPath(e.path), e);
  const made = new Set<string>();
  const out: CpioEntry[] = [];
  const ensure = (dir: string): void => {
    if (made.has(dir)) return;
    const slash = dir.lastIndexOf('/');
    if (slash > 0) ensure(dir.slice(0, slash));
    made.add(dir);
    // An explicit entry for this directory later in the list is moved up here.
    out.push(explicit.get(dir) ?? { type: 'dir', path: dir, mode: 0o755 });
  };
  for (const e of entries) {
    const name = cpioPath(e.path);
    if (e.type === 'dir') {
      ensure(name);
      continue;
    }
    const slash = name.lastIndexOf('/');
    if (slash > 0) ensure(name.slice(0, slash));
    out.push(e);
  }
  return out;
}

// ---------------------------------------------------------------------------
// busybox

async function defaultBusybox(): Promise<string> {
  for (const p of [DEFAULT_BUSYBOX, OTHER_BUSYBOX]) {
    if (await stat(p).then((s) => s.isFile(), () => false)) return p;
  }
  return DEFAULT_BUSYBOX; // checkStaticBusybox then says how to install it
}

/** Throws unless `path` is an ELF executable without a program interpreter (statically linked). */
export async function checkStaticBusybox(path: string): Promise<void> {
  const install = 'install it with `apt-get install busybox-static`';
  let head: Buffer;
  try {
    const fh = await open(path, 'r');
    try {
      head = Buffer.alloc(64 * 1024);
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new VirtFunError('VM', `busybox not found at ${path}: the guest initramfs needs a static busybox; ${install}`, { cause: err });
  }
  const interp = elfInterpreter(head);
  if (interp === false) throw new VirtFunError('VM', `${path} is not an ELF executable; the guest needs a static busybox: ${install}`);
  if (interp !== undefined) {
    throw new VirtFunError('VM', `${path} is dynamically linked (interpreter ${interp}) and the guest has no libc; the guest needs a static busybox: ${install}`);
  }
}


// ---------------------------------------------------------------------------
// the initramfs

export interface InitramfsFile {
  /** Absolute path in the guest. */
  readonly path: string;
  /** Permission bits, e.g. 0o755. */
  readonly mode: number;
  readonly data: Buffer | string;
}

export interface InitramfsOptions {
  /** Where to write the gzip'd archive. */
  readonly out: string;
  readonly kernel: GuestKernel;
  /** Module names to load (dependencies are added and ordered). */
  readonly modules: readonly string[];
  readonly files: readonly InitramfsFile[];
  /** Shell commands /init runs (busybox sh, in a subshell) after setup; their status is the VM's exit status. */
  readonly payload: string;
  /** A statically linked busybox (default /usr/bin/busybox, else /bin/busybox). */
  readonly busybox?: string;
}

const MODULE_DIR = (release: string) => `/lib/modules/${release}`;

/**
 * The /init script. Besides running the payload it defines `vfun_port NAME
 * [SECONDS]` for the payload: it waits (default 10 s) until a virtio-serial
 * port with that name appears and prints its /dev path.
 */
export function initScript(modules: readonly { name: string; file: string }[]): string {
  const insmod = modules.map((m) => `insmod ${m.file} || echo "${INSMOD_FAILED_MARKER} ${m.name}"`).join('\n');
  return `#!/bin/busybox sh
# VirtFun guest init (generated by src/vm/initramfs.ts).
echo ${BOOT_MARKER}
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
${insmod}
vfun_port() {
  _n=0
  while [ "$_n" -lt "$(( \${2:-10} * 10 ))" ]; do
    for _f in /sys/class/virtio-ports/*/name; do
      if [ -r "$_f" ] && [ "$(cat "$_f")" = "$1" ]; then
        _d=\${_f%/name}
        echo "/dev/\${_d##*/}"
        return 0
      fi
    done
    _n=$((_n + 1))
    sleep 0.1
  done
  echo "vfun_port: no virtio-serial port named $1" >&2
  return 1
}
( . /etc/vfun/payload.sh )
status=$?
echo "${EXIT_MARKER} $status"
sync
poweroff -f
`;
}

/** Write the initramfs for `opts` to `opts.out` (gzip'd newc cpio). */
export async function buildInitramfs(opts: InitramfsOptions): Promise<void> {
  const busyboxPath = opts.busybox ?? (await defaultBusybox());
  await checkStaticBusybox(busyboxPath);
  const busybox = await readFile(busyboxPath);

  const release = opts.kernel.release;
  let modules: { name: string; file: string; data: Buffer }[] = [];
  if (opts.modules.length > 0) {
    if (opts.kernel.modulesDir === undefined) {
      throw new ValidationError('modules', `kernel ${release} has no modules directory but modules ${opts.modules.join(', ')} were requested`);
    }
    const resolved = await resolveModules(opts.kernel.modulesDir, opts.modules);
    modules = await Promise.all(
      resolved.map(async (m) => ({ name: m.name, file: `${MODULE_DIR(release)}/${m.name}.ko`, data: await readModuleFile(m.path) })),
    );
  }

  const entries: CpioEntry[] = [
    ...['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'etc', 'etc/vfun', 'proc', 'sys', 'dev', 'tmp', 'root', 'run', 'mnt'].map(
      (path): CpioEntry => ({ type: 'dir', path, mode: path === 'tmp' ? 0o1777 : path === 'root' ? 0o700 : 0o755 }),
    ),
    { type: 'char', path: 'dev/console', mode: 0o600, major: 5, minor: 1 },
    { type: 'char', path: 'dev/null', mode: 0o666, major: 1, minor: 3 },
    { type: 'file', path: 'bin/busybox', mode: 0o755, data: busybox },
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    { type: 'file', path: 'init', mode: 0o755, data: initScript(modules) },
    { type: 'file', path: 'etc/vfun/payload.sh', mode: 0o644, data: opts.payload.endsWith('\n') ? opts.payload : opts.payload + '\n' },
    ...modules.map((m): CpioEntry => ({ type: 'file', path: m.file, mode: 0o644, data: m.data })),
  ];
  const reserved = new Set(entries.map((e) => cpioPath(e.path)));
  for (const f of opts.files) {
    const p = cpioPath(f.path);
    if (reserved.has(p)) throw new ValidationError('files', `${f.path} is part of the generated initramfs and cannot be replaced`);
    if (!Number.isInteger(f.mode) || f.mode < 0 || f.mode > 0o7777) throw new ValidationError('files', `${f.path}: mode ${f.mode} is not permission bits (0..0o7777)`);
    entries.push({ type: 'file', path: p, mode: f.mode, data: f.data });
  }

  const archive = gzipSync(cpioNewc(withParents(entries)), { level: 6 });
  const tmp = `${opts.out}.${process.pid}.tmp`;
  await writeFile(tmp, archive);
  await rename(tmp, opts.out);
}
