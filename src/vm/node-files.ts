/**
 * What a VM guest needs to run this project's Node guest library
 * (`vfun vm run --with-node`): the host's own node binary at its own path
 * with the shared libraries and dynamic loader `ldd` lists (at the same
 * absolute paths), and the package under /opt/virtfun: package.json, the
 * native addon, the compiled files that dist/examples/vm-guest.js imports
 * (transitively) and the node_modules packages those import, with their
 * dependencies. Type declarations, source maps, TypeScript sources and docs
 * are left out. Nothing is cached: collecting takes well under a second; the
 * gzip of the initramfs (about 40 MB, mostly node) is what costs.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { open, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { VirtFunError } from '../errors.js';
import { packageRoot, rebuildAdvice, shmAddonCandidates } from '../native/shm.js';
import { elfInterpreter } from './elf.js';
import type { InitramfsFile } from './initramfs.js';

/** Where the package lives in the guest. */
export const GUEST_PACKAGE_DIR = '/opt/virtfun';
/** The Node guest program, as the guest runs it: `node /opt/virtfun/dist/examples/vm-guest.js`. */
export const NODE_GUEST_PROGRAM = `${GUEST_PACKAGE_DIR}/dist/examples/vm-guest.js`;
/** Guest memory with Node, unless the caller says otherwise (Node alone wants ~100 MiB; the initramfs unpacks into RAM). */
export const NODE_MEMORY_MIB = 1024;
/** The directories the guest's /init already has on PATH. */
const GUEST_PATH = ['/bin', '/sbin', '/usr/bin', '/usr/sbin'];

export interface NodeGuestFiles {
  readonly files: readonly InitramfsFile[];
  /** The node binary in the guest (the host's, symlinks resolved). */
  readonly node: string;
  /** The shared objects copied (loader included). */
  readonly libraries: readonly string[];
  /** node_modules packages copied (names). */
  readonly packages: readonly string[];
  /** Files of dist/ copied. */
  readonly distFiles: number;
  /** Sum of the files' sizes (uncompressed). */
  readonly bytes: number;
}

const exec = promisify(execFile);
const builtins = new Set(builtinModules);

/** The extra initramfs files for `node` and the guest library. Throws VirtFunError 'VM' when one is missing. */
export async function nodeGuestFiles(opts: { readonly nodePath?: string; readonly projectRoot?: string } = {}): Promise<NodeGuestFiles> {
  const project = opts.projectRoot ?? packageRoot();
  if (project === null) throw new VirtFunError('VM', '--with-node: cannot find the virtfun package root (no package.json named "virtfun" above this module)');
  const entry = join(project, 'dist', 'examples', 'vm-guest.js');
  const candidates = shmAddonCandidates(project);
  const addon = candidates.find((f) => existsSync(f)) ?? candidates[0]!;
  for (const [what, p, fix] of [
    ['the compiled guest program', entry, 'run `npm run build`'],
    ['the native addon', addon, `run \`${rebuildAdvice(project)}\``],
  ] as const) {
    if (!(await stat(p).then((s) => s.isFile(), () => false))) throw new VirtFunError('VM', `--with-node: ${what} is missing (${p}): ${fix}`);
  }

  const node = await realpath(opts.nodePath ?? process.execPath);
  const nodeInterp = await interpreterOf(node);
  const libraries = [...new Set([...(await sharedObjects(node, nodeInterp)), ...(await sharedObjects(addon, await interpreterOf(addon)))])].sort();

  const closure = await importClosure(entry);
  const pkgDirs = await packageClosure(project, closure.packages);

  const files: InitramfsFile[] = [];
  let bytes = 0;
  const add = async (host: string, guest: string): Promise<void> => {
    const [st, data] = await Promise.all([stat(host), readFile(host)]);
    files.push({ path: guest, mode: st.mode & 0o777, data });
    bytes += data.length;
  };
  const inPackage = (p: string): string => `${GUEST_PACKAGE_DIR}/${relative(project, p).split(sep).join('/')}`;
  await add(node, node);
  for (const l of libraries) await add(l, l);
  files.push({ path: `${GUEST_PACKAGE_DIR}/package.json`, mode: 0o644, data: `${JSON.stringify({ name: 'virtfun', type: 'module', private: true })}\n` });
  await add(addon, inPackage(addon));
  for (const f of closure.files) await add(f, inPackage(f));
  for (const d of pkgDirs) for (const f of await packageFiles(d)) await add(f, inPackage(f));
  return {
    files,
    node,
    libraries,
    packages: pkgDirs.map((d) => relative(join(project, 'node_modules'), d).split(sep).join('/')),
    distFiles: closure.files.length,
    bytes,
  };
}

