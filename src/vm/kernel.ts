/**
 * The guest kernel: a Debian kernel image package fetched with
 * `apt-get download` (Debian's own archive, nothing else) and unpacked with
 * `dpkg -x` into a cache directory, or a kernel the user passes explicitly.
 *
 * The default package, linux-image-cloud-amd64, is a metapackage: its
 * Depends names the versioned image package (linux-image-<rel>), which holds
 * boot/vmlinuz-<rel> and lib/modules/<rel>/kernel/**.ko. The cache keeps one
 * unpacked tree per image package version plus a small `<package>.json` that
 * points at it, so later runs (and other processes) reuse it without apt.
 * Unpacking goes into a private temp directory that is renamed into place,
 * so two processes racing on an empty cache both end with a whole tree.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ValidationError, VirtFunError } from '../errors.js';
import { aptDownload as aptDownloadInto, isDir, isFile, requireTool as requireToolOnPath, runTool, type FetchContext } from '../util/debian-package.js';

export interface GuestKernel {
  /** Kernel release, e.g. `6.1.0-56-cloud-amd64` (what `uname -r` prints in the guest). */
  readonly release: string;
  /** The bzImage to pass to QEMU's -kernel. */
  readonly vmlinuz: string;
  /** `…/lib/modules/<release>` (holds `kernel/**.ko`); absent for a kernel passed without modules. */
  readonly modulesDir?: string;
}

export interface DebianKernelOptions {
  /** Where downloads are unpacked and reused. */
  readonly cacheDir: string;
  /** Debian package to fetch (default `linux-image-cloud-amd64`); a metapackage is followed to its image. */
  readonly package?: string;
  /** Progress lines (downloading, unpacking, reused). */
  readonly log?: (line: string) => void;
}

export const DEFAULT_KERNEL_PACKAGE = 'linux-image-cloud-amd64';

const HINT = 'or pass --kernel <vmlinuz> (and its modules directory)';
const FETCH: FetchContext = { code: 'VM', hint: HINT };

interface Manifest {
  readonly package: string;
  readonly imagePackage: string;
  readonly version: string;
  readonly release: string;
  /** Relative to the cache directory. */
  readonly root: string;
  readonly vmlinuz: string;
  readonly modulesDir: string;
}

/**
 * A Debian kernel from the cache, downloading and unpacking it the first
 * time. The cache is not refreshed: once a package resolved to an image, that
 * image is used until the cache directory is removed.
 */
