/**
 * Who can read a file of secrets: the configuration (when it holds tenants'
 * secrets inline) and each tenant's `secretFile`.
 *
 * - A configuration is exposed to "others" when its mode lets every user read
 *   it and every directory above it lets every user through (a 0644 file in a
 *   0700 directory is read by nobody else); to its group likewise. vFunD
 *   refuses a configuration with inline secrets that every user can read, and
 *   warns about one its group can read.
 * - A `secretFile` holds one secret and nothing else: it must be a regular,
 *   non-empty file that neither its group nor others may read (0600 or 0400),
 *   whatever the directories above it.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../actors/config.js';

/** Who besides its owner can read a file: every user, its group, or nobody (null). */
export type Exposure = 'world' | 'group' | null;

/** The mode of a file and of each directory above it, nearest first. */
export interface PathModes {
  readonly file: number;
  readonly dirs: readonly number[];
}

/** Who besides the owner can read a file with these modes (pure): `r` on the file and `x` on every directory above it. */
export function exposureOfModes(m: PathModes): Exposure {
  const through = (bit: number) => m.dirs.every((d) => (d & bit) !== 0);
  if ((m.file & 0o004) !== 0 && through(0o001)) return 'world';
  if ((m.file & 0o040) !== 0 && m.dirs.every((d) => (d & 0o011) !== 0)) return 'group';
  return null;
}

/** Who besides its owner can read `path`, walking the directories above it. */
export async function exposureOf(path: string): Promise<{ exposure: Exposure; mode: number }> {
  const full = resolve(path);
  const file = (await stat(full)).mode & 0o777;
  const dirs: number[] = [];
  for (let d = dirname(full); ; d = dirname(d)) {
    dirs.push((await stat(d)).mode & 0o777);
    if (dirname(d) === d) break;
  }
  return { exposure: exposureOfModes({ file, dirs }), mode: file };
}

/** The mode as `0644`. */
export const octal = (mode: number): string => mode.toString(8).padStart(4, '0');

/**
 * Read a tenant's secret from `path` (relative paths from `baseDir`): one line, its trailing newline cut.
 * ConfigError naming `field` when it is missing, not a regular file, empty, or readable by its group or others.
 */
export async function readSecretFile(field: string, path: string, baseDir: string): Promise<string> {
  const full = isAbsolute(path) ? path : resolve(baseDir, path);
  let st;
  try {
    st = await stat(full);
  } catch (err) {
    throw new ConfigError([`${field}: cannot read ${full}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  if (!st.isFile()) throw new ConfigError([`${field}: ${full} is not a regular file`]);
  const mode = st.mode & 0o777;
  if ((mode & 0o077) !== 0) throw new ConfigError([`${field}: ${full} is readable by ${(mode & 0o007) !== 0 ? 'every user' : 'its group'} (mode ${octal(mode)}): chmod 600 it`]);
  const secret = (await readFile(full, 'utf8')).replace(/\r?\n$/, '');
  if (secret.length === 0) throw new ConfigError([`${field}: ${full} is empty`]);
  if (secret.length < 16) throw new ConfigError([`${field}: the secret in ${full} must be at least 16 characters`]);
  if (secret.length > 1024 || secret.includes('\n')) throw new ConfigError([`${field}: ${full} must hold one secret of at most 1024 characters on one line`]);
  return secret;
}
