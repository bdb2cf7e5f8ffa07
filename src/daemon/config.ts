/**
 * Loading vFunD's configuration: the explicit, asynchronous step that reads
 * what a valid configuration names on disk. `parseConfig` (src/actors/config.ts)
 * checks shapes and reads nothing; here each device's simulator profile, and
 * the profile of each `sim:<profile>:<fn>` driver, is read and checked, the
 * driver modules are listed (driver-catalogue.ts: in a child process) and the
 * functions' drivers checked against them, and a problem is refused with a
 * ConfigError naming the field, as parsing does.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { exposureOf, octal, readSecretFile } from './secrets.js';
import { ConfigError, parseConfig, unknownDriver, unknownProfile, type LoadedConfig, type ValidConfig } from '../actors/config.js';
import { deviceDriverParts } from '../../simulator/drivers.js';
import { hasDriver } from '../drivers/registry.js';
import { loadDriverCatalogue, type DriverCatalogue } from './driver-catalogue.js';
import { functionProfile, loadProfile, profileNames, type DeviceProfile } from '../../simulator/profile.js';

/**
 * Read what a valid configuration names and check it: the profiles, and each tenant's `secretFile` (a relative
 * path from `baseDir`, default the working directory; secrets.ts); ConfigError naming each bad field.
 */