export async function debianKernel(opts: DebianKernelOptions): Promise<GuestKernel> {
  const pkg = opts.package ?? DEFAULT_KERNEL_PACKAGE;
  if (!/^[a-z0-9][a-z0-9+.-]+$/.test(pkg)) throw new ValidationError('package', `'${pkg}' is not a Debian package name`);
  const log = opts.log ?? (() => {});
  const cacheDir = resolve(opts.cacheDir);
  await mkdir(cacheDir, { recursive: true }).catch((err: unknown) => {
    throw new VirtFunError('VM', `cannot create the kernel cache ${cacheDir}: ${(err as Error).message}`, { cause: err });
  });
  const manifestPath = join(cacheDir, `${pkg}.json`);

  const cached = await readManifest(cacheDir, manifestPath);
  if (cached) {
    log(`kernel ${cached.release} from ${cached.root} (cached)`);
    return cached.kernel;
  }

  await requireTool('apt-get', 'fetching a Debian kernel needs apt-get (a Debian or Ubuntu host)');
  await requireTool('dpkg', 'unpacking a Debian kernel needs dpkg (install it with `apt-get install dpkg`)');
  await requireTool('dpkg-deb', 'unpacking a Debian kernel needs dpkg-deb (install it with `apt-get install dpkg`)');

  const work = await mkdtemp(join(cacheDir, '.work-')).catch((err: unknown) => {
    throw new VirtFunError('VM', `cannot write to the kernel cache ${cacheDir}: ${(err as Error).message}`, { cause: err });
  });
  try {
    const started = Date.now();
    let deb = await aptDownload(pkg, work, log);
    if (!(await debHasKernel(deb))) {
      const depends = await run('dpkg-deb', ['-f', deb, 'Depends']);
      const image = pickImage(depends.stdout);
      if (image === undefined) {
        throw new VirtFunError('VM', `${pkg} holds no boot/vmlinuz-* and depends on no linux-image-* package (Depends: ${depends.stdout.trim() || 'none'}); ${HINT}`);
      }
      log(`${pkg} is a metapackage for ${image}`);
      deb = await aptDownload(image, work, log);
      if (!(await debHasKernel(deb))) throw new VirtFunError('VM', `${image} holds no boot/vmlinuz-*; ${HINT}`);
    }
    const fields = await run('dpkg-deb', ['-f', deb, 'Package', 'Version']);
    const imagePackage = /^Package:\s*(\S+)/m.exec(fields.stdout)?.[1] ?? basename(deb).split('_')[0] ?? pkg;
    const version = /^Version:\s*(\S+)/m.exec(fields.stdout)?.[1] ?? 'unknown';
    log(`downloaded ${imagePackage} ${version} in ${Date.now() - started} ms`);

    const unpackStarted = Date.now();
    const tree = join(work, 'root');
    await run('dpkg', ['-x', deb, tree]).catch((err: unknown) => {
      throw new VirtFunError('VM', `dpkg -x ${basename(deb)} failed: ${(err as Error).message}`, { cause: err });
    });
    const found = await findKernel(tree);
    log(`unpacked ${found.release} in ${Date.now() - unpackStarted} ms`);

    const rootName = `${imagePackage}_${version.replace(/[^A-Za-z0-9.+~-]/g, '_')}`;
    const finalRoot = join(cacheDir, rootName);
    try {
      await rename(tree, finalRoot);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Another process put the same tree in place first: use theirs.
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
    const manifest: Manifest = {
      package: pkg,
      imagePackage,
      version,
      release: found.release,
      root: rootName,
      vmlinuz: found.vmlinuz,
      modulesDir: found.modulesDir,
    };
    const tmp = `${manifestPath}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(tmp, JSON.stringify(manifest, null, 2) + '\n');
    await rename(tmp, manifestPath);
    const done = await readManifest(cacheDir, manifestPath);
    if (!done) throw new VirtFunError('VM', `kernel cache ${finalRoot} is incomplete after unpacking; remove it and retry`);
    return done.kernel;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The kernel debianKernel would return from the cache alone, or undefined (never downloads). */
export async function cachedDebianKernel(opts: { cacheDir: string; package?: string }): Promise<GuestKernel | undefined> {
  const cacheDir = resolve(opts.cacheDir);
  return (await readManifest(cacheDir, join(cacheDir, `${opts.package ?? DEFAULT_KERNEL_PACKAGE}.json`)))?.kernel;
}

/**
 * A kernel the user supplies (e.g. --kernel). The release is read from the
 * bzImage header; without `modulesDir`, `/lib/modules/<release>` is used when
 * it exists (the host's own kernel), otherwise the kernel has no modules.
 */
export async function kernelFromPath(vmlinuz: string, modulesDir?: string): Promise<GuestKernel> {
  const path = resolve(vmlinuz);
  let head: Buffer;
  try {
    const fh = await open(path, 'r');
    try {
      head = Buffer.alloc(0x10200); // the version string pointer is 16 bits past 0x200
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new ValidationError('kernel', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const headerRelease = bzImageRelease(head);
  const bzImage = head.length >= 0x206 && head.toString('latin1', 0x202, 0x206) === 'HdrS';
  if (!bzImage && (head.length < 4 || head.readUInt32BE(0) !== 0x7f454c46)) {
    throw new ValidationError('kernel', `${path} is not an x86 kernel image (no bzImage header, not ELF)`);
  }
  const release = headerRelease ?? (/^vmlinu[xz]-(.+)$/.exec(basename(path))?.[1] ?? basename(path));
  if (modulesDir !== undefined) {
    const dir = resolve(modulesDir);
    if (!(await isDir(join(dir, 'kernel')))) throw new ValidationError('modules', `${dir} has no kernel/ directory of modules`);
    return { release, vmlinuz: path, modulesDir: dir };
  }
  const guess = join('/lib/modules', release);
  if (await isDir(join(guess, 'kernel'))) return { release, vmlinuz: path, modulesDir: guess };
  return { release, vmlinuz: path };
}

/** The release (first word of the version string) in an x86 bzImage setup header, if it has one. */
export function bzImageRelease(head: Buffer): string | undefined {
  if (head.length < 0x210 || head.toString('latin1', 0x202, 0x206) !== 'HdrS') return undefined;
  const ptr = head.readUInt16LE(0x20e);
  if (ptr === 0) return undefined;
  const at = ptr + 0x200;
  const end = head.indexOf(0, at);
  if (at >= head.length || end < 0) return undefined;
  const version = head.toString('latin1', at, end).trim();
  return version.split(/\s+/)[0] || undefined;
}

/** First `linux-image-*` package named in a Depends field (alternatives and versions dropped). */
export function pickImage(depends: string): string | undefined {
  for (const clause of depends.split(',')) {
    for (const alt of clause.split('|')) {
      const name = alt.trim().split(/[\s(:]/)[0] ?? '';
      if (name.startsWith('linux-image-')) return name;
    }
  }
  return undefined;
}

async function readManifest(cacheDir: string, path: string): Promise<{ release: string; root: string; kernel: GuestKernel } | undefined> {
  let m: Manifest;
  try {
    m = JSON.parse(await readFile(path, 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
  if (typeof m.root !== 'string' || typeof m.vmlinuz !== 'string' || typeof m.modulesDir !== 'string') return undefined;
  const root = join(cacheDir, m.root);
  const kernel: GuestKernel = { release: m.release, vmlinuz: join(root, m.vmlinuz), modulesDir: join(root, m.modulesDir) };
  if (!(await isFile(kernel.vmlinuz)) || !(await isDir(join(kernel.modulesDir!, 'kernel')))) return undefined;
  return { release: m.release, root, kernel };
}

async function findKernel(tree: string): Promise<{ release: string; vmlinuz: string; modulesDir: string }> {
  const boot = await readdir(join(tree, 'boot')).catch(() => [] as string[]);
  const image = boot.find((f) => f.startsWith('vmlinuz-'));
  if (image === undefined) throw new VirtFunError('VM', `the unpacked package has no boot/vmlinuz-*; ${HINT}`);
  const release = image.slice('vmlinuz-'.length);
  for (const rel of [join('lib/modules', release), join('usr/lib/modules', release)]) {
    if (await isDir(join(tree, rel, 'kernel'))) return { release, vmlinuz: join('boot', image), modulesDir: rel };
  }
  throw new VirtFunError('VM', `the unpacked package has boot/${image} but no lib/modules/${release}/kernel; ${HINT}`);
}

async function debHasKernel(deb: string): Promise<boolean> {
  const list = await run('dpkg-deb', ['-c', deb]);
  return /\s\.?\/?boot\/vmlinuz-/m.test(list.stdout);
}

function aptDownload(pkg: string, dir: string, log: (line: string) => void): Promise<string> {
  return aptDownloadInto(pkg, dir, log, FETCH);
}

function requireTool(cmd: string, why: string): Promise<void> {
  return requireToolOnPath(cmd, why, FETCH);
}

function run(cmd: string, args: readonly string[], opts: { cwd?: string } = {}) {
  return runTool(cmd, args, { ...opts, code: 'VM' });
}
