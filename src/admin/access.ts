/**
 * Who may use vFunD's admin socket: root, vFunD's own user, and members of
 * the configured admin group (the peer's primary or supplementary groups).
 * The decision is pure (`peerRefusal`); what it needs about the peer process
 * and the system's users and groups is read here from /proc and /etc.
 */
import { readFile } from 'node:fs/promises';

/** The peer of a connection, from SO_PEERCRED. */
export interface Peer {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** Whom the admin socket serves besides root. */
export interface AccessRule {
  /** vFunD's own uid. */
  readonly daemonUid: number;
  /** The admin group's gid, when one is configured. */
  readonly group: { readonly name: string; readonly gid: number } | null;
}

/** Why `peer` (in `groups`, its supplementary groups) may not use the admin socket, or null when it may. */
export function peerRefusal(peer: Peer, groups: readonly number[], rule: AccessRule): string | null {
  if (peer.uid === 0 || peer.uid === rule.daemonUid) return null;
  const g = rule.group;
  if (g !== null && (peer.gid === g.gid || groups.includes(g.gid))) return null;
  const who = `uid ${peer.uid} (pid ${peer.pid})`;
  return g === null
    ? `${who} may not use vFunD's admin socket: only root and vFunD's user (uid ${rule.daemonUid}) may (no admin group is configured)`
    : `${who} may not use vFunD's admin socket: only root, vFunD's user (uid ${rule.daemonUid}) and members of group '${g.name}' (gid ${g.gid}) may`;
}

/** The supplementary groups of a live process (/proc/<pid>/status, `Groups:`); [] when it cannot be read. */
export async function processGroups(pid: number): Promise<number[]> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const line = /^Groups:\s*(.*)$/m.exec(status);
  return line === null ? [] : line[1]!.split(/\s+/).filter((x) => x !== '').map(Number).filter(Number.isInteger);
}

/** Fields of the line of a colon-separated database (/etc/passwd, /etc/group) whose field `at` is `value`. */
async function lookup(file: string, at: number, value: string): Promise<string[] | null> {
  const text = await readFile(file, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[at] === value) return fields;
  }
  return null;
}

/** The user name of `uid` (/etc/passwd), or null. */
export async function userName(uid: number): Promise<string | null> {
  return (await lookup('/etc/passwd', 2, String(uid)))?.[0] ?? null;
}

/** The gid of group `name` (/etc/group), or null. */
export async function groupId(name: string): Promise<number | null> {
  const gid = (await lookup('/etc/group', 0, name))?.[2];
  return gid === undefined || !/^\d+$/.test(gid) ? null : Number(gid);
}
