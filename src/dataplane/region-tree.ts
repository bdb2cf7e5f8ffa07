/**
 * The paper's file tree (§3.3, Figure 6) under a configurable root:
 *
 *   <root>/admin/                           vFunD's own entries (journal, instances/, the root's lock)
 *   <root>/service/<tenant>/<app>/<fn>/     the service of each instance (service.json)
 *   <root>/vmcli/<tenant>/<app>/<fn>/       the shared region: region.json (sealed memfds handed
 *                                           over the control socket), or dataout, datain files
 *
 * Directories are 0700, files 0600. Every directory component below the root
 * is checked with lstat: a symlink or a non-directory is refused, so nothing
 * is ever created or opened outside the tree. Names are validated before
 * they become path components.
 */
import { chmod, chown, lstat, mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ValidationError, VirtFunError } from '../errors.js';
import { checkName } from '../util/names.js';
import { readControlFile } from './control-file.js';
import { lockRoot, type RootLock } from './root-lock.js';
import type { ServiceStats } from './service.js';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;
/** What an instance's region is and how a guest gets it, in its `vmcli/<tenant>/<app>/<fn>` directory (region-fds.ts). */
export const REGION_ENTRY = 'region.json';
/** vFunD's control area of an instance, in its service directory (control-file.ts). */
export const CONTROL_FILE = 'control';
/** A VM tenant's ivshmem window, in its `vmcli/<tenant>` directory. */
export const WINDOW_FILE = 'ivshmem.shm';

export interface RegionPaths {
  /** `<root>/vmcli/<tenant>/<app>/<fn>` */
  readonly dir: string;
  readonly dataout: string;
  readonly datain: string;
  /** `<root>/service/<tenant>/<app>/<fn>` */
  readonly serviceDir: string;
}

export interface Owner {
  readonly tenant: string;
  readonly app: string;
  readonly fn: string;
}

/** Throws ValidationError naming the field when a name could escape the tree. */
export function checkOwner(o: Owner): void {
  for (const [field, value] of [['tenant', o.tenant], ['app', o.app], ['fn', o.fn]] as const) {
    const bad = checkName(field, value);
    if (bad) throw new ValidationError(field, bad.slice(field.length + 1));
  }
}

/** A tenant's OS identity: its guests run as this uid/gid (vFunD must then run as root). */
export interface TenantIdentity {
  readonly uid: number;
  readonly gid: number;
}

/**
 * With tenant identities, the tree isolates tenants by the OS: every directory
 * stays owned by vFunD (so no tenant can swap a directory for a symlink);
 * `vmcli/<tenant>/...` directories get the tenant's group and mode 0750 (only
 * that tenant may enter and list, none may rename); the region files and the
 * control socket are the tenant's (0600). Another tenant can neither open,
 * map nor learn the names of anything there.
 */
export class RegionTree {
  readonly root: string;
  constructor(
    root: string,
    private readonly identities: ReadonlyMap<string, TenantIdentity> = new Map(),
  ) {
    this.root = resolve(root);
  }

  identityOf(tenant: string): TenantIdentity | undefined {
    return this.identities.get(tenant);
  }

  /** Give a file of a tenant's branch to the tenant (0600), when tenants have OS identities. */
  async handOver(tenant: string, path: string): Promise<void> {
    const id = this.identities.get(tenant);
    if (!id) return;
    await chown(path, id.uid, id.gid);
    await chmod(path, FILE_MODE);
  }

  /** Create `vmcli/<tenant>` (group = the tenant's, 0750 when it has an identity). */
  async prepareTenant(tenant: string): Promise<string> {
    const bad = checkName('tenant', tenant);
    if (bad) throw new ValidationError('tenant', bad);
    const d = join(this.root, 'vmcli', tenant);
    await this.ensureDir(d, tenant);
    return d;
  }

  get adminDir(): string {
    return join(this.root, 'admin');
  }

  /** Paths of an instance's region and service directory (names validated). */
  paths(o: Owner): RegionPaths {
    checkOwner(o);
    const dir = join(this.root, 'vmcli', o.tenant, o.app, o.fn);
    return {
      dir,
      dataout: join(dir, 'dataout'),
      datain: join(dir, 'datain'),
      serviceDir: join(this.root, 'service', o.tenant, o.app, o.fn),
    };
  }

