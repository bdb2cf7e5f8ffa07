/**
 * The admin socket's settings from the configuration's `admin` section: the
 * admin group (its gid, from /etc/group) and the admin secret, given inline
 * or in a file read here (refused when others may read or write it).
 */
import { readFile, stat } from 'node:fs/promises';
import { ConfigError, type ValidConfig } from '../actors/config.js';
import { groupId } from './access.js';

/** What the admin socket needs to know. */
export interface AdminSettings {
  readonly group: { readonly name: string; readonly gid: number } | null;
  /** The secret requests are signed with; null: the peer check alone authorises (root or vFunD's user). */
  readonly secret: string | null;
}

/** Read the admin section's group and secret file; ConfigError naming the field. */
export async function resolveAdminSettings(admin: ValidConfig['admin']): Promise<AdminSettings> {
  let group: AdminSettings['group'] = null;
  if (admin?.group !== undefined) {
    const gid = await groupId(admin.group);
    if (gid === null) throw new ConfigError([`admin.group: no group '${admin.group}' on this host (/etc/group)`]);
    group = { name: admin.group, gid };
  }
  let secret = admin?.secret ?? null;
  if (admin?.secretFile !== undefined) secret = await readSecretFile(admin.secretFile, 'admin.secretFile');
  return { group, secret };
}

/**
 * The secret in a file (its content, without the trailing newline). Refused when every user may
 * read or write it (the admin group may read it: its members sign with it); never echoes it.
 */
export async function readSecretFile(path: string, field: string): Promise<string> {
  const st = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError([`${field}: cannot read ${path} (${err.code ?? err.message})`]);
  });
  if ((st.mode & 0o007) !== 0) {
    throw new ConfigError([`${field}: ${path} may be read or written by every user (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): chmod o-rwx it (0600, or 0640 with the admin group)`]);
  }
  const secret = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  if (secret.length < 16 || secret.length > 1024) throw new ConfigError([`${field}: the secret in ${path} must be 16 to 1024 characters long (it has ${secret.length})`]);
  return secret;
}
