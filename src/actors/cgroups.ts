/**
 * Per-tenant CPU and memory limits on the tenants' service processes, through
 * the host's control groups (what the host offers: cgroup-host.ts).
 *
 * At start, every tenant with `limits` gets one group under a `virtfun`
 * parent in vFunD's own group, one level per vFunD so that several vFunDs
 * (one per root) never share a tenant's group:
 *
 *     <vFunD's group>/virtfun/vfund-<pid>/<tenant>
 *
 * - cgroup v2: `cpu.max` ("<quota> <period>"), `memory.max`, and
 *   `memory.swap.max` 0 when the file is there; the controllers are enabled
 *   in `cgroup.subtree_control` down the path. A group with processes in it
 *   cannot enable them, so a vFunD alone in its group moves itself into a
 *   leaf of it first (`<its group>/vfund`).
 * - cgroup v1: `cpu.cfs_period_us` / `cpu.cfs_quota_us`, and
 *   `memory.limit_in_bytes` with `memory.memsw.limit_in_bytes` (memory plus
 *   swap: no swap) when the file is there.
 *
 * Each service process is put into its tenant's groups by the `join` hook
 * of service-process.ts, after spawn and before it is told what to serve.
 * `explainKill` tells a SIGKILL the group's OOM counter accounts for. The
 * groups are removed when vFunD stops (`remove`), and groups of a vFunD that
 * died are removed by the next one.
 *
 * Where the host offers nothing usable (not root, a read-only cgroupfs, a
 * controller missing), `report()` says once which tenants' limits are not
 * enforced and why, and vFunD carries on: those limits are advisory. Nothing
 * about limits is journaled.
 */
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VirtFunError } from '../errors.js';
import { processAlive } from '../util/process.js';
import { detectCgroups, hostCgroupFs, type CgroupFs, type Controller, type ControllerOffer, type ControllerPlace } from './cgroup-host.js';

/** The CFS period vFunD sets: quota = cpus × period. */
export const CPU_PERIOD_US = 100_000;
/** The parent of every vFunD's groups, in vFunD's own group. */
export const CGROUP_PARENT = 'virtfun';
/** cgroup v2: the leaf of its own group vFunD moves itself into, so that the group may have limited children. */
export const V2_LEAF = 'vfund';
const MIB = 1024 * 1024;

export interface TenantLimits {
  readonly cpus?: number;
  readonly memoryMiB?: number;
}

/** What the service processes' runtime needs: put a process into its tenant's groups, explain a kill. */
export interface ServiceLimits {
  /** Put a new service process of `tenant` into the tenant's groups (nothing for a tenant without one). Throws if it cannot. */
  join(tenant: string, pid: number): Promise<void>;
  /**
   * Why a service process of `tenant` was killed with SIGKILL, when the tenant's memory group counted an
   * OOM kill not yet accounted for ("the OOM killer: tenant acme's memory limit of 64 MiB ..."); null otherwise.
   */
  explainKill(tenant: string): Promise<string | null>;
}

/** A limit of the configuration that is not enforced, and why. */
export interface AdvisoryLimit {
  readonly tenant: string;
  readonly limit: 'cpus' | 'memoryMiB';
  readonly reason: string;
}

/** A tenant's group in one hierarchy. */
export interface TenantGroupView {
  readonly version: 1 | 2;
  readonly dir: string;
}

interface MemoryGroup extends TenantGroupView {
  readonly mib: number;
  /** OOM kills of this group already accounted for. */
  oomKills: number;
  /** Times the group reached its limit (v2 memory.events, v1 failcnt), as last seen. */
  hits: number;
}

interface TenantGroup {
  /** Every directory the tenant's service processes join (one per hierarchy). */
  readonly dirs: Set<string>;
  cpu?: TenantGroupView & { readonly quotaUs: number };
  memory?: MemoryGroup;
}

const LIMIT_OF: Record<Controller, 'cpus' | 'memoryMiB'> = { cpu: 'cpus', memory: 'memoryMiB' };
/** How long explainKill waits for a kill to be counted: 50 × 20 ms. */
const OOM_COUNT_POLLS = 50;
const OOM_COUNT_POLL_MS = 20;
/** v1: a peak this close to the limit is the limit reached (charges come in batches of up to 64 pages). */
const PEAK_SLACK = 1024 * 1024;
const LEFTOVER = /^vfund-(\d+)(?:-\d+)?$/;
/** TenantCgroups made so far in this process, by pid: a second vFunD in one process gets vfund-<pid>-2. */
const made = new Map<number, number>();

