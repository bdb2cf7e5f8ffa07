/**
 * `vfun vm run`: a guest in a real QEMU virtual machine offloading to vFunD
 * on its host. Starts vFunD with a VM tenant (its regions are slots of an
 * ivshmem window), builds an initramfs (busybox, the static C guest client,
 * the tenant's credentials), boots a Debian kernel with the window as an
 * ivshmem-plain device and the tenant's control socket as the virtio-serial
 * port `vfun.control` (plus `vfun.net`, the "network" path a benchmark
 * compares with), streams the console and stops everything afterwards.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdtemp, readFile, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig, windowPlans, type ValidConfig, type VFunDConfig } from '../actors/config.js';
import type { Stats } from 'node:fs';
import { startDaemon, loadConfigFile, type Daemon } from '../daemon/index.js';
import { RegionTree } from '../dataplane/region-tree.js';
import { ValidationError, VirtFunError } from '../errors.js';
import { buildGuestBinary } from './guest-binary.js';
import { buildInitramfs } from './initramfs.js';
import { NODE_MEMORY_MIB, nodeGuestFiles, nodePathPrefix } from './node-files.js';
import { debianKernel, kernelFromPath, type GuestKernel } from './kernel.js';
import { startNetPort } from './net-port.js';
import { USER_NET_MODULES, userNetSetup } from './user-net.js';
import { runVm, VmError, type VmRun } from './qemu.js';

/** Modules the guest needs for virtio-serial (ivshmem needs none: its BAR is mapped through sysfs). */
export const GUEST_MODULES = ['virtio_pci', 'virtio_console'] as const;
/** Names of the virtio-serial ports, as the guest sees them in /sys/class/virtio-ports/<port>/name. */
export const CONTROL_PORT = 'vfun.control';
export const NET_PORT = 'vfun.net';
export const DEFAULT_GUEST_CMD = 'vfun-guest --check';

export type Accel = 'auto' | 'kvm' | 'tcg';

/**
 * Options of `runGuestVm` (`vfun vm run`): vFunD's root and journal, the VM tenant, the kernel, QEMU's acceleration and memory, the guest's command.
 */
export interface VmRunOptions {
  /** vFunD's data root and journal URL (as `vfun up`). */
  readonly root: string;
  /** vFunD's journal URL. */
  readonly journal: string;
  /** A configuration file; default: one VM tenant `vm` with a fresh secret and the software functions. */
  readonly configPath?: string;
  /** A configuration as an object, instead of `configPath` (validated the same way). */
  readonly config?: VFunDConfig;
  /**
   * Give the guest a virtio-net NIC on QEMU's user-mode network, up with a static address before
   * the guest command runs (src/vm/user-net.ts): the host's 127.0.0.1 is 10.0.2.2 in the guest.
   */
  readonly userNet?: boolean;
  /** The VM tenant (default: the first tenant configured with `ivshmem`). */
  readonly tenant?: string;
  /**
   * Use the vFunD already running on `root` (`vfun up` with the same
   * configuration) instead of starting one: the VM is wired to its control
   * socket and window, and survives its restarts (QEMU reconnects).
   */
  readonly attach?: boolean;
  /** A kernel to boot instead of Debian's cloud kernel, and its modules directory. */
  readonly kernel?: string;
  /** The kernel's modules directory (with `kernel`). */
  readonly modulesDir?: string;
  /** Downloads (kernel) and builds (guest binary) are kept here. */
  readonly cacheDir?: string;
  /** QEMU's accelerator (default `auto`: KVM when /dev/kvm is usable, else TCG). */
  readonly accel?: Accel;
  /** The VM's memory, MiB. */
  readonly memoryMiB?: number;
  /** Shell command(s) run in the guest (default `vfun-guest --check`). */
  readonly guestCmd?: string;
  /**
   * Also put the host's node, the guest library (/opt/virtfun) and what it imports in the
   * initramfs (src/vm/node-files.ts), with node on the guest's PATH; memory defaults to 1024 MiB.
   */
  readonly withNode?: boolean;
  readonly timeoutMs?: number;
  readonly bootTimeoutMs?: number;
  /** Host-side progress. */
  readonly log: (line: string) => void;
  /** Each line the guest prints on its console. */
  readonly onConsole?: (line: string) => void;
  /** Stop early (e.g. on SIGINT): checked between the steps, and kills QEMU once it runs (runVm's `signal`). */
  readonly signal?: AbortSignal;
}

