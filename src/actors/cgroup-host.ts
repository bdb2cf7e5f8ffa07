/**
 * What control groups this host offers vFunD for the two resources a tenant
 * can be limited in (cpu, memory), and where vFunD's own group is in each
 * hierarchy. Read from /proc/self/mountinfo (which cgroup filesystems are
 * mounted where, with which controllers, read-only or not) and
 * /proc/self/cgroup (vFunD's group in each hierarchy):
 *
 * - cgroup v2: the unified hierarchy offers a controller when vFunD's group
 *   lists it in `cgroup.controllers` (its parent hands it down);
 * - cgroup v1: a hierarchy mounted with the controller (`cpu`, possibly
 *   co-mounted as `cpu,cpuacct`; `memory`).
 *
 * A controller is in one hierarchy at most, so each resource is looked for in
 * v2 first, then in v1 (a hybrid host may have memory in one and cpu in the
 * other). Nothing is created here: src/actors/cgroups.ts does that. The file
 * operations go through `CgroupFs`, so the logic can be tested against a fake
 * cgroup filesystem (v2, read-only, a missing controller) on any host.
 */
import { constants } from 'node:fs';
import { access, mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type Controller = 'cpu' | 'memory';
export const CONTROLLERS: readonly Controller[] = ['cpu', 'memory'];

/** The few file operations cgroups need. */
export interface CgroupFs {
  readFile(path: string): Promise<string>;
  /** Write an existing file (a cgroup interface file) in one write; never creates a file. */
  writeFile(path: string, data: string): Promise<void>;
  /** Create one directory (EEXIST when it exists). */
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  /** Names of the directory's subdirectories. */
  subdirs(path: string): Promise<string[]>;
  exists(path: string): Promise<boolean>;
}

/** The host's own files. */
export const hostCgroupFs: CgroupFs = {
  readFile: (path) => readFile(path, 'utf8'),
  writeFile: (path, data) => writeFile(path, data, { flag: constants.O_WRONLY }),
  mkdir: async (path) => {
    await mkdir(path);
  },
  rmdir: (path) => rmdir(path),
  subdirs: async (path) => (await readdir(path, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name),
  exists: (path) =>
    access(path).then(
      () => true,
      () => false,
    ),
};

/** Where a controller is: its hierarchy, and vFunD's own group there. */
export interface ControllerPlace {
  readonly controller: Controller;
  readonly version: 1 | 2;
  /** Where the hierarchy is mounted. */
  readonly mount: string;
  /** vFunD's own group in that hierarchy (a directory under `mount`). */
  readonly own: string;
}

/** A controller vFunD can use, or why not. */
export type ControllerOffer = { readonly ok: true; readonly place: ControllerPlace } | { readonly ok: false; readonly reason: string };

interface CgroupMount {
  readonly point: string;
  /** The part of the hierarchy mounted there ('/' for all of it). */
  readonly root: string;
  readonly fstype: 'cgroup' | 'cgroup2';
  readonly readOnly: boolean;
  /** v1: the controllers of the hierarchy (from the super options). */
  readonly controllers: readonly string[];
}

/** mountinfo escapes space, tab, newline and backslash as octal (`\040`). */
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The cgroup filesystems of /proc/self/mountinfo (proc(5)). */
export function parseMountinfo(text: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const l = left.split(' ');
    const [fstype, , superOptions = ''] = right.split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const root = l[3];
    const point = l[4];
    if (root === undefined || point === undefined) continue;
    const mountOpts = (l[5] ?? '').split(',');
    const superOpts = superOptions.split(',');
    out.push({
      point: unescape(point),
      root: unescape(root),
      fstype,
      readOnly: mountOpts.includes('ro') || superOpts.includes('ro'),
      controllers: fstype === 'cgroup' ? superOpts.filter((o) => o !== 'rw' && o !== 'ro' && !o.includes('=')) : [],
    });
  }
  return out;
}

/** vFunD's group in each hierarchy, from /proc/self/cgroup (cgroups(7)): v2's path, and v1's by controller. */
export function parseSelfCgroup(text: string): { readonly v2: string | null; readonly v1: ReadonlyMap<string, string> } {
  let v2: string | null = null;
  const v1 = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, id, controllers = '', path = '/'] = m;
    if (id === '0' && controllers === '') v2 = path;
    else for (const c of controllers.split(',')) if (c !== '') v1.set(c, path);
  }
  return { v2, v1 };
}

/** The directory of group `path` under a mount of (part of) its hierarchy, or null if the mount does not show it. */
function groupDir(mount: CgroupMount, path: string): string | null {
  const under = mount.root === '/' ? path : path === mount.root || path.startsWith(mount.root + '/') ? path.slice(mount.root.length) : null;
  return under === null ? null : join(mount.point, under, '.');
}

/** Which controllers the host offers vFunD, and where; for the others, why not. */
export async function detectCgroups(fs: CgroupFs = hostCgroupFs): Promise<Record<Controller, ControllerOffer>> {
  let mountinfo: string;
  let self: string;
  try {
    mountinfo = await fs.readFile('/proc/self/mountinfo');
    self = await fs.readFile('/proc/self/cgroup');
  } catch (err) {
    const reason = `this host shows no control groups (${(err as Error).message})`;
    return { cpu: { ok: false, reason }, memory: { ok: false, reason } };
  }
  const mounts = parseMountinfo(mountinfo);
  const member = parseSelfCgroup(self);
  const out = {} as Record<Controller, ControllerOffer>;
  for (const controller of CONTROLLERS) {
    // cgroup v2 first: a controller the unified hierarchy hands to vFunD's group.
    let v2note = 'no cgroup v2 hierarchy is mounted';
    const unified = mounts.find((m) => m.fstype === 'cgroup2' && member.v2 !== null && groupDir(m, member.v2) !== null);
    if (unified && member.v2 !== null) {
      const own = groupDir(unified, member.v2)!;
      const available = (await fs.readFile(join(own, 'cgroup.controllers')).catch(() => '')).split(/\s+/).filter(Boolean);
      if (available.includes(controller)) {
        out[controller] = unified.readOnly
          ? { ok: false, reason: `cgroup v2 at ${unified.point} is mounted read-only` }
          : { ok: true, place: { controller, version: 2, mount: unified.point, own } };
        continue;
      }
      v2note = `cgroup v2 at ${unified.point} offers vFunD's group ${available.length ? `only ${available.join(' ')}` : 'no controller'}`;
    }
    // Then a cgroup v1 hierarchy with the controller.
    const path = member.v1.get(controller);
    const v1 = mounts.find((m) => m.fstype === 'cgroup' && m.controllers.includes(controller) && path !== undefined && groupDir(m, path) !== null);
    if (v1 && path !== undefined) {
      out[controller] = v1.readOnly
        ? { ok: false, reason: `cgroup v1 ${controller} at ${v1.point} is mounted read-only` }
        : { ok: true, place: { controller, version: 1, mount: v1.point, own: groupDir(v1, path)! } };
      continue;
    }
    out[controller] = { ok: false, reason: `no ${controller} controller: ${v2note}, and no cgroup v1 hierarchy with ${controller} is mounted` };
  }
  return out;
}