export async function resolveConfig(config: ValidConfig, baseDir: string = process.cwd(), options: LoadOptions = {}): Promise<LoadedConfig> {
  if ('profiles' in config) return config as LoadedConfig;
  // Driver modules first: their names are what the functions' drivers are checked against.
  const catalogue = (config.driverModules ?? []).length === 0 ? null : await loadDriverCatalogue(config.driverModules, baseDir, options.driverModuleTimeoutMs);
  const shipped = profileNames();
  const profiles = new Map<string, DeviceProfile>();
  const problems: string[] = [];
  // A device follows a shipped profile; a `sim:` driver may also name a profile file.
  const read = async (name: string, shippedOnly: boolean): Promise<DeviceProfile | undefined> => {
    if (shippedOnly && !shipped.includes(name)) return undefined;
    const p = profiles.get(name) ?? (await loadProfile(name).catch(() => undefined));
    if (p !== undefined) profiles.set(name, p);
    return p;
  };
  for (const [i, d] of config.devices.entries()) {
    if ('type' in d) continue; // a WebGPU device names no file: vFunD probes its adapter at start
    if ((await read(d.profile, true)) === undefined) problems.push(`devices.${i}.profile: ${unknownProfile(d.profile, shipped)}`);
  }
  if (catalogue !== null) problems.push(...catalogue.problems, ...moduleDriverProblems(config, catalogue));
  for (const [i, f] of config.functions.entries()) {
    const hw = f.kinds.hw;
    const device = hw && 'device' in hw ? config.devices.find((d) => d.name === hw.device) : undefined;
    const onDevice = device === undefined || 'type' in device ? undefined : profiles.get(device.profile);
    if (device && !('type' in device) && onDevice && !functionProfile(onDevice, f.name)) problems.push(`functions.${i}.name: device profile '${device.profile}' has no function '${f.name}'`);
    for (const kind of ['hw', 'sw'] as const) {
      const k = f.kinds[kind];
      const driver = k && 'driver' in k ? k.driver : undefined;
      const sim = driver === undefined ? null : deviceDriverParts(driver);
      if (driver === undefined || sim === null) continue;
      const p = await read(sim.profile, false);
      if (p === undefined || !functionProfile(p, sim.fn)) problems.push(`functions.${i}.kinds.${kind}.driver: ${unknownDriver(driver)}`);
    }
  }
  const tenants: LoadedConfig['tenants'] = [];
  for (const [i, t] of config.tenants.entries()) {
    if (t.secret !== undefined) tenants.push({ ...t, secret: t.secret });
    else {
      const secret = await readSecretFile(`tenants.${i}.secretFile`, t.secretFile!, baseDir).catch((err: unknown) => {
        if (!(err instanceof ConfigError)) throw err;
        problems.push(...err.problems);
        return '';
      });
      tenants.push({ ...t, secret });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...config, tenants, profiles, driverModuleUrls: catalogue?.urls ?? new Map(), driverModuleSnapshots: catalogue?.modules.map(({ metas: _, ...m }) => m) ?? [] };
}

/** How the load step may be tuned (tests). */
export interface LoadOptions {
  /** The longest the driver modules may take to load (default CATALOGUE_TIMEOUT_MS). */
  readonly driverModuleTimeoutMs?: number;
  /** Driver modules added after the configuration's own (`vfun up --driver-module`): absolute paths, or packages resolved from baseDir. */
  readonly driverModules?: readonly string[];
}

/** Each function's driver that neither the registry nor a driver module defines (parsing let it pass: there are driver modules). */
function moduleDriverProblems(config: ValidConfig, catalogue: DriverCatalogue): string[] {
  if (catalogue.problems.length > 0) return []; // said already: a module that did not load may have defined it
  const names = [...catalogue.urls.keys()];
  return config.functions.flatMap((f, i) =>
    (['hw', 'sw'] as const).flatMap((kind) => {
      const k = f.kinds[kind];
      const driver = k && 'driver' in k ? k.driver : undefined;
      if (driver === undefined || hasDriver(driver) || deviceDriverParts(driver) !== null || catalogue.urls.has(driver)) return [];
      return [`functions.${i}.kinds.${kind}.driver: ${unknownDriver(driver, names)}`];
    }),
  );
}

/** Validate a configuration (parseConfig), then read and check what it names (resolveConfig). */
export async function loadConfig(input: unknown, baseDir?: string, options: LoadOptions = {}): Promise<LoadedConfig> {
  return resolveConfig(parseConfig(withDriverModules(input, options.driverModules)), baseDir, options);
}

/** A raw configuration with `extra` driver modules after its own (unchanged when there are none or it is not an object). */
function withDriverModules(input: unknown, extra: readonly string[] = []): unknown {
  if (extra.length === 0 || typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  const own = (input as { driverModules?: unknown }).driverModules;
  return { ...input, driverModules: [...(Array.isArray(own) ? (own as unknown[]) : []), ...extra] };
}

/**
 * Read a JSON configuration file and load it; ConfigError naming the file or
 * each bad field. A parse error names the line and column, never the text
 * (the file holds secrets). A file holding tenants' secrets inline that every
 * user can read is refused; one its group can read is said through `warn`
 * (secrets.ts: the directories above it count). `secretFile` and
 * `driverModules` paths are relative to the file's directory.
 */
export async function loadConfigFile(path: string, warn?: (line: string) => void, options?: LoadOptions): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read ${path}: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`${path} is not valid JSON${jsonErrorPlace(text, err)}`]);
  }
  if (holdsSecrets(raw)) {
    const { exposure, mode } = await exposureOf(path);
    if (exposure === 'world') {
      throw new ConfigError([`${path} holds the tenants' secrets and every user can read it (mode ${octal(mode)}): chmod 600 it, or move the secrets to secretFile`]);
    }
    if (exposure === 'group') warn?.(`warning: ${path} holds the tenants' secrets and is readable by its group (mode ${octal(mode)}): chmod 600 it`);
  }
  return loadConfig(raw, dirname(resolve(path)), options);
}

/** Whether a parsed configuration holds a secret inline (a tenant with `secret`). */
function holdsSecrets(raw: unknown): boolean {
  const tenants = (raw as { tenants?: unknown } | null)?.tenants;
  return Array.isArray(tenants) && tenants.some((t) => typeof t === 'object' && t !== null && 'secret' in t);
}

/** Where JSON.parse failed, as ` (line L, column C)`, from the position in its message; '' when it gives none. Never the text. */
export function jsonErrorPlace(text: string, err: unknown): string {
  const m = /position (\d+)/.exec(err instanceof Error ? err.message : '');
  if (m === null) return /Unexpected end/.test(err instanceof Error ? err.message : '') ? ' (it ends too early)' : '';
  const pos = Math.min(Number(m[1]), text.length);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return ` (line ${line}, column ${column})`;
}