/** Payload lines that put `node` on the guest's PATH when its directory is not there already. */
export function nodePathPrefix(node: string): string {
  const dir = dirname(node);
  return GUEST_PATH.includes(dir) ? '' : `export PATH="${dir}:$PATH"\n`;
}

/** PT_INTERP of an ELF file (undefined: static); VirtFunError when it is not ELF (a shell-script shim of a version manager). */
async function interpreterOf(path: string): Promise<string | undefined> {
  const fh = await open(path, 'r');
  let head: Buffer;
  try {
    head = Buffer.alloc(64 * 1024);
    head = head.subarray(0, (await fh.read(head, 0, head.length, 0)).bytesRead);
  } finally {
    await fh.close();
  }
  const interp = elfInterpreter(head);
  if (interp === false) {
    throw new VirtFunError('VM', `--with-node: ${path} is not an ELF binary (a version manager's shim?): run vfun with the real node binary (\`node -p process.execPath\` inside the shim's environment)`);
  }
  return interp;
}

/** The absolute paths of the shared objects `ldd` lists for `file`, its loader included; none for a static file. */
async function sharedObjects(file: string, interp: string | undefined): Promise<string[]> {
  if (interp === undefined) return [];
  let text: string;
  try {
    text = (await exec('ldd', [file], { encoding: 'utf8' })).stdout;
  } catch (err) {
    throw new VirtFunError('VM', `--with-node: \`ldd ${file}\` failed (${(err as Error).message.split('\n')[0]}): the guest needs the libraries it lists`, { cause: err });
  }
  const paths = [interp];
  for (const line of text.split('\n')) {
    if (/=>\s*not found/.test(line)) throw new VirtFunError('VM', `--with-node: ${file} needs a library that is not found: ${line.trim()}`);
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) paths.push(m[1]!);
  }
  return paths;
}

/**
 * The compiled files `entry` imports, transitively, and the bare package
 * names they import. tsc's output is regular: `import … from "x"`,
 * `export … from "x"`, `import "x"`, `import("x")` with a literal.
 */
async function importClosure(entry: string): Promise<{ files: string[]; packages: string[] }> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const queue = [resolve(entry)];
  const re = /(?:^|[\n;}])\s*(?:import|export)\s[^;]*?\sfrom\s*(['"])([^'"]+)\1|(?:^|[\n;])\s*import\s*(['"])([^'"]+)\3|\bimport\(\s*(['"])([^'"]+)\5\s*\)/g;
  while (queue.length > 0) {
    const f = queue.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const m of (await readFile(f, 'utf8')).matchAll(re)) {
      const spec = m[2] ?? m[4] ?? m[6]!;
      if (spec.startsWith('.')) queue.push(resolve(dirname(f), spec));
      else if (!spec.startsWith('node:') && !builtins.has(spec)) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return { files: [...seen].sort(), packages: [...packages].sort() };
}

/** The packages' directories and those of their dependencies, resolved as Node does (nearest node_modules first). */
async function packageClosure(project: string, names: readonly string[]): Promise<string[]> {
  const dirs = new Set<string>();
  const exists = (p: string) => stat(p).then((s) => s.isDirectory(), () => false);
  const find = async (name: string, from: string): Promise<string | null> => {
    for (let d = from; ; d = dirname(d)) {
      const candidate = join(d, 'node_modules', name);
      if (await exists(candidate)) return candidate;
      if (d === project || dirname(d) === d) return null;
    }
  };
  const queue: { name: string; from: string; optional: boolean }[] = names.map((name) => ({ name, from: project, optional: false }));
  while (queue.length > 0) {
    const { name, from, optional } = queue.pop()!;
    const dir = await find(name, from);
    if (dir === null) {
      if (optional) continue;
      throw new VirtFunError('VM', `--with-node: package ${name} is not installed under ${project}/node_modules: run \`npm install\``);
    }
    if (dirs.has(dir)) continue;
    dirs.add(dir);
    const pj = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    for (const dep of Object.keys(pj.dependencies ?? {})) queue.push({ name: dep, from: dir, optional: false });
    for (const dep of Object.keys(pj.optionalDependencies ?? {})) queue.push({ name: dep, from: dir, optional: true });
  }
  return [...dirs].sort();
}

/** A package's files without type declarations, source maps, TypeScript sources and docs (nested node_modules are packages of their own). */
async function packageFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules') await walk(p);
      } else if (e.isFile() && !/\.(d\.[cm]?ts|map|md|markdown|[cm]?ts|tsx)$/i.test(e.name)) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}