/**
 * What a guest VM run produced: the tenant and journal used, the guest client's reports, and the `vfun.net` requests served.
 */
export interface VmRunResult extends VmRun {
  readonly tenant: string;
  /** The guest kernel's release. */
  readonly kernelRelease: string;
  readonly journal: string;
  /** The guest client's JSON lines (`{"vfun":…}`), parsed. */
  readonly reports: readonly Record<string, unknown>[];
  /** Requests the `vfun.net` port answered. */
  readonly netServed: number;
}

export function defaultCacheDir(): string {
  return process.env.VIRTFUN_VM_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'virtfun', 'vm');
}

/** The configuration `vfun vm run` uses without --config: one VM tenant, the software functions. */
export function defaultVmConfig(secret: string): VFunDConfig {
  return {
    tenants: [{ id: 'vm', secret, maxInstances: 8, ivshmem: {} }],
    functions: ['factorial', 'fibonacci', 'crc32', 'sha256'].map((name) => ({ name, kinds: { sw: { slots: 8, driver: name } } })),
    regionCapacity: 64 * 1024,
  };
}

/** The VM tenant to run: `tenant`, or the first with `ivshmem`; ConfigError naming the field otherwise. */
export function pickVmTenant(config: ValidConfig, tenant?: string): ValidConfig['tenants'][number] {
  if (tenant !== undefined) {
    const i = config.tenants.findIndex((t) => t.id === tenant);
    if (i < 0) throw new ConfigError([`--tenant: no tenant '${tenant}' in the configuration (tenants: ${config.tenants.map((t) => t.id).join(', ')})`]);
    if (!config.tenants[i]!.ivshmem) throw new ConfigError([`tenants.${i}.ivshmem: tenant '${tenant}' is not configured as a VM (add "ivshmem": {})`]);
    return config.tenants[i]!;
  }
  const t = config.tenants.find((x) => x.ivshmem);
  if (!t) throw new ConfigError(['tenants: no tenant is configured as a VM (give one "ivshmem": {})']);
  return t;
}

/** The running vFunD of `root`, as far as a VM needs it: its tenant's socket and window. */
async function attachTo(root: string, journal: string, config: ValidConfig, tenant: string): Promise<Omit<Daemon, 'status' | 'reload' | 'adminSocket'>> {
  const tree = new RegionTree(root);
  const socket = join(tree.root, 'vmcli', tenant, 'control.sock');
  const path = tree.windowPath(tenant);
  const plan = windowPlans(config).get(tenant)!;
  for (const [what, p, ok] of [
    ['control socket', socket, (st: Stats) => st.isSocket()],
    ['ivshmem window', path, (st: Stats) => st.isFile() && st.size >= plan.windowBytes],
  ] as const) {
    const st = await lstat(p).catch(() => null);
    if (st === null || !ok(st)) {
      throw new VirtFunError('VM', `--attach: no ${what} at ${p} (${st === null ? 'missing' : 'not what vFunD makes'}): start \`vfun up --config … --root ${root}\` with tenant '${tenant}' as a VM first`);
    }
  }
  return {
    sockets: { [tenant]: socket },
    windows: { [tenant]: { path, bytes: plan.windowBytes, slots: plan.slotCount } },
    journal,
    stop: async () => undefined, // not ours to stop
  };
}

/**
 * Boot a guest in a QEMU VM wired to vFunD (see the module's comment), run `guestCmd` in it, and stop
 * everything afterwards. Needs QEMU and a kernel with the ivshmem and virtio-serial modules; throws VmError or
 * VirtFunError `VM` when the VM cannot be run, ConfigError for a bad configuration.
 */
