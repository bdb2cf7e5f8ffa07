/**
 * Driver modules: an integrator's own drivers, in a module named by the
 * configuration's `driverModules` (docs/writing-a-driver.md). A module's
 * default export is a DriverDefinition (`defineDriver`) or an array of them;
 * its named exports that are DriverDefinitions count too (the same
 * definition exported twice counts once).
 *
 * Listing a module (`definitionsOf`) and checking a catalogue of modules
 * (`catalogueProblems`: a duplicate name, a clash with a built-in driver) are
 * pure; importing one (`loadDriverModule`) goes through module-import.ts,
 * which loads TypeScript too. vFunD itself never imports a driver module: it
 * lists them in a short-lived child process (src/daemon/driver-catalogue.ts),
 * and each service imports the one its driver comes from.
 */
import { fileURLToPath } from 'node:url';
import { VirtFunError } from '../errors.js';
import { isDriverDefinition, type DriverDefinition } from './define.js';
import type { DriverMeta, FunctionDriver } from './driver.js';
import { importModule } from './module-import.js';

/** A driver module cannot be resolved, loaded, or defines nothing usable; names the module as configured and where it resolved. */
export class DriverModuleError extends VirtFunError {
  override readonly name = 'DriverModuleError';
  constructor(
    /** The module as the configuration names it (a path or a package name). */
    readonly specifier: string,
    /** Where it resolved (a file path or URL); the specifier again when it did not resolve. */
    readonly path: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super('DRIVER_MODULE', `driver module '${specifier}' (${path}): ${detail}`, options);
  }
}

/** The old form of a driver module: a default export that builds any driver by name (startService's `driverModule`). */
export type DriverFactory = (name: string) => FunctionDriver | Promise<FunctionDriver>;

/**
 * The DriverDefinitions a module's namespace exports, in export order (default first).
 * Throws DriverModuleError for two different definitions of one name.
 */
export function definitionsOf(namespace: Readonly<Record<string, unknown>>, specifier: string, path: string): DriverDefinition[] {
  const found: DriverDefinition[] = [];
  const add = (x: unknown): void => {
    if (!isDriverDefinition(x) || found.includes(x)) return;
    const other = found.find((d) => d.meta.name === x.meta.name);
    if (other !== undefined) throw new DriverModuleError(specifier, path, `defines driver '${x.meta.name}' twice (two different definitions)`);
    found.push(x);
  };
  const def = namespace['default'];
  if (Array.isArray(def)) def.forEach(add);
  else add(def);
  for (const [k, v] of Object.entries(namespace)) if (k !== 'default') add(v);
  return found;
}

/** Why a module's exports give no driver, in words that say what to export instead. */
export function nothingDefined(namespace: Readonly<Record<string, unknown>>): string {
  const hint =
    typeof namespace['default'] === 'function'
      ? ": its default export is a function, the old factory form ((name) => driver), which driverModules cannot list; export defineDriver(...) definitions instead"
      : ': export defineDriver(...) as the default export (one, or an array), or as named exports';
  return `defines no driver${hint}`;
}

/** One loaded module: its definitions and the factory of the old form, if it has one. */
export interface LoadedDriverModule {
  /** Every export of the module. */
  readonly namespace: Readonly<Record<string, unknown>>;
  readonly definitions: readonly DriverDefinition[];
  readonly factory: DriverFactory | undefined;
}

/** Import a driver module (TypeScript too: module-import.ts) and list it; DriverModuleError naming it when it cannot be imported. */
export async function loadDriverModule(url: string, specifier: string = url): Promise<LoadedDriverModule> {
  const where = url.startsWith('file:') ? fileURLToPath(url) : url;
  let namespace: Record<string, unknown>;
  try {
    namespace = await importModule(url);
  } catch (e) {
    if (e instanceof DriverModuleError) throw e;
    const detail = e instanceof Error ? `${e.name === 'Error' ? '' : `${e.name}: `}${e.message}` : String(e);
    throw new DriverModuleError(specifier, where, `cannot be loaded: ${detail}`, { cause: e });
  }
  const definitions = definitionsOf(namespace, specifier, where);
  const def = namespace['default'];
  return { namespace, definitions, factory: typeof def === 'function' ? (def as DriverFactory) : undefined };
}

/** The metadata of each driver of one module in a catalogue. */
export interface CatalogueModule {
  readonly specifier: string;
  readonly drivers: readonly DriverMeta[];
}

/**
 * What is wrong with a catalogue of modules, one line per problem prefixed by
 * `driverModules.<i>`: a module defining nothing, a name a built-in driver has
 * (`isBuiltIn`), a name two modules define.
 */
export function catalogueProblems(modules: readonly CatalogueModule[], isBuiltIn: (name: string) => boolean): string[] {
  const problems: string[] = [];
  const owner = new Map<string, number>();
  modules.forEach((m, i) => {
    const at = `driverModules.${i}: module '${m.specifier}'`;
    if (m.drivers.length === 0) problems.push(`${at} defines no driver`);
    for (const d of m.drivers) {
      const before = owner.get(d.name);
      if (isBuiltIn(d.name)) problems.push(`${at} defines '${d.name}', the name of a built-in driver: give it another name`);
      else if (before !== undefined) problems.push(`${at} defines '${d.name}', which module '${modules[before]!.specifier}' (driverModules.${before}) defines too`);
      else owner.set(d.name, i);
    }
  });
  return problems;
}
