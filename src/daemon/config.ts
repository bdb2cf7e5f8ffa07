/**
 * Loading vFunD's configuration: the explicit, asynchronous step that reads
 * what a valid configuration names on disk. `parseConfig` (src/actors/config.ts)
 * checks shapes and reads nothing; here each device's simulator profile, and
 * the profile of each `sim:<profile>:<fn>` driver, is read and checked, and a
 * problem is refused with a ConfigError naming the field, as parsing does.
 */
import { readFile, stat } from 'node:fs/promises';
import { ConfigError, parseConfig, unknownDriver, unknownProfile, type LoadedConfig, type ValidConfig } from '../actors/config.js';
import { deviceDriverParts } from '../../simulator/drivers.js';
import { functionProfile, loadProfile, profileNames, type DeviceProfile } from '../../simulator/profile.js';

/** Read the profiles a valid configuration names and check them; ConfigError naming each bad field. */
export async function resolveConfig(config: ValidConfig): Promise<LoadedConfig> {
  if ('profiles' in config) return config as LoadedConfig;
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
    if ((await read(d.profile, true)) === undefined) problems.push(`devices.${i}.profile: ${unknownProfile(d.profile, shipped)}`);
  }
  for (const [i, f] of config.functions.entries()) {
    const hw = f.kinds.hw;
    const device = hw && 'device' in hw ? config.devices.find((d) => d.name === hw.device) : undefined;
    const onDevice = device === undefined ? undefined : profiles.get(device.profile);
    if (device && onDevice && !functionProfile(onDevice, f.name)) problems.push(`functions.${i}.name: device profile '${device.profile}' has no function '${f.name}'`);
    for (const kind of ['hw', 'sw'] as const) {
      const k = f.kinds[kind];
      const driver = k && 'driver' in k ? k.driver : undefined;
      const sim = driver === undefined ? null : deviceDriverParts(driver);
      if (driver === undefined || sim === null) continue;
      const p = await read(sim.profile, false);
      if (p === undefined || !functionProfile(p, sim.fn)) problems.push(`functions.${i}.kinds.${kind}.driver: ${unknownDriver(driver)}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...config, profiles };
}

/** Validate a configuration (parseConfig), then read and check what it names (resolveConfig). */
export async function loadConfig(input: unknown): Promise<LoadedConfig> {
  return resolveConfig(parseConfig(input));
}

/**
 * Read a JSON configuration file and load it; ConfigError naming the file or
 * each bad field. A parse error names the line and column, never the text
 * (the file holds secrets). A file others may read is said through `warn`:
 * it holds the tenants' secrets.
 */
export async function loadConfigFile(path: string, warn?: (line: string) => void): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read ${path}: ${(err as Error).message}`]);
  }
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    warn?.(`warning: ${path} holds the tenants' secrets and is readable by ${(mode & 0o007) !== 0 ? 'every user' : 'its group'} (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 it`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`${path} is not valid JSON${jsonErrorPlace(text, err)}`]);
  }
  return loadConfig(raw);
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
