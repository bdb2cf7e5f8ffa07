/**
 * Debian packages fetched, never installed: `apt-get download` (Debian's own
 * archive, nothing else) into a private temp directory, `dpkg -x` into a
 * cache, renamed into place so that two processes racing on an empty cache
 * both end with a whole tree; a small `<package>.json` beside it points at
 * the tree, so later runs (and other processes) reuse it without apt. The
 * guest kernel (src/vm/kernel.ts) and the tests' Prometheus are fetched so.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ValidationError, VirtFunError, type VirtFunErrorCode } from '../errors.js';

/** How a fetcher's failures read: their code, and what the user may do instead (appended to each message). */
export interface FetchContext {
  readonly code: VirtFunErrorCode;
  readonly hint: string;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a program (LC_ALL=C); its stderr (without apt's `_apt` sandbox warning) becomes the error's message. */
export function runTool(cmd: string, args: readonly string[], opts: { cwd?: string; code?: VirtFunErrorCode } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(cmd, args, { cwd: opts.cwd, maxBuffer: 64 << 20, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (err) {
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
        const text = missing ? `${cmd} is not installed` : stderr.split('\n').filter((l) => l.trim() !== '' && !l.includes("user '_apt'")).join(' ').trim() || err.message;
        reject(new VirtFunError(opts.code ?? 'VM', text, { cause: err }));
      } else resolvePromise({ stdout, stderr });
    });
  });
}

/** Fails, saying why the program is needed, when `cmd` is on no directory of PATH. */
export async function requireTool(cmd: string, why: string, ctx: FetchContext): Promise<void> {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    if (dir !== '' && (await isFile(join(dir, cmd)))) return;
  }
  throw new VirtFunError(ctx.code, `${cmd} not found: ${why}; ${ctx.hint}`);
}

/** `apt-get download <pkg>` into `dir` (its cwd); the path of the .deb it wrote. */
export async function aptDownload(pkg: string, dir: string, log: (line: string) => void, ctx: FetchContext): Promise<string> {
  const before = new Set(await readdir(dir));
  log(`apt-get download ${pkg}`);
  try {
    // As root apt warns that the _apt user cannot write here; the download still works.
    await runTool('apt-get', ['download', '-q', pkg], { cwd: dir, code: ctx.code });
  } catch (err) {
    const detail = (err as Error).message;
    const unknown = /Unable to locate package|has no installation candidate|Can't select/.test(detail);
    throw new VirtFunError(
      'CONFIG',
      `apt-get download ${pkg} failed${unknown ? ' (unknown package: run `apt-get update` first?)' : ''}: ${detail}; ${ctx.hint}`,
      { cause: err },
    );
  }
  const debs = (await readdir(dir)).filter((f) => f.endsWith('.deb') && !before.has(f));
  const deb = debs.find((f) => f.startsWith(`${pkg}_`)) ?? debs[0];
  if (deb === undefined) throw new VirtFunError(ctx.code, `apt-get download ${pkg} wrote no .deb into ${dir}; ${ctx.hint}`);
  return join(dir, deb);
}

/** A package unpacked in the cache. */
export interface FetchedPackage {
  readonly package: string;
  readonly version: string;
  /** The unpacked tree (`<root>/usr/bin/…`). */
  readonly root: string;
}

/**
 * A Debian package's files from the cache, downloading and unpacking it the
 * first time (the cache is not refreshed). `required` are paths relative to
 * the tree that must exist (a cache missing one is fetched again).
 */
export async function fetchDebianPackage(opts: {
  readonly cacheDir: string;
  readonly package: string;
  readonly required: readonly string[];
  readonly context: FetchContext;
  readonly log?: (line: string) => void;
}): Promise<FetchedPackage> {
  const pkg = opts.package;
  if (!/^[a-z0-9][a-z0-9+.-]+$/.test(pkg)) throw new ValidationError('package', `'${pkg}' is not a Debian package name`);
  const log = opts.log ?? (() => {});
  const ctx = opts.context;
  const cacheDir = resolve(opts.cacheDir);
  await mkdir(cacheDir, { recursive: true });
  const manifestPath = join(cacheDir, `${pkg}.json`);
  const cached = await readPackageManifest(cacheDir, manifestPath, opts.required);
  if (cached) {
    log(`${pkg} ${cached.version} from ${cached.root} (cached)`);
    return cached;
  }
  await requireTool('apt-get', `fetching ${pkg} needs apt-get (a Debian or Ubuntu host)`, ctx);
  await requireTool('dpkg', `unpacking ${pkg} needs dpkg`, ctx);
  const work = await mkdtemp(join(cacheDir, '.work-'));
  try {
    const started = Date.now();
    const deb = await aptDownload(pkg, work, log, ctx);
    const fields = await runTool('dpkg-deb', ['-f', deb, 'Version'], { code: ctx.code });
    const version = /^Version:\s*(\S+)/m.exec(fields.stdout)?.[1] ?? fields.stdout.trim() ?? 'unknown';
    const tree = join(work, 'root');
    await runTool('dpkg', ['-x', deb, tree], { code: ctx.code });
    log(`downloaded and unpacked ${pkg} ${version} in ${Date.now() - started} ms`);
    for (const r of opts.required) {
      if (!(await isFile(join(tree, r)))) throw new VirtFunError(ctx.code, `${basename(deb)} has no ${r}; ${ctx.hint}`);
    }
    const rootName = `${pkg}_${version.replace(/[^A-Za-z0-9.+~-]/g, '_')}`;
    try {
      await rename(tree, join(cacheDir, rootName));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Another process put the same tree in place first: use theirs.
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
    const tmp = `${manifestPath}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(tmp, JSON.stringify({ package: pkg, version, root: rootName }, null, 2) + '\n');
    await rename(tmp, manifestPath);
    const done = await readPackageManifest(cacheDir, manifestPath, opts.required);
    if (!done) throw new VirtFunError(ctx.code, `the cache of ${pkg} in ${cacheDir} is incomplete after unpacking; remove it and retry`);
    return done;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function readPackageManifest(cacheDir: string, path: string, required: readonly string[]): Promise<FetchedPackage | undefined> {
  let m: { package?: unknown; version?: unknown; root?: unknown };
  try {
    m = JSON.parse(await readFile(path, 'utf8')) as typeof m;
  } catch {
    return undefined;
  }
  if (typeof m.package !== 'string' || typeof m.version !== 'string' || typeof m.root !== 'string') return undefined;
  const root = join(cacheDir, m.root);
  for (const r of required) if (!(await isFile(join(root, r)))) return undefined;
  return { package: m.package, version: m.version, root };
}

/** Whether `p` is a regular file. */
export async function isFile(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isFile(), () => false);
}

/** Whether `p` is a directory. */
export async function isDir(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isDirectory(), () => false);
}
