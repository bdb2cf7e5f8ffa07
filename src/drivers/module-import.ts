/**
 * Finding and importing a driver module: a path (absolute, or relative to a
 * base directory) or a package name resolved from that directory, and a
 * module in TypeScript as well as JavaScript.
 *
 * TypeScript: a `.ts` module is imported through `tsx` (its `tsImport`) when
 * tsx resolves from the module's directory (an integrator's devDependency);
 * else a Node that strips types itself (`process.features.typescript`, Node
 * >= 22.18 / 23.6) imports it as it is; otherwise (Node 20 without tsx) the
 * import fails saying what to do.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { VirtFunError } from '../errors.js';
import { tsxEsmApi } from '../util/entry.js';

const TS_FILE = /\.[cm]?ts$/;
const MODULE_FILE = /\.[cm]?[jt]s$/;

/** Whether a specifier is a path (absolute, `./…`, `../…`, or a file name with a module extension) rather than a package name. */
export function isPathSpecifier(specifier: string): boolean {
  return isAbsolute(specifier) || specifier.startsWith('./') || specifier.startsWith('../') || (MODULE_FILE.test(specifier) && !specifier.startsWith('@'));
}

/**
 * The file URL of a driver module: a path relative to `baseDir`, or a package
 * (`name`, `@scope/name`, `name/subpath`) resolved from `baseDir` through its
 * `exports` (conditions import, node, default) or `main`. Throws a
 * VirtFunError 'DRIVER_MODULE' saying what was looked for.
 */
export function resolveModuleUrl(specifier: string, baseDir: string): string {
  if (isPathSpecifier(specifier)) {
    const path = resolve(baseDir, specifier);
    if (!existsSync(path)) throw new VirtFunError('DRIVER_MODULE', `driver module '${specifier}' (${path}): no such file`);
    return pathToFileURL(path).href;
  }
  const m = /^((?:@[^/]+\/)?[^/@][^/]*)(\/.*)?$/.exec(specifier);
  if (m === null) throw new VirtFunError('DRIVER_MODULE', `driver module '${specifier}': neither a path nor a package name`);
  const [, pkg, sub] = m as unknown as [string, string, string | undefined];
  for (let dir = resolve(baseDir); ; dir = dirname(dir)) {
    const pkgDir = join(dir, 'node_modules', pkg);
    if (existsSync(join(pkgDir, 'package.json'))) {
      const entry = packageEntry(JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as PackageJson, sub === undefined ? '.' : `.${sub}`);
      if (entry === null) throw new VirtFunError('DRIVER_MODULE', `driver module '${specifier}' (${pkgDir}): the package exports no '${sub === undefined ? '.' : `.${sub}`}' for import`);
      const path = join(pkgDir, entry);
      if (!existsSync(path)) throw new VirtFunError('DRIVER_MODULE', `driver module '${specifier}' (${path}): no such file`);
      return pathToFileURL(path).href;
    }
    if (dirname(dir) === dir) break;
  }
  throw new VirtFunError('DRIVER_MODULE', `driver module '${specifier}': no package '${pkg}' in node_modules from ${baseDir} up (install it, or give a path: ./${specifier}.js)`);
}

interface PackageJson {
  readonly exports?: unknown;
  readonly main?: string;
}

const CONDITIONS = ['import', 'node', 'default'] as const;

/** The file a package gives for `subpath` ('.' or './x'), following `exports` (no patterns), else `main` / index.js; null when exports leave it out. */
export function packageEntry(pkg: PackageJson, subpath: string): string | null {
  const pick = (x: unknown): string | null => {
    if (typeof x === 'string') return x;
    if (Array.isArray(x)) return x.map(pick).find((v) => v !== null) ?? null;
    if (typeof x === 'object' && x !== null) {
      for (const c of CONDITIONS) if (c in x) return pick((x as Record<string, unknown>)[c]);
    }
    return null;
  };
  const exp = pkg.exports;
  if (exp === undefined) return subpath === '.' ? (pkg.main ?? 'index.js') : subpath;
  const keyed = typeof exp === 'object' && exp !== null && !Array.isArray(exp) && Object.keys(exp).some((k) => k.startsWith('.'));
  if (!keyed) return subpath === '.' ? pick(exp) : null;
  return pick((exp as Record<string, unknown>)[subpath]);
}

/** Whether this Node strips TypeScript types itself (Node >= 22.18 / 23.6). */
export function nodeStripsTypes(): boolean {
  return Boolean((process.features as { typescript?: unknown }).typescript);
}

/**
 * Import the TypeScript module at `url`: through tsx's `tsImport` (scoped to this import, whatever the
 * module type of the package holding it) when tsx resolves from the module's directory, else as it is
 * where Node strips types; a VirtFunError 'DRIVER_MODULE' saying what to do when neither can. tsx comes
 * first where the integrator installed it: it loads what type stripping does not (`enum`, parameter
 * properties, `./x.js` written for `./x.ts`).
 */
async function importTypeScript(url: string): Promise<Record<string, unknown>> {
  let api: string | null = null;
  try {
    api = tsxEsmApi(url, false);
  } catch (e) {
    if (!nodeStripsTypes()) {
      throw new VirtFunError(
        'DRIVER_MODULE',
        `driver module ${fileURLToPath(url)} is TypeScript, which Node ${process.versions.node} cannot load by itself (Node >= 22.18 strips types): ` +
          `install tsx as a devDependency of the project that holds it (npm install --save-dev tsx), or compile the module to JavaScript`,
        { cause: e },
      );
    }
  }
  if (api === null) return (await import(url)) as Record<string, unknown>;
  const { tsImport } = (await import(api)) as { tsImport: (specifier: string, parentURL: string) => Promise<Record<string, unknown>> };
  return tsImport(url, import.meta.url);
}

/**
 * A module's exports as ESM names them: a CommonJS module compiled from ESM (`__esModule`, as tsx
 * or tsc make one in a package that is not `"type": "module"`) gives its own exports, default included.
 */
function esmView(namespace: Record<string, unknown>): Record<string, unknown> {
  const d = namespace['default'];
  return typeof d === 'object' && d !== null && (d as { __esModule?: unknown }).__esModule === true ? { ...(d as Record<string, unknown>) } : namespace;
}

/** Import a module by file URL, TypeScript included. */
export async function importModule(url: string): Promise<Record<string, unknown>> {
  const namespace = TS_FILE.test(new URL(url).pathname) ? await importTypeScript(url) : ((await import(url)) as Record<string, unknown>);
  return esmView(namespace);
}
