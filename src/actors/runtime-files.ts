/**
 * The cross-process runtime: each instance's region is a pair of sealed
 * memfds (region-fds.ts) that no one can resize, named in the paper's tree
 * (`<root>/vmcli/<tenant>/<app>/<fn>/region.json`) and handed to the guest
 * over its control socket; or, for a VM tenant, a slot of its ivshmem
 * window. The service runs in a service process of its own
 * (service-process.ts), so a tenant's fault stays in that process. vFunD
 * maps no region. Activation writes an admin entry, a service entry and the
 * control file; release removes every trace of the instance.
 */
import { webgpuDriverParts } from '../gpu/drivers.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ControlFile } from '../dataplane/control-file.js';
import { closeFdRegion, createMemfdRegion, writeFdTombstone, type FdRegion, type RegionEntry } from '../dataplane/region-fds.js';
import { CONTROL_FILE, FILE_MODE, REGION_ENTRY, RegionTree, type TenantIdentity } from '../dataplane/region-tree.js';
import type { WindowRegion } from '../dataplane/region-window.js';
import { WindowHost, writeWindowTombstone } from '../dataplane/window-host.js';
import { WINDOW_SPIN_MICROS } from '../dataplane/window-wait.js';
import type { WindowPlan } from '../dataplane/window.js';
import { VirtFunError } from '../errors.js';
import type { ComputationStats } from '../domain/types.js';
import { requireShm } from '../native/shm.js';
import type { ServiceLimits } from './cgroups.js';
import type { ActivationSpec, InstanceRuntime, RuntimeFactory } from './runtime.js';
import { processRuntime } from './process-runtime.js';
import type { ServiceProcessOptions } from './service-process.js';
import { driverModuleOf, toComputationStats, type SupervisedRuntimeOptions } from './supervisor.js';

/** Options of `FileRuntime.create`: the region tree's root and the tenants' identities, windows and limits. */
export interface FileRuntimeOptions extends SupervisedRuntimeOptions {
  /** Root of the region tree (`vmcli/`, `service/`, `admin/`); one vFunD per root (it takes a lock). */
  readonly root: string;
  /** Tenants whose guests run as their own OS user (vFunD must be root). */
  readonly identities?: ReadonlyMap<string, TenantIdentity>;
  /** Tenants that are virtual machines: their regions are slots of one ivshmem window each. */
  readonly windows?: ReadonlyMap<string, WindowPlan>;
  /** Tenants' CPU and memory limits: each service process joins its tenant's cgroups (cgroups.ts). */
  readonly limits?: ServiceLimits;
}

/** A region of the tree: two sealed memfds, or a slot of a VM tenant's window. */
export type HostRegion = FdRegion | WindowRegion;

/**
 * The cross-process backend (see the module's comment): sealed-memfd regions or VM window slots, each
 * service in a sandboxed process of its own. Needs the native addon; build one with `FileRuntime.create`
 * and `close()` it after vFunD stopped.
 */
export class FileRuntime implements RuntimeFactory<HostRegion> {
  /** The region tree under `root`: region, service and admin entries of every instance. */
  readonly tree: RegionTree;
  private constructor(private readonly options: FileRuntimeOptions) {
    this.tree = new RegionTree(options.root, options.identities);
  }

  /** Region directories a previous vFunD left behind, removed at create(). */
  leftovers: readonly string[] = [];

  /** Counters of the instances a previous vFunD left live, from their control files (null: unknown). */
  get recovered(): Readonly<Record<string, ComputationStats | null>> {
    return Object.fromEntries(Object.entries(this.tree.recovered).map(([id, s]) => [id, s === null ? null : toComputationStats(s)]));
  }

  /** The window of each VM tenant, by tenant id. */
  readonly windows = new Map<string, WindowHost>();

  /**
   * Check the addon is there, lay out the tree (0700), take the root's lock
   * (one vFunD per root) and remove what a vFunD that died left behind.
   */
  static async create(options: FileRuntimeOptions): Promise<FileRuntime> {
    requireShm();
    const r = new FileRuntime(options);
    await r.tree.prepare();
    await r.tree.lock();
    r.leftovers = await r.tree.removeLeftovers();
    for (const [tenant, plan] of options.windows ?? []) {
      await r.tree.prepareTenant(tenant);
      const path = r.tree.windowPath(tenant);
      r.windows.set(tenant, await WindowHost.open(path, plan, { mode: FILE_MODE }));
      await r.tree.handOver(tenant, path);
    }
    return r;
  }

  /** Give the root back (after vFunD stopped). Window files stay for VMs that may still map them. */
  async close(): Promise<void> {
    for (const w of this.windows.values()) w.close();
    await this.tree.unlock();
  }

  /**
   * Create the instance's region (sealed memfds, or a slot of its tenant's window), write its entries and
   * start its service process (see RuntimeFactory.activate). A failure removes what was created.
   */
  async activate(spec: ActivationSpec): Promise<InstanceRuntime<HostRegion>> {
    const window = this.windows.get(spec.tenant);
    try {
      return await (window ? this.activateInWindow(spec, window) : this.activateMemfd(spec));
    } catch (err) {
      throw outOfResources(err);
    }
  }