export async function runGuestVm(opts: VmRunOptions): Promise<VmRunResult> {
  if (opts.configPath !== undefined && opts.config !== undefined) throw new ValidationError('config', 'give configPath or config, not both');
  const config =
    opts.configPath !== undefined ? await loadConfigFile(opts.configPath) : parseConfig(opts.config ?? defaultVmConfig(randomBytes(24).toString('hex')));
  const tenant = pickVmTenant(config, opts.tenant);
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const checkpoint = (): void => {
    if (opts.signal?.aborted) throw new VmError('interrupted', 'interrupted before the VM started');
  };
  // The cheap checks first (the root's lock, a running vFunD for --attach), then the slow steps.
  const daemon = opts.attach
    ? await attachTo(opts.root, opts.journal, config, tenant.id)
    : await startDaemon({ config, journal: opts.journal, root: opts.root, log: opts.log}).catch((err: unknown) => {
        if (err instanceof VirtFunError && /is in use by vFunD pid/.test(err.message)) {
          throw new VirtFunError('VM', `${err.message}: to run the VM next to that vFunD, add --attach with its --config; or choose another --root`, { cause: err });
        }
        throw err;
      });
  let work: string | undefined;
  try {
    const kernel: GuestKernel =
      opts.kernel !== undefined ? await kernelFromPath(opts.kernel, opts.modulesDir) : await debianKernel({ cacheDir, log: opts.log });
    if (kernel.modulesDir === undefined) {
      throw new ValidationError('--modules', `kernel ${kernel.release} has no modules directory (no /lib/modules/${kernel.release} here): pass --modules <dir>/lib/modules/${kernel.release} with ${GUEST_MODULES.join(' and ')} in it`);
    }
    checkpoint();
    const guestBin = await buildGuestBinary({ cacheDir, log: opts.log });
    checkpoint();
    work = await mkdtemp(join(tmpdir(), 'vfun-vm-')); // 0700: the initramfs holds the tenant's secret
    const window = daemon.windows[tenant.id]!;
    const node = opts.withNode ? await nodeGuestFiles() : undefined;
    if (node) opts.log(`with node: ${node.node}, ${node.libraries.length} libraries, ${node.distFiles} files of dist, packages ${node.packages.join(', ')} (${(node.bytes / 1048576).toFixed(1)} MiB)`);
    const net = await startNetPort(join(work, 'net.sock'));
    try {
      const initrd = join(work, 'initrd.gz');
      await buildInitramfs({
        out: initrd,
        kernel,
        modules: [...GUEST_MODULES, ...(opts.userNet === true ? USER_NET_MODULES : [])],
        files: [
          { path: '/bin/vfun-guest', mode: 0o755, data: await readFile(guestBin) },
          { path: '/etc/vfun/tenant', mode: 0o644, data: `${tenant.id}\n` },
          { path: '/etc/vfun/secret', mode: 0o600, data: `${tenant.secret}\n` },
          ...(node?.files ?? []),
        ],
        payload: (opts.userNet === true ? userNetSetup() : '') + (node ? nodePathPrefix(node.node) : '') + (opts.guestCmd ?? DEFAULT_GUEST_CMD),
      });
      checkpoint();
      opts.log(`booting ${kernel.vmlinuz} (${kernel.release}): window ${window.path} (${window.bytes} bytes, ${window.slots} slots), control ${daemon.sockets[tenant.id]}`);
      const reports: Record<string, unknown>[] = [];
      const run = await runVm(
        {
          kernel: kernel.vmlinuz,
          initrd,
          ...(opts.memoryMiB !== undefined ? { memoryMiB: opts.memoryMiB } : opts.withNode && { memoryMiB: NODE_MEMORY_MIB }),
          window: { path: window.path, bytes: window.bytes },
          ports: [
            { name: CONTROL_PORT, socketPath: daemon.sockets[tenant.id]! },
            { name: NET_PORT, socketPath: net.path },
          ],
          ...(opts.userNet === true && { net: { mode: 'user' } as const }),
        },
        {
          accel: opts.accel ?? 'auto',
          ...(opts.signal !== undefined && { signal: opts.signal }),
          ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }),
          ...(opts.bootTimeoutMs !== undefined && { bootTimeoutMs: opts.bootTimeoutMs }),
          onLine: (line) => {
            if (line.startsWith('{"vfun":')) {
              try {
                reports.push(JSON.parse(line) as Record<string, unknown>);
              } catch {
                // a console line that only looks like a report
              }
            }
            opts.onConsole?.(line);
          },
        },
      );
      return { ...run, tenant: tenant.id, kernelRelease: kernel.release, journal: daemon.journal, reports, netServed: net.served() };
    } finally {
      await net.close();
    }
  } finally {
    await daemon.stop('vm run over');
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  }
}