export interface TenantCgroupsOptions {
  readonly fs?: CgroupFs;
  /** vFunD's pid (names its level: vfund-<pid>). */
  readonly pid?: number;
  /** vFunD's uid (named when permission is denied). */
  readonly uid?: number;
  /** Whether a pid is alive (groups of dead vFunDs are removed). */
  readonly alive?: (pid: number) => boolean;
}

export class TenantCgroups implements ServiceLimits {
  private readonly groups = new Map<string, TenantGroup>();
  /** Limits that are configured but not enforced, with the reason. */
  readonly advisory: AdvisoryLimit[] = [];
  /** Notes for the log: leftovers removed, controllers enabled, swap not limited. */
  readonly notes: string[] = [];
  /** The vfund-<pid> directory of each hierarchy used. */
  private readonly levels = new Set<string>();
  /** `virtfun` parents already searched for leftovers. */
  private readonly cleaned = new Set<string>();
  private removed: Promise<string[]> | null = null;

  private constructor(
    private readonly fs: CgroupFs,
    private readonly uid: number,
  ) {}

  /**
   * Detect what the host offers and create a group for every tenant with limits. Never throws for
   * want of cgroups: what cannot be enforced is listed in `advisory`.
   */
  static async create(tenants: readonly { readonly id: string; readonly limits?: TenantLimits | undefined }[], options: TenantCgroupsOptions = {}): Promise<TenantCgroups> {
    const fs = options.fs ?? hostCgroupFs;
    const pid = options.pid ?? process.pid;
    const self = new TenantCgroups(fs, options.uid ?? process.getuid?.() ?? -1);
    const limited = tenants.filter((t) => t.limits !== undefined && (t.limits.cpus !== undefined || t.limits.memoryMiB !== undefined));
    if (limited.length === 0) return self;
    const wanted = (c: Controller, t: (typeof limited)[number]): boolean => (c === 'cpu' ? t.limits!.cpus !== undefined : t.limits!.memoryMiB !== undefined);
    const n = (made.get(pid) ?? 0) + 1;
    made.set(pid, n);
    const level = `vfund-${pid}${n === 1 ? '' : `-${n}`}`;
    const offers = await detectCgroups(fs);
    for (const controller of ['cpu', 'memory'] as const) {
      if (!limited.some((t) => wanted(controller, t))) continue;
      let offer: ControllerOffer = offers[controller];
      if (offer.ok) {
        // v2: a vFunD that moved itself into its leaf (below) counts the group above as its own.
        const p = offer.place;
        const place = p.version === 2 && basename(p.own) === V2_LEAF ? { ...p, own: dirname(p.own) } : p;
        const failure = await self.prepare(place, level, options.alive ?? processAlive, pid);
        offer = failure === null ? { ok: true, place } : { ok: false, reason: failure };
      }
      for (const t of limited.filter((t) => wanted(controller, t))) {
        const failure = offer.ok ? await self.createGroup(t.id, t.limits!, offer.place, level) : offer.reason;
        if (failure !== null) self.advisory.push({ tenant: t.id, limit: LIMIT_OF[controller], reason: failure });
      }
    }
    return self;
  }

  /** The tenant's groups (for operators and tests); undefined when it has none. */
  group(tenant: string): { readonly cpu?: TenantGroupView; readonly memory?: TenantGroupView } | undefined {
    const g = this.groups.get(tenant);
    if (!g) return undefined;
    return { ...(g.cpu && { cpu: { version: g.cpu.version, dir: g.cpu.dir } }), ...(g.memory && { memory: { version: g.memory.version, dir: g.memory.dir } }) };
  }

  /** Whether the tenant's limit is enforced. */
  enforced(tenant: string, limit: 'cpus' | 'memoryMiB'): boolean {
    const g = this.groups.get(tenant);
    return limit === 'cpus' ? g?.cpu !== undefined : g?.memory !== undefined;
  }

