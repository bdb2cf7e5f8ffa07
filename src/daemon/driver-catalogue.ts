/**
 * The catalogue of a configuration's driver modules (`driverModules`): each
 * module resolved (a path or a package name, from the configuration's
 * directory), hashed (SHA-256 of its file, journaled in vfund.started), and
 * listed in a short-lived child process (driver-catalogue-main.ts), bounded
 * in time, so that a module's top-level code cannot crash or hang vFunD. A
 * problem is a line naming `driverModules.<i>` and the module, as a
 * ConfigError says it.
 */
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { DriverMeta } from '../drivers/driver.js';
import { catalogueProblems } from '../drivers/modules.js';
import { resolveModuleUrl } from '../drivers/module-import.js';
import { hasDriver } from '../drivers/registry.js';
import type { DriverModuleSnapshot } from '../events/catalogue.js';
import { messageOf } from '../errors.js';
import { processEntry } from '../util/entry.js';

/** The longest the catalogue process may take to import every module. */
export const CATALOGUE_TIMEOUT_MS = 20_000;

/** The catalogue process to vFunD, one module at a time (by its index in driverModules). */
export type CatalogueMessage =
  | { readonly type: 'loading'; readonly module: number }
  | { readonly type: 'loaded'; readonly module: number; readonly drivers: readonly DriverMeta[] }
  | { readonly type: 'failed'; readonly module: number; readonly message: string };

/** A module of the catalogue: what vFunD journals of it, and every driver's metadata. */
export interface DriverModuleRecord extends DriverModuleSnapshot {
  readonly metas: readonly DriverMeta[];
}

/** The modules listed, and the problems found (empty when every module loaded and no name clashes). */
export interface DriverCatalogue {
  readonly modules: readonly DriverModuleRecord[];
  /** Driver name → the URL of the module that defines it. */
  readonly urls: ReadonlyMap<string, string>;
  readonly problems: readonly string[];
}

const CATALOGUE_MAIN = processEntry(import.meta.url, './driver-catalogue-main.js');

/** Resolve, hash and list `specifiers` (relative paths and packages from `baseDir`). */
export async function loadDriverCatalogue(specifiers: readonly string[], baseDir: string, timeoutMs = CATALOGUE_TIMEOUT_MS): Promise<DriverCatalogue> {
  const problems: string[] = [];
  const found: { index: number; specifier: string; url: string; sha256: string }[] = [];
  for (const [index, specifier] of specifiers.entries()) {
    try {
      const url = resolveModuleUrl(specifier, baseDir);
      const sha256 = createHash('sha256').update(await readFile(fileURLToPath(url))).digest('hex');
      found.push({ index, specifier, url, sha256 });
    } catch (e) {
      problems.push(`driverModules.${index}: ${messageOf(e)}`);
    }
  }
  const answers = found.length === 0 ? new Map<number, CatalogueMessage>() : await listInChild(found, timeoutMs);
  const modules: (DriverModuleRecord & { index: number })[] = [];
  for (const [k, f] of found.entries()) {
    const a = answers.get(k);
    const where = `driver module '${f.specifier}' (${fileURLToPath(f.url)})`;
    if (a?.type === 'loaded') {
      const drivers = a.drivers.map((d) => ({ name: d.name, kind: d.kind, version: d.version }));
      modules.push({ index: f.index, specifier: f.specifier, url: f.url, sha256: f.sha256, drivers, metas: a.drivers });
    } else if (a?.type === 'failed') problems.push(`driverModules.${f.index}: ${a.message}`);
    else problems.push(`driverModules.${f.index}: ${where}: not listed: the loading process ended before it (see the module before it)`);
  }
  const checked = catalogueProblems(
    modules.map((m) => ({ specifier: m.specifier, drivers: m.metas })),
    hasDriver,
  ).map((p) => p.replace(/^driverModules\.(\d+)/, (_, i: string) => `driverModules.${modules[Number(i)]!.index}`));
  problems.push(...checked);
  const urls = new Map(modules.flatMap((m) => m.metas.map((d) => [d.name, m.url] as const)));
  return { modules: modules.map(({ index: _, ...m }) => m), urls, problems };
}

/**
 * Run the catalogue process on `modules`: the answer for each (by position). The module it was loading
 * when it crashed or ran out of time is answered with why; those after it have no answer.
 */
function listInChild(modules: readonly { specifier: string; url: string }[], timeoutMs: number): Promise<Map<number, CatalogueMessage>> {
  return new Promise((resolve) => {
    const answers = new Map<number, CatalogueMessage>();
    let loading = -1;
    let stderr = '';
    let timedOut = false;
    const child = fork(CATALOGUE_MAIN.module, [JSON.stringify(modules.map((m) => ({ specifier: m.specifier, url: m.url })))], {
      execArgv: CATALOGUE_MAIN.execArgv,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: process.env,
    });
    child.stderr?.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-2000);
    });
    child.on('message', (m: CatalogueMessage) => {
      if (m.type === 'loading') loading = m.module;
      else answers.set(m.module, m);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (loading >= 0 && !answers.has(loading)) {
        const m = modules[loading]!;
        const lastLine = stderr.trim().split('\n').filter((l) => l.trim() !== '').slice(-3).join(' | ');
        const why = timedOut
          ? `did not load within ${timeoutMs} ms (its top-level code hangs?)`
          : `its loading process exited (${signal ?? `code ${code}`}) while importing it${lastLine === '' ? '' : `: ${lastLine}`}`;
        answers.set(loading, { type: 'failed', module: loading, message: `driver module '${m.specifier}' (${fileURLToPath(m.url)}): ${why}` });
      }
      resolve(answers);
    });
    child.on('error', (e) => {
      stderr += `\n${e.message}`;
    });
  });
}
