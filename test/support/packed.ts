/**
 * The package as a user gets it: the tarball `npm pack` makes of this checkout, installed into a
 * fresh project of its own with `npm install --ignore-scripts` (no install script runs, so nothing
 * is compiled there).
 *
 * Packing runs the package's `prepack` script (the prebuilt native addon, built in a scratch copy)
 * and then `npm pack --ignore-scripts` on the built dist/ (run `npm run build` first: the e2e tier
 * needs it anyway; `prepare` would rebuild dist/ under the other tests' feet). The tarball is made
 * once for a given state of the checkout and kept in $TMPDIR/virtfun-packed-<checkout>/, keyed by
 * package.json and the newest file that ships, so every spec file of a run (and the next run, if
 * nothing changed) installs the same one; concurrent callers wait on a lock directory.
 * Installs reuse npm's cache (--prefer-offline).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This checkout (the package's root). */
export const PACKAGE_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** The tarball of this checkout. */
export interface PackedTarball {
  /** Absolute path of the .tgz. */
  readonly tarball: string;
  /** The paths inside the package (without the tarball's leading `package/`), sorted. */
  readonly files: readonly string[];
}

/** A fresh project with the tarball installed. */
export interface PackedProject extends PackedTarball {
  /** The project's directory (package.json, node_modules/). */
  readonly projectDir: string;
  /** node_modules/virtfun inside it. */
  readonly packageDir: string;
  /** Removes the project's directory (the tarball stays for the next caller). */
  cleanup(): void;
}

export interface InstallOptions {
  /** More dependencies of the project (name → version or path), installed with the tarball. */
  readonly dependencies?: Readonly<Record<string, string>>;
  /** Further fields of the project's package.json (scripts, devDependencies, ...). */
  readonly packageJson?: Readonly<Record<string, unknown>>;
  /** Leave out optional dependencies (the 130 MB `webgpu`); default true. */
  readonly omitOptional?: boolean;
  /** Where to make the project (default: a new directory under the OS temp dir). */
  readonly parentDir?: string;
}

/** What ships (package.json "files", roughly): the newest mtime there says whether a tarball is stale. */
const SHIPPED = ['dist/src', 'dist/simulator', 'dist/examples', 'docs', 'schemas', 'native', 'scripts', 'simulator/profiles', 'clients/c', 'binding.gyp', 'README.md', 'CHANGELOG.md', 'LICENSE', 'package.json'];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const e of readdirSync(path, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) newest = Math.max(newest, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return newest;
}

/** A key of the checkout's shipped state: package.json's text and the newest mtime of what ships. */
function stateKey(): string {
  const h = createHash('sha256');
  h.update(readFileSync(join(PACKAGE_ROOT, 'package.json')));
  for (const p of SHIPPED) h.update(`${p}:${newestMtime(join(PACKAGE_ROOT, p))};`);
  return h.digest('hex').slice(0, 16);
}

function cacheDir(): string {
  const id = createHash('sha256').update(PACKAGE_ROOT).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), `virtfun-packed-${id}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function listTarball(tarball: string): string[] {
  return execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l !== '' && !l.endsWith('/'))
    .map((l) => l.replace(/^package\//, ''))
    .sort();
}

function run(cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${r.signal ?? `exit ${r.status}`}\n${r.stderr.slice(-4000)}`);
  return r.stdout;
}

/**
 * npm's own script (npm-cli.js), run with the Node running this process: the npm that started the
 * tests ($npm_execpath), else the one installed beside this Node (<prefix>/lib/node_modules/npm).
 */
function npmCli(): string {
  const candidates = [process.env.npm_execpath, resolve(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js')];
  const found = candidates.find((c): c is string => c !== undefined && /npm-cli\.js$/.test(c) && existsSync(c));
  if (found === undefined) throw new Error(`cannot find npm-cli.js (looked at ${candidates.filter(Boolean).join(', ')})`);
  return found;
}

/** Runs npm (npm-cli.js under the Node running this process) with `args` in `cwd`; its stdout. Throws on failure, with npm's stderr. */
export function npm(args: readonly string[], cwd: string, env?: NodeJS.ProcessEnv): string {
  return run(process.execPath, [npmCli(), ...args], cwd, env);
}

const sleep = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Takes the lock directory `lock` (waiting up to `timeoutMs`; a lock older than that is taken over), runs `fn`, releases it. */
function withLock<T>(lock: string, timeoutMs: number, fn: () => T): T {
  const start = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const held = statSync(lock, { throwIfNoEntry: false });
      if (held === undefined) continue; // released meanwhile
      if (Date.now() - held.mtimeMs > timeoutMs) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() - start > timeoutMs) throw new Error(`waited ${timeoutMs} ms for ${lock}`);
      else sleep(200);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

let packed: PackedTarball | undefined;

/**
 * The tarball of this checkout as it is now (dist/ must be built): made with the package's
 * `prepack` script and `npm pack --ignore-scripts`, or reused when nothing that ships changed.
 */
export function packOnce(): PackedTarball {
  if (packed !== undefined && existsSync(packed.tarball)) return packed;
  if (!existsSync(join(PACKAGE_ROOT, 'dist', 'src', 'index.js'))) throw new Error('dist/ is not built: run `npm run build` first');
  const dir = cacheDir();
  packed = withLock(join(dir, 'lock'), 300_000, () => {
    const key = stateKey();
    const tarball = join(dir, `virtfun-${key}.tgz`);
    if (!existsSync(tarball)) {
      npm(['run', 'prepack', '--silent'], PACKAGE_ROOT);
      const out = mkdtempSync(join(dir, 'pack-'));
      const json = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', out], PACKAGE_ROOT)) as { filename: string }[];
      renameSync(join(out, json[0]!.filename), tarball);
      rmSync(out, { recursive: true, force: true });
      for (const f of readdirSync(dir)) if (f.endsWith('.tgz') && join(dir, f) !== tarball) rmSync(join(dir, f), { force: true });
    }
    return { tarball, files: listTarball(tarball) };
  });
  return packed;
}

/**
 * A fresh project (package.json of type module) with the tarball installed by
 * `npm install --ignore-scripts --prefer-offline --no-audit --no-fund`.
 */
export function installPacked(opts: InstallOptions = {}): PackedProject {
  const { tarball, files } = packOnce();
  const projectDir = mkdtempSync(join(opts.parentDir ?? tmpdir(), 'virtfun-consumer-'));
  const pkg = {
    name: 'virtfun-consumer',
    version: '1.0.0',
    private: true,
    type: 'module',
    ...opts.packageJson,
    dependencies: { virtfun: `file:${tarball}`, ...opts.dependencies },
  };
  writeFileSync(join(projectDir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  const args = ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', ...(opts.omitOptional === false ? [] : ['--omit=optional'])];
  // The checkout's own npm settings (a nodedir, a registry) apply; its VIRTFUN_* variables do not.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VIRTFUN_')));
  try {
    npm(args, projectDir, env);
  } catch (e) {
    rmSync(projectDir, { recursive: true, force: true });
    throw e;
  }
  return {
    tarball,
    files,
    projectDir,
    packageDir: join(projectDir, 'node_modules', 'virtfun'),
    cleanup: () => rmSync(projectDir, { recursive: true, force: true }),
  };
}