  /** What to say in vFunD's log at start: the groups, then (once) the limits that are not enforced and why. */
  report(): string[] {
    const lines = [...this.notes];
    for (const [tenant, g] of this.groups) {
      const parts = [
        g.cpu && `cpus ${g.cpu.quotaUs / CPU_PERIOD_US} (cgroup v${g.cpu.version}, ${g.cpu.dir})`,
        g.memory && `memoryMiB ${g.memory.mib} (cgroup v${g.memory.version}, ${g.memory.dir})`,
      ].filter(Boolean);
      lines.push(`resource limits of tenant ${tenant}: ${parts.join(', ')}`);
    }
    if (this.advisory.length > 0) {
      const byReason = new Map<string, string[]>();
      for (const a of this.advisory) byReason.set(a.reason, [...(byReason.get(a.reason) ?? []), `${a.tenant}.${a.limit}`]);
      lines.push(
        `resource limits NOT enforced, advisory only: ${[...byReason].map(([reason, which]) => `${which.join(', ')}: ${reason}`).join('; ')}`,
      );
    }
    return lines;
  }

  async join(tenant: string, pid: number): Promise<void> {
    const g = this.groups.get(tenant);
    if (!g) return;
    for (const dir of g.dirs) {
      try {
        await this.fs.writeFile(join(dir, 'cgroup.procs'), String(pid));
      } catch (err) {
        throw new VirtFunError('SERVICE_ERROR', `could not put service process ${pid} into tenant ${tenant}'s cgroup ${dir}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  async explainKill(tenant: string): Promise<string | null> {
    const m = this.groups.get(tenant)?.memory;
    if (!m) return null;
    const limit = `tenant ${tenant}'s memory limit of ${m.mib} MiB`;
    try {
      const reached = await this.reachedLimit(m);
      let kills = await this.oomKills(m);
      if (kills !== null) {
        // The kernel counts the kill after it has sent SIGKILL and logged it, so the count can lag behind the
        // exit vFunD saw: when the group did reach its limit, wait for the count (1 s at most).
        for (let i = 0; reached !== null && kills <= m.oomKills && i < OOM_COUNT_POLLS; i++) {
          await sleep(OOM_COUNT_POLL_MS);
          kills = (await this.oomKills(m))!;
        }
        // One kill per process: several processes of the tenant killed at once take one each.
        if (kills <= m.oomKills) return null;
        m.oomKills++;
        return `the OOM killer: ${limit}; ${m.version === 2 ? 'memory.events' : 'memory.oom_control'} oom_kill ${kills}`;
      }
      // A kernel without the oom_kill counter: the group reaching its limit is all there is to go by.
      return reached !== null ? `most likely the OOM killer: the group reached ${limit}; ${reached}` : null;
    } catch {
      return null;
    }
  }

  /** OOM kills the group counted (v2 memory.events, v1 memory.oom_control), or null when the kernel has no such counter. */
  private async oomKills(m: MemoryGroup): Promise<number | null> {
    return counter(await this.fs.readFile(join(m.dir, m.version === 2 ? 'memory.events' : 'memory.oom_control')), 'oom_kill');
  }

  /**
   * Whether the group reached its limit since it was last asked, and the evidence; null if not.
   * v2: memory.events `oom` (`max` on old kernels). v1: memory.failcnt / memory.memsw.failcnt, and, as
   * recent kernels no longer count those for v1, the peak (memory.max_usage_in_bytes and the memsw one)
   * at the limit, which is then reset so that the next question starts afresh.
   */
  private async reachedLimit(m: MemoryGroup): Promise<string | null> {
    if (m.version === 2) {
      const events = await this.fs.readFile(join(m.dir, 'memory.events'));
      const [key, n] = counter(events, 'oom') !== null ? ['oom', counter(events, 'oom')!] : ['max', counter(events, 'max') ?? 0];
      if (n <= m.hits) return null;
      m.hits = n;
      return `memory.events ${key} ${n}`;
    }
    const failcnt = await this.v1Failcnt(m);
    if (failcnt > m.hits) {
      m.hits = failcnt;
      return `memory.failcnt ${failcnt}`;
    }
    const peaks = ['memory.max_usage_in_bytes', 'memory.memsw.max_usage_in_bytes'].map((f) => join(m.dir, f));
    for (const file of peaks) {
      if (!(await this.fs.exists(file))) continue;
      const peak = Number((await this.fs.readFile(file)).trim());
      if (!(peak >= m.mib * MIB - PEAK_SLACK)) continue;
      for (const f of peaks) if (await this.fs.exists(f)) await this.fs.writeFile(f, '0').catch(() => undefined);
      return `${file.slice(m.dir.length + 1)} ${peak}`;
    }
    return null;
  }

  /** v1: times a charge failed at the limit (memory, memory+swap). */
  private async v1Failcnt(m: MemoryGroup): Promise<number> {
    let count = 0;
    for (const file of ['memory.failcnt', 'memory.memsw.failcnt']) {
      const path = join(m.dir, file);
      if (await this.fs.exists(path)) count += Number((await this.fs.readFile(path)).trim()) || 0;
    }
    return count;
  }

  /**
   * Remove every group this vFunD created (after its service processes stopped), and the `virtfun`
   * parent when no other vFunD uses it. Returns what could not be removed. Idempotent.
   */
  remove(): Promise<string[]> {
    return (this.removed ??= (async () => {
      const problems: string[] = [];
      const tryRmdir = async (dir: string, quiet: boolean): Promise<void> => {
        try {
          await this.fs.rmdir(dir);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'ENOENT' && !quiet) problems.push(`could not remove cgroup ${dir}: ${(err as Error).message}`);
        }
      };
      for (const g of this.groups.values()) for (const dir of g.dirs) await tryRmdir(dir, false);
      for (const level of this.levels) await tryRmdir(level, false);
      // Another vFunD may still use the parent: then it is not empty, and stays.
      for (const parent of new Set([...this.levels].map((l) => join(l, '..')))) await tryRmdir(parent, true);
      return problems;
    })());
  }

  /** Create `virtfun/vfund-<pid>` in vFunD's group of a hierarchy; null, or why it cannot be used. */
  private async prepare(place: ControllerPlace, level: string, alive: (pid: number) => boolean, pid: number): Promise<string | null> {
    const parent = join(place.own, CGROUP_PARENT);
    const dir = join(parent, level);
    const v2 = place.version === 2;
    let at = place.own;
    try {
      if (v2) await this.delegate(place.own, place.controller, pid);
      at = parent;
      await this.mkdirOk(parent);
      if (!this.cleaned.has(parent)) {
        this.cleaned.add(parent);
        await this.removeLeftovers(parent, alive, pid);
      }
      if (v2) await this.enableController(parent, place.controller);
      at = dir;
      await this.mkdirOk(dir);
      if (v2) await this.enableController(dir, place.controller);
      this.levels.add(dir);
      return null;
    } catch (err) {
      return this.why(err, at, place);
    }
  }

  /** v2: make `dir`'s children get the controller (cgroup.subtree_control). */
  private async enableController(dir: string, controller: Controller, note = false): Promise<void> {
    const file = join(dir, 'cgroup.subtree_control');
    if ((await this.fs.readFile(file)).split(/\s+/).includes(controller)) return;
    await this.fs.writeFile(file, `+${controller}`);
    if (note) this.notes.push(`enabled the ${controller} controller in ${file}`);
  }

  /**
   * v2: make vFunD's own group hand the controller to its children. cgroup v2 lets a group (other than
   * the root) do so only while no process is in it ("no internal processes"), so a vFunD alone in its
   * group (a systemd service with Delegate=yes) first moves itself into a leaf of it, `vfund`. A group
   * shared with other processes (a login shell's) is not vFunD's to rearrange: that is the reason given.
   */
  private async delegate(own: string, controller: Controller, pid: number): Promise<void> {
    try {
      await this.enableController(own, controller, true);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
    }
    const others = (await this.fs.readFile(join(own, 'cgroup.procs'))).split(/\s+/).filter((p) => p !== '' && p !== String(pid));
    if (others.length > 0) {
      throw new Unusable(
        `cgroup v2 ${controller}: vFunD's group ${own} also holds other processes (${others.slice(0, 5).join(', ')}${others.length > 5 ? ', ...' : ''}), ` +
          `and a group with processes in it cannot hand controllers to child groups: run vFunD in a group of its own (systemd: a service with Delegate=yes)`,
      );
    }
    const leaf = join(own, V2_LEAF);
    await this.mkdirOk(leaf);
    await this.fs.writeFile(join(leaf, 'cgroup.procs'), String(pid));
    this.notes.push(`moved vFunD (pid ${pid}) into ${leaf}: a cgroup v2 group with processes in it cannot hand controllers to child groups`);
    await this.enableController(own, controller, true);
  }

  /** Groups a vFunD that died left behind (its service processes died with it: they are empty). */
  private async removeLeftovers(parent: string, alive: (pid: number) => boolean, pid: number): Promise<void> {
    for (const name of await this.fs.subdirs(parent)) {
      const m = LEFTOVER.exec(name);
      const owner = Number(m?.[1]);
      if (!m || owner === pid || alive(owner)) continue;
      const level = join(parent, name);
      try {
        for (const tenant of await this.fs.subdirs(level)) await this.fs.rmdir(join(level, tenant));
        await this.fs.rmdir(level);
        this.notes.push(`removed cgroup ${level}, left by a vFunD that did not stop`);
      } catch (err) {
        this.notes.push(`could not remove cgroup ${level}, left by a vFunD that did not stop: ${(err as Error).message}`);
      }
    }
  }

  /** The tenant's group in one hierarchy, with its limit; null, or why not. */
  private async createGroup(tenant: string, limits: TenantLimits, place: ControllerPlace, level: string): Promise<string | null> {
    const dir = join(place.own, CGROUP_PARENT, level, tenant);
    const g = this.groups.get(tenant) ?? { dirs: new Set<string>() };
    const created = !g.dirs.has(dir);
    let at = dir;
    try {
      if (created) await this.mkdirOk(dir);
      if (place.controller === 'cpu') {
        const quotaUs = Math.round(limits.cpus! * CPU_PERIOD_US);
        if (place.version === 2) {
          at = join(dir, 'cpu.max');
          await this.fs.writeFile(at, `${quotaUs} ${CPU_PERIOD_US}`);
        } else {
          at = join(dir, 'cpu.cfs_period_us');
          await this.fs.writeFile(at, String(CPU_PERIOD_US));
          at = join(dir, 'cpu.cfs_quota_us');
          await this.fs.writeFile(at, String(quotaUs));
        }
        g.cpu = { version: place.version, dir, quotaUs };
      } else {
        const mib = limits.memoryMiB!;
        const bytes = String(mib * MIB);
        const [limitFile, swapFile, swapValue] =
          place.version === 2 ? ['memory.max', 'memory.swap.max', '0'] : ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes', bytes];
        at = join(dir, limitFile);
        await this.fs.writeFile(at, bytes);
        const swap = join(dir, swapFile);
        if (await this.fs.exists(swap)) {
          await this.fs.writeFile(swap, swapValue).catch((err: Error) => this.notes.push(`tenant ${tenant}: swap is not limited (${swap}: ${err.message})`));
        }
        g.memory = { version: place.version, dir, mib, oomKills: 0, hits: 0 };
      }
    } catch (err) {
      if (created) await this.fs.rmdir(dir).catch(() => undefined);
      return this.why(err, at, place);
    }
    g.dirs.add(dir);
    this.groups.set(tenant, g);
    // Counters start from what the group already counted (a group vFunD reuses).
    if (g.memory && place.controller === 'memory') {
      g.memory.oomKills = (await this.oomKills(g.memory).catch(() => null)) ?? 0;
      await this.reachedLimit(g.memory).catch(() => null);
    }
    return null;
  }

  private async mkdirOk(dir: string): Promise<void> {
    try {
      await this.fs.mkdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }

  /** Why a hierarchy cannot be used, in words an operator can act on. */
  private why(err: unknown, path: string, place: ControllerPlace): string {
    if (err instanceof Unusable) return err.message;
    const code = (err as NodeJS.ErrnoException).code;
    const where = `cgroup v${place.version} ${place.controller}`;
    if (code === 'EACCES' || code === 'EPERM') return `${where}: permission denied on ${path} (vFunD runs as uid ${this.uid}${this.uid === 0 ? '' : ', not root'})`;
    if (code === 'EROFS') return `${where}: ${path} is on a read-only file system`;
    return `${where}: ${path}: ${(err as Error).message}`;
  }
}

/** A hierarchy vFunD must not use, and why (the message). */
class Unusable extends Error {}

/** `key N` in a flat-keyed cgroup file (memory.events, memory.oom_control), or null when absent. */
function counter(text: string, key: string): number | null {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}
