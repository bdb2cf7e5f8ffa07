/**
 * Worker entry resolution. Tests run the TypeScript sources (vitest), while
 * production runs the compiled `dist/**.js`; a worker thread started from
 * either must load the sibling module of the same kind.
 *
 * From a `.js` caller the worker runs the `.js` sibling directly. From a
 * `.ts` caller the worker must load TypeScript. `execArgv: ['--import',
 * 'tsx']` does not do that on Node 20 (loader hooks given to a worker through
 * execArgv are not applied to the worker's entry: "Unknown file extension
 * .ts"), so the worker runs a small `data:` bootstrap module instead, which
 * registers tsx inside the worker thread and then imports the `.ts` sibling.
 * `workerData`, `transferList` and messages are unaffected.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface WorkerEntry {
  /** What to pass to `new Worker(url, { execArgv })`. */
  readonly url: URL;
  /** Extra Node flags for the worker (empty today, kept for callers and future loaders). */
  readonly execArgv: string[];
  /** The sibling module the worker ends up running (`.ts` or `.js`). */
  readonly module: URL;
}

const TS_EXT = /\.(?:ts|mts|cts)$/;
const ANY_EXT = /\.(?:[cm]?ts|[cm]?js)$/;

/**
 * @param fromUrl `import.meta.url` of the calling module.
 * @param relPath path of the worker module relative to the caller, with a
 *   `.js` or `.ts` suffix or none (`./service-worker.js`).
 */
export function workerEntry(fromUrl: string, relPath: string): WorkerEntry {
  const from = new URL(fromUrl);
  const isTs = TS_EXT.test(from.pathname);
  const module = new URL(relPath.replace(ANY_EXT, '') + (isTs ? '.ts' : '.js'), from);
  if (!isTs) return { url: module, execArgv: [], module };
  const api = tsxEsmApi(fromUrl);
  const code =
    `import { register } from ${JSON.stringify(api)};\n` +
    `register();\n` +
    `await import(${JSON.stringify(module.href)});\n`;
  return { url: new URL('data:text/javascript,' + encodeURIComponent(code)), execArgv: [], module };
}

const apiCache = new Map<string, string>();

/**
 * File URL of tsx's ESM API (`tsx/esm/api`, import condition), resolved from the caller, else (unless
 * `ownFallback` is false) from this package; throws when there is none.
 */
export function tsxEsmApi(fromUrl: string, ownFallback = true): string {
  const key = `${ownFallback ? '+' : '-'}${fromUrl}`;
  const cached = apiCache.get(key);
  if (cached !== undefined) return cached;
  let pkgPath: string | undefined;
  let cause: unknown;
  // From the caller first (its own node_modules), then from this package.
  for (const base of ownFallback ? [fromUrl, import.meta.url] : [fromUrl]) {
    try {
      pkgPath = createRequire(base).resolve('tsx/package.json');
      break;
    } catch (e) {
      cause = e;
    }
  }
  if (pkgPath === undefined) {
    throw new Error(`workerEntry: running TypeScript sources needs the 'tsx' package (devDependency), not found from ${fromUrl}`, { cause });
  }
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as {
    exports?: Record<string, { import?: { default?: string } | string } | string>;
  };
  const entry = pkg.exports?.['./esm/api'];
  const rel =
    typeof entry === 'object' && typeof entry.import === 'object' && typeof entry.import.default === 'string'
      ? entry.import.default
      : './dist/esm/api/index.mjs';
  const href = pathToFileURL(join(dirname(pkgPath), rel)).href;
  apiCache.set(key, href);
  return href;
}

export interface ProcessEntry {
  /** The module the child process runs (a `.js` file, or a `.ts` file loaded through tsx). */
  readonly module: string;
  /** Node flags the child needs to load it (`--import <tsx>` for TypeScript sources). */
  readonly execArgv: string[];
}

/**
 * The entry of a child Node process (a service process): like workerEntry,
 * the sibling module of the caller's kind. A child process, unlike a worker,
 * takes loader hooks from `--import`, so TypeScript sources run through tsx's
 * registering entry (`tsx/esm`).
 */
export function processEntry(fromUrl: string, relPath: string): ProcessEntry {
  const from = new URL(fromUrl);
  const isTs = TS_EXT.test(from.pathname);
  const module = new URL(relPath.replace(ANY_EXT, '') + (isTs ? '.ts' : '.js'), from);
  if (!isTs) return { module: module.pathname, execArgv: [] };
  const api = new URL(tsxEsmApi(fromUrl));
  // tsx/dist/esm/api/index.mjs -> tsx/dist/esm/index.mjs: the entry that registers itself when imported.
  const register = new URL('../index.mjs', api);
  return { module: module.pathname, execArgv: ['--import', register.href] };
}