  /** Create the root and its three branches (0700; root and vmcli 0711 when tenants have OS identities). */
  async prepare(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: DIR_MODE });
    await this.checkDir(this.root);
    const traverse = this.identities.size > 0 ? 0o711 : DIR_MODE;
    await chmod(this.root, traverse);
    for (const b of ['admin', 'service']) await this.ensureDir(join(this.root, b));
    await this.ensureDir(join(this.root, 'vmcli'), undefined, traverse);
    await this.ensureDir(join(this.adminDir, 'instances'));
  }

  /** The ivshmem window of a tenant that is a VM: `vmcli/<tenant>/ivshmem.shm`. */
  windowPath(tenant: string): string {
    const bad = checkName('tenant', tenant);
    if (bad) throw new ValidationError('tenant', bad);
    return join(this.root, 'vmcli', tenant, WINDOW_FILE);
  }

  /**
   * Create the directories of an instance (0700, no symlink followed); returns
   * its paths. `regionDir: false` (an instance in a VM's window) creates only
   * the service directory.
   */
  async create(o: Owner, options: { regionDir?: boolean } = {}): Promise<RegionPaths> {
    const p = this.paths(o);
    const branches = options.regionDir === false ? (['service'] as const) : (['vmcli', 'service'] as const);
    for (const branch of branches) {
      let d = join(this.root, branch);
      for (const part of [o.tenant, o.app, o.fn]) {
        d = join(d, part);
        await this.ensureDir(d, branch === 'vmcli' ? o.tenant : undefined);
      }
    }
    return p;
  }

  private rootLock: RootLock | null = null;

  /**
   * Take the root for this process: flock on `admin/vfund.lock`, held until
   * `unlock` (root-lock.ts). A root held by a live vFunD is refused naming its
   * pid; a pid file left by a process that is gone blocks nothing.
   */
  async lock(): Promise<void> {
    this.rootLock ??= await lockRoot(this.root, this.adminDir);
  }

  /** Give the root back: the lock and the pid file go. */
  async unlock(): Promise<void> {
    const held = this.rootLock;
    this.rootLock = null;
    await held?.release();
  }

  /**
   * Remove what a vFunD that did not stop cleanly left behind: every instance
   * directory and admin entry (vFunD releases every instance it finds live in
   * the journal when it starts). Returns the region directories removed.
   */
  async removeLeftovers(): Promise<string[]> {
    const removed: string[] = [];
    const vmcli = join(this.root, 'vmcli');
    // A tenant without an OS identity can write its branch: a link (or a file) in place of its
    // directory is removed itself, never listed nor cleaned through.
    const isDir = async (p: string) => (await lstat(p).catch(() => null))?.isDirectory() === true;
    for (const tenant of await readdir(vmcli).catch(() => [] as string[])) {
      if (!(await isDir(join(vmcli, tenant)))) continue;
      for (const app of await readdir(join(vmcli, tenant)).catch(() => [] as string[])) {
        if (app === WINDOW_FILE || app === 'control.sock') continue;
        for (const fn of await readdir(join(vmcli, tenant, app)).catch(() => [] as string[])) removed.push(join(vmcli, tenant, app, fn));
      }
    }
    this.recovered = await this.readLeftoverCounters();
    for (const entry of await readdir(join(this.root, 'service'))) await rm(join(this.root, 'service', entry), { recursive: true, force: true });
    // A VM's window stays (its QEMU may still map it; the next vFunD re-initialises it in place).
    for (const tenant of await readdir(vmcli)) {
      const d = join(vmcli, tenant);
      const kids = (await isDir(d)) ? await readdir(d).catch(() => null) : null;
      if (kids === null) {
        await rm(d, { recursive: true, force: true });
        continue;
      }
      for (const k of kids) if (k !== WINDOW_FILE) await rm(join(d, k), { recursive: true, force: true });
      await rmdir(d).catch(() => undefined);
    }
    for (const entry of await readdir(join(this.adminDir, 'instances'))) await rm(join(this.adminDir, 'instances', entry), { force: true });
    return removed;
  }

  /**
   * Counters of the instances removeLeftovers found, by instance id, read
   * from the control files that outlived their service processes (null:
   * unknown). Filled by removeLeftovers.
   */
  recovered: Readonly<Record<string, ServiceStats | null>> = {};

  /** `service/<tenant>/<app>/<fn>/{service.json,control}` of every leftover instance. */
  private async readLeftoverCounters(): Promise<Record<string, ServiceStats | null>> {
    const out: Record<string, ServiceStats | null> = {};
    const service = join(this.root, 'service');
    const list = (d: string) => readdir(d).catch(() => [] as string[]);
    for (const tenant of await list(service)) {
      for (const app of await list(join(service, tenant))) {
        for (const fn of await list(join(service, tenant, app))) {
          const dir = join(service, tenant, app, fn);
          let instance: unknown;
          try {
            instance = (JSON.parse(await readFile(join(dir, 'service.json'), 'utf8')) as { instance?: unknown }).instance;
          } catch {
            continue; // no entry: the activation never finished, nothing was served
          }
          if (typeof instance === 'string' && checkName('instance', instance) === null) out[instance] = readControlFile(join(dir, CONTROL_FILE));
        }
      }
    }
    return out;
  }

  /** Write an admin entry for an instance (0600). */
  async writeAdminEntry(instance: string, entry: unknown): Promise<string> {
    const bad = checkName('instance', instance);
    if (bad) throw new ValidationError('instance', bad);
    const path = join(this.adminDir, 'instances', `${instance}.json`);
    await writeFile(path, JSON.stringify(entry, null, 2) + '\n', { mode: FILE_MODE, flag: 'w' });
    return path;
  }

  /**
   * Remove everything of an instance: region files, service dir, admin entry,
   * and the tenant/app directories left empty. Idempotent.
   */
  async remove(o: Owner, instance: string): Promise<void> {
    const p = this.paths(o);
    await this.removeRegionDir(o);
    await rm(p.serviceDir, { recursive: true, force: true });
    await rm(join(this.adminDir, 'instances', `${instance}.json`), { force: true });
    for (const branch of ['vmcli', 'service']) {
      for (const d of [join(this.root, branch, o.tenant, o.app), join(this.root, branch, o.tenant)]) {
        await rmdir(d).catch(() => undefined); // not empty, or gone: leave it
      }
    }
  }

  /**
   * Remove `vmcli/<tenant>/<app>/<fn>` without following what a tenant put in
   * place of its directories (a tenant without an OS identity of its own can
   * write its branch: it may have swapped one for a file or a symlink).
   * Whatever stands at `<fn>` is removed itself (a link, never its target);
   * when `<tenant>` or `<app>` is no longer a directory, the instance's
   * directory is not there and nothing is removed through it.
   */
  private async removeRegionDir(o: Owner): Promise<void> {
    let d = join(this.root, 'vmcli');
    for (const part of [o.tenant, o.app]) {
      d = join(d, part);
      const st = await lstat(d).catch(() => null);
      if (st === null || !st.isDirectory()) return;
    }
    await rm(join(d, o.fn), { recursive: true, force: true });
  }

  /** mkdir (no symlink followed), owned by vFunD; in a tenant's vmcli branch, group = tenant, 0750. */
  private async ensureDir(d: string, tenant?: string, mode: number = DIR_MODE): Promise<void> {
    try {
      await mkdir(d, { mode: DIR_MODE });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    await this.checkDir(d);
    const id = tenant === undefined ? undefined : this.identities.get(tenant);
    if (id) {
      await chown(d, process.getuid?.() ?? 0, id.gid);
      await chmod(d, 0o750);
    } else {
      await chmod(d, mode);
    }
  }

  private async checkDir(d: string): Promise<void> {
    const st = await lstat(d);
    if (st.isSymbolicLink()) throw new VirtFunError('REGION', `${d} is a symbolic link: refused (the region tree never follows links)`);
    if (!st.isDirectory()) throw new VirtFunError('REGION', `${d} exists and is not a directory`);
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
      throw new VirtFunError('REGION', `${d} belongs to uid ${st.uid}, not to this vFunD (uid ${process.getuid()})`);
    }
  }
}