  /** The admin entry (where the region is) and the service entry (its process) of a live instance. */
  private async record(spec: ActivationSpec, serviceDir: string, where: Record<string, unknown>, pid: number): Promise<void> {
    const entry = { instance: spec.instance, tenant: spec.tenant, app: spec.app, fn: spec.fn, kind: spec.kind, driver: spec.driver };
    await this.tree.writeAdminEntry(spec.instance, { ...entry, ...where, capacity: spec.capacity, pid });
    await writeFile(join(serviceDir, 'service.json'), JSON.stringify({ ...entry, pid }) + '\n', { mode: FILE_MODE });
  }

  private async activateInWindow(spec: ActivationSpec, window: WindowHost): Promise<InstanceRuntime<WindowRegion>> {
    if (spec.capacity !== window.plan.capacity) {
      throw new VirtFunError('REGION', `window of tenant '${spec.tenant}' has slots of capacity ${window.plan.capacity}, activation asked for ${spec.capacity}`);
    }
    const paths = await this.tree.create(spec, { regionDir: false });
    let slot: number | undefined;
    let control: ControlFile | undefined;
    let runtime: InstanceRuntime<WindowRegion> | undefined;
    const cleanup = async (): Promise<void> => {
      control?.close();
      if (slot !== undefined) window.free(slot);
      await this.tree.remove(spec, spec.instance);
    };
    try {
      const region = window.allocate({ instance: spec.instance, app: spec.app, fn: spec.fn });
      slot = region.slot;
      control = ControlFile.create(join(paths.serviceDir, CONTROL_FILE));
      runtime = await processRuntime(spec, { region, control, tombstone: () => writeWindowTombstone(region), cleanup }, this.serviceOptions(spec, { spinMicros: WINDOW_SPIN_MICROS }));
      await this.record(spec, paths.serviceDir, { window: window.path, slot, dataoutOffset: region.dataoutOffset, datainOffset: region.datainOffset }, runtime.servicePid!);
      return runtime;
    } catch (err) {
      if (runtime) await runtime.stop();
      else await cleanup();
      throw err;
    }
  }

  private async activateMemfd(spec: ActivationSpec): Promise<InstanceRuntime<FdRegion>> {
    const paths = await this.tree.create(spec);
    let control: ControlFile | undefined;
    let region: FdRegion | undefined;
    let runtime: InstanceRuntime<FdRegion> | undefined;
    const cleanup = async (): Promise<void> => {
      control?.close();
      if (region) closeFdRegion(region);
      await this.tree.remove(spec, spec.instance);
    };
    try {
      region = createMemfdRegion(spec.capacity, spec.instance);
      const entry: RegionEntry = { instance: spec.instance, capacity: spec.capacity, backing: 'memfd', handover: 'control.sock' };
      const entryPath = join(paths.dir, REGION_ENTRY);
      await writeFile(entryPath, JSON.stringify(entry) + '\n', { mode: FILE_MODE, flag: 'wx' });
      await this.tree.handOver(spec.tenant, entryPath);
      control = ControlFile.create(join(paths.serviceDir, CONTROL_FILE));
      const r = region;
      // A GPU service may ftruncate (lavapipe grows memfds of its own): the regions it maps are sealed memfds that no
      // one can resize, and vFunD reads its control file with pread. Never for a window slot (a file vFunD maps).
      const gpu = webgpuDriverParts(spec.driver) !== null;
      runtime = await processRuntime(spec, { region: r, control, tombstone: () => writeFdTombstone(r), cleanup }, { ...this.serviceOptions(spec), ...(gpu && { allowFtruncate: true }) });
      await this.record(spec, paths.serviceDir, { region: paths.dir, backing: 'memfd' }, runtime.servicePid!);
      return runtime;
    } catch (err) {
      if (runtime) await runtime.stop();
      else await cleanup();
      throw err;
    }
  }

  /** How the service process of an instance of `spec.tenant` runs. */
  private serviceOptions(spec: ActivationSpec, extra: { spinMicros?: number } = {}): Omit<ServiceProcessOptions, 'region' | 'driver' | 'control'> {
    const o = this.options;
    const identity = this.tree.identityOf(spec.tenant);
    const limits = o.limits;
    return {
      ...extra,
      ...driverModuleOf(o, spec.driver),
      ...(o.strategy !== undefined && { strategy: o.strategy }),
      ...(o.spinMicros !== undefined && { spinMicros: o.spinMicros }),
      ...(o.policy !== undefined && { policy: o.policy }),
      ...(identity !== undefined && { identity }),
      ...(limits !== undefined && { join: (pid: number) => limits.join(spec.tenant, pid), explainKill: () => limits.explainKill(spec.tenant) }),
    };
  }
}

/** A full disk or exhausted memory while activating is a RESOURCES error (a `no-resources` nack), said plainly. */
function outOfResources(err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT' && code !== 'ENOMEM') return err;
  return new VirtFunError('RESOURCES', `the host cannot back this instance now (${code}: ${code === 'ENOMEM' ? 'out of memory' : 'the disk holding the tree is full'})`, { cause: err });
}
