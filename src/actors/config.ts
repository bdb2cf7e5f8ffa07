/**
 * vFunD's configuration: tenants (with their secrets), functions (which
 * kinds, how many slots, which driver), region capacity, devices. Validated
 * with zod; a bad configuration is refused with a ConfigError listing every
 * field that is wrong and why. `toSnapshot` turns it into what is journaled
 * (secrets replaced by their SHA-256).
 *
 * Parsing is pure: the schema checks shapes and what the configuration says
 * of itself, and reads no file. What a configuration names on disk (the
 * simulator profile of each device, and of each `sim:<profile>:<fn>` driver)
 * is read and checked by the load step, `loadConfig` in src/daemon/config.ts,
 * which gives a LoadedConfig.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import type { DeviceConfig, DriverModuleSnapshot, VFunDConfigSnapshot } from '../events/catalogue.js';
import { gpuKernelNames } from '../gpu/kernels/index.js';
import { webgpuDriverName, webgpuDriverParts, webgpuDrivers } from '../gpu/drivers.js';
import { MAX_CAPACITY } from '../dataplane/layout.js';
import { driverNames, registerDriverFamily } from '../drivers/registry.js';
import { deviceDriverName, deviceDriverParts, simulatorDrivers } from '../../simulator/drivers.js';
import type { DeviceProfile } from '../../simulator/profile.js';
import { ValidationError, VirtFunError } from '../errors.js';
import { DEFAULT_WINDOW_BYTES, planWindow, type WindowPlan } from '../dataplane/window.js';
import { credentialDigest } from './decide.js';
import { checkName, NAME_MAX, NAME_PATTERN } from '../util/names.js';
import { DEFAULT_REFUSAL_LIMITS } from './refusal-limiter.js';

// Hardware functions run on simulated devices: their drivers are names the configuration accepts.
registerDriverFamily(simulatorDrivers);
// GPU functions run on a WebGPU device (`webgpu:<fn>`, src/gpu/drivers.ts).
registerDriverFamily(webgpuDrivers);

/** Contexts a WebGPU device offers when its configuration does not say. */
export const WEBGPU_DEFAULT_SLOTS = 4;
/** The most contexts a WebGPU device may be configured with (each instance opens a device of its own). */
export const WEBGPU_MAX_SLOTS = 64;

/** Why a driver name is refused (the same words for a name the load step finds no profile for). */
export function unknownDriver(driver: string, moduleDrivers: readonly string[] = []): string {
  return `unknown driver '${driver}'; known: ${[...driverNames(), ...moduleDrivers].join(', ')}`;
}

/** Why a device profile name is refused, with the shipped profiles. */
export function unknownProfile(profile: string, known: readonly string[]): string {
  return `unknown device profile '${profile}'; known: ${known.join(', ')}`;
}

/** A driver name of the right form: a software driver, `sim-fpga:<kernel>`, or `sim:<profile>:<fn>` (its profile is checked when loaded). */
const isDriverName = (driver: string): boolean => driverNames().includes(driver) || deviceDriverParts(driver) !== null;

/**
 * A driver name. With driver modules (`moduleDrivers`), a name the registry does not know may be one
 * of theirs: the load step (resolveConfig) checks it against the modules' catalogue.
 */
const driverNameOf = (moduleDrivers: boolean) =>
  z
    .string()
    .refine((d) => webgpuDriverParts(d) === null, {
      error: (iss) => `'${String(iss.input)}' runs on a GPU: declare a device of type webgpu and give the function kinds.hw.device (docs/gpu.md), so that vFunD probes it, counts its slots and journals its failovers`,
      abort: true,
    })
    .refine((d) => isDriverName(d) || (moduleDrivers && checkName('driver', d) === null), { error: (iss) => unknownDriver(String(iss.input)) });

const name = z
  .string()
  .min(1)
  .max(NAME_MAX)
  .regex(NAME_PATTERN, "only letters, digits, '-' and '_', starting with a letter or digit");

/**
 * A function's hardware version: on a device declared in `devices` (it occupies one of the device's
 * slots; `slots` may cap this function lower), or a driver of its own with its slots. One object
 * checked field by field, so that a mistake names its field.
 */
const hwKindConfigOf = (moduleDrivers: boolean) =>
  z
  .object({
    device: z.string().optional(),
    slots: z.number().int().min(1).max(4096).optional(),
    driver: driverNameOf(moduleDrivers).optional(),
  })
  .strict()
  .superRefine((h, ctx) => {
    if (h.device !== undefined && h.driver !== undefined) ctx.addIssue({ code: 'custom', path: ['driver'], message: 'give device or driver, not both' });
    if (h.device === undefined && h.driver === undefined) ctx.addIssue({ code: 'custom', path: ['device'], message: 'give device (one of devices) or driver with slots' });
    if (h.driver !== undefined && h.slots === undefined) ctx.addIssue({ code: 'custom', path: ['slots'], message: 'required with driver' });
  })
  .transform((h): { device: string; slots?: number } | { slots: number; driver: string } =>
    h.device !== undefined ? { device: h.device, ...(h.slots !== undefined && { slots: h.slots }) } : { slots: h.slots ?? 1, driver: h.driver ?? '' },
  );

const refusalLimits = z
  .object({
    burst: z.number().int().min(1).max(100_000).default(DEFAULT_REFUSAL_LIMITS.burst),
    refillPerSecond: z.number().min(0.001).max(10_000).default(DEFAULT_REFUSAL_LIMITS.refillPerSecond),
    summaryIntervalMs: z.number().int().min(100).max(3_600_000).default(DEFAULT_REFUSAL_LIMITS.summaryIntervalMs),
    disconnectAfter: z.number().int().min(1).max(1_000_000_000).default(DEFAULT_REFUSAL_LIMITS.disconnectAfter),
    disconnectIntervals: z.number().int().min(1).max(1_000_000).default(DEFAULT_REFUSAL_LIMITS.disconnectIntervals),
  })
  .strict()
  .prefault({});

/** CPUs of this host: the most a tenant's `limits.cpus` may ask for. */
const HOST_CPUS = availableParallelism();

/**
 * A tenant's resource limits (src/actors/cgroups.ts): what all of its service processes together may
 * use. Enforced through the host's cgroups when it offers them, advisory otherwise (operator guide,
 * "Resource limits").
 */
const tenantLimits = z
  .object({
    /** CPU time as a share of cores (0.5: half a core). The kernel's smallest quota is 1 ms per 100 ms period. */
    cpus: z
      .number({ error: 'must be a number of CPUs (0.5: half a core)' })
      .min(0.01, 'must be at least 0.01 (the smallest CPU quota: 1 ms per 100 ms period)')
      .max(HOST_CPUS, `must be at most ${HOST_CPUS}, the CPUs of this host`)
      .optional(),
    /** Memory in MiB, swap included (no swap is allowed). */
    memoryMiB: z
      .number({ error: 'must be a whole number of MiB' })
      .int('must be a whole number of MiB')
      .min(32, 'must be at least 32 (MiB)')
      .max(16 * 1024 * 1024, 'must be at most 16777216 (MiB: 16 TiB)')
      .optional(),
  })
  .strict()
  .refine((l) => l.cpus !== undefined || l.memoryMiB !== undefined, { message: 'give cpus, memoryMiB or both' });

/**
 * A device: a simulated FPGA (`profile`), or a WebGPU adapter (`type: 'webgpu'`). One object
 * checked field by field, so that a mistake names its field rather than "Invalid input".
 */
const deviceConfig = z
  .object({
    name,
    /** A shipped simulator profile's name (a simulated FPGA): the load step reads it. */
    profile: z.string().min(1).optional(),
    type: z.literal('webgpu', { error: "must be 'webgpu' (or leave it out for a simulated FPGA with a profile)" }).optional(),
    /** WebGPU: instances that may hold a context on the adapter at once (default 4). */
    slots: z.number().int().min(1).max(WEBGPU_MAX_SLOTS).optional(),
    /** WebGPU: compare 1 in N calls with the software twin and journal each mismatch (default: never). */
    crossCheck: z.number().int().min(1).max(1_000_000_000).optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.type === 'webgpu') {
      if (d.profile !== undefined) ctx.addIssue({ code: 'custom', path: ['profile'], message: 'a webgpu device follows no simulator profile: leave it out' });
    } else {
      if (d.profile === undefined) ctx.addIssue({ code: 'custom', path: ['profile'], message: "required for a simulated FPGA (or give type: 'webgpu' for the host's GPU)" });
      for (const k of ['slots', 'crossCheck'] as const) {
        if (d[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `only for a webgpu device (a simulated FPGA's slots come from its profile)` });
      }
    }
  })
  .transform((d): { name: string; profile: string } | { name: string; type: 'webgpu'; slots: number; crossCheck?: number } =>
    d.type === 'webgpu'
      ? { name: d.name, type: 'webgpu', slots: d.slots ?? WEBGPU_DEFAULT_SLOTS, ...(d.crossCheck !== undefined && { crossCheck: d.crossCheck }) }
      : { name: d.name, profile: d.profile ?? '' },
  );

const kindConfigOf = (moduleDrivers: boolean) =>
  z
    .object({
      slots: z.number().int().min(1).max(4096),
      driver: driverNameOf(moduleDrivers),
    })
    .strict();

/** The configuration's schema; `moduleDrivers`: it names driver modules, whose drivers the load step checks. */
const schemaOf = (moduleDrivers: boolean) => z
  .object({
    tenants: z
      .array(
        z.object({
          id: name,
          /** The tenant's secret inline, or `secretFile`: a file holding it (read by the load step; exactly one of the two). */
          secret: z.string().min(16, 'must be at least 16 characters').max(1024).optional(),
          secretFile: z.string().min(1, 'must be a path').max(4096).optional(),
          maxInstances: z.number().int().min(1).max(4096),
          /** OS identity of the tenant's guests (needs vFunD to run as root). */
          uid: z.number().int().min(1).max(0x7fffffff).optional(),
          gid: z.number().int().min(1).max(0x7fffffff).optional(),
          /**
           * The tenant is a virtual machine: its regions are slots of one ivshmem window
           * (<root>/vmcli/<tenant>/ivshmem.shm), not files (docs/running-in-a-vm.md).
           */
          ivshmem: z
            .object({
              windowBytes: z.number().int().default(DEFAULT_WINDOW_BYTES),
              slotBytes: z.number().int().optional(),
            })
            .strict()
            .optional(),
          /** How many of the tenant's refused control requests are journaled one by one (src/actors/refusal-limiter.ts). */
          refusals: refusalLimits,
          /** CPU and memory limits on the tenant's service processes (src/actors/cgroups.ts). */
          limits: tenantLimits.optional(),
        })
          .strict()
          .refine((t) => (t.uid === undefined) === (t.gid === undefined), { message: 'give both uid and gid, or neither', path: ['gid'] })
          .refine((t) => (t.secret === undefined) !== (t.secretFile === undefined), { message: 'give exactly one of secret, secretFile', path: ['secret'] }),
      )
      .min(1),
    functions: z
      .array(
        z
          .object({
            name,
            kinds: z.object({ hw: hwKindConfigOf(moduleDrivers).optional(), sw: kindConfigOf(moduleDrivers).optional() }).strict(),
          })
          .strict()
          .refine((f) => f.kinds.hw || f.kinds.sw, { message: 'needs at least one of kinds.hw, kinds.sw', path: ['kinds'] }),
      )
      .min(1),
    regionCapacity: z.number().int().min(64).max(MAX_CAPACITY).default(64 * 1024),
    /**
     * vFunD's admin socket (`<root>/admin/admin.sock`, docs/operator-guide.md, "Steering a running
     * host"): the group whose members may use it besides root and vFunD's user, and the secret its
     * requests are signed with (or a file holding it, read at start; refused when others may read it).
     */
    admin: z
      .object({
        group: z.string().min(1).max(32).regex(/^[a-z_][a-z0-9_-]*\$?$/i, 'a group name').optional(),
        secret: z.string().min(16, 'must be at least 16 characters').max(1024).optional(),
        secretFile: z.string().min(1).max(4096).optional(),
      })
      .strict()
      .refine((a) => a.secret === undefined || a.secretFile === undefined, { message: 'give secret or secretFile, not both' })
      .optional(),
    /**
     * Hardware devices: a simulated FPGA following a simulator profile (simulator/profiles; slots come
     * from the profile), or a WebGPU adapter (`type: 'webgpu'`, docs/gpu.md; slots are device contexts).
     */
    devices: z.array(deviceConfig).default([]),
    /**
     * Modules defining drivers of one's own (docs/writing-a-driver.md): paths (absolute, or relative to
     * the configuration file's directory) or package names. Loaded by the load step, never by parsing.
     */
    driverModules: z.array(z.string().min(1, 'must be a path or a package name').max(4096)).max(64).default([]),
  })
  .strict()
  .superRefine((c, ctx) => {
    c.tenants.forEach((t, i) => {
      if (!t.ivshmem) return;
      try {
        const plan = planWindow(t.ivshmem.windowBytes, c.regionCapacity, t.ivshmem.slotBytes);
        if (t.maxInstances > plan.slotCount) {
          ctx.addIssue({ code: 'custom', path: ['tenants', i, 'maxInstances'], message: `${t.maxInstances} is more than the ${plan.slotCount} slots its ivshmem window holds (windowBytes ${plan.windowBytes}, slotBytes ${plan.slotBytes})` });
        }
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        ctx.addIssue({ code: 'custom', path: ['tenants', i, 'ivshmem', err.field], message: err.message.slice(err.field.length + 2) });
      }
    });
    c.functions.forEach((f, i) => {
      const hw = f.kinds.hw;
      if (!hw || !('device' in hw)) return;
      const dev = c.devices.find((d) => d.name === hw.device);
      if (!dev) ctx.addIssue({ code: 'custom', path: ['functions', i, 'kinds', 'hw', 'device'], message: `no device '${hw.device}' in devices` });
      else if ('type' in dev) {
        if (!gpuKernelNames().includes(f.name)) {
          ctx.addIssue({ code: 'custom', path: ['functions', i, 'name'], message: `WebGPU device '${dev.name}' has no function '${f.name}'; it runs: ${gpuKernelNames().join(', ')}` });
        }
        if (hw.slots !== undefined && hw.slots > dev.slots) {
          ctx.addIssue({ code: 'custom', path: ['functions', i, 'kinds', 'hw', 'slots'], message: `${hw.slots} is more than the ${dev.slots} slots of device '${dev.name}': a function may only cap itself lower` });
        }
      }
    });
    for (const [list, key] of [
      [c.tenants.map((t) => t.id), 'tenants'],
      [c.functions.map((f) => f.name), 'functions'],
      [c.devices.map((d) => d.name), 'devices'],
    ] as const) {
      list.forEach((v, i) => {
        if (list.indexOf(v) !== i) ctx.addIssue({ code: 'custom', path: [key, i], message: `duplicate name '${v}'` });
      });
    }
  });

/** The configuration's schema (drivers checked against the registry: a configuration without driverModules). */
export const configSchema = schemaOf(false);
const moduleDriversSchema = schemaOf(true);

/**
 * A vFunD configuration as written (a JSON file, or an object): tenants, functions, devices, region capacity, driver modules (docs/operator-guide.md).
 */
export type VFunDConfig = z.input<typeof configSchema>;
/** A configuration `parseConfig` accepted, with its defaults filled in. */
export type ValidConfig = z.output<typeof configSchema>;

/**
 * An invalid configuration (code `CONFIG`): `problems` names each bad field, one line each, with the nearest known key for a misspelt one.
 */
export class ConfigError extends VirtFunError {
  override readonly name = 'ConfigError';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('CONFIG', `invalid configuration:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

/**
 * A valid configuration whose device profiles were read and checked (the load step,
 * src/daemon/config.ts): each device's and each `sim:` driver's profile, by profile name.
 */
export interface LoadedConfig extends ValidConfig {
  readonly profiles: ReadonlyMap<string, DeviceProfile>;
  /** Every tenant with its secret, read from its `secretFile` when it has one. */
  readonly tenants: Array<ValidConfig['tenants'][number] & { secret: string }>;
  /** The drivers of `driverModules`: driver name → file URL of the module that defines it (empty without driver modules). */
  readonly driverModuleUrls: ReadonlyMap<string, string>;
  /** What vfund.started journals of each driver module (resolved URL, SHA-256, its drivers). */
  readonly driverModuleSnapshots: readonly DriverModuleSnapshot[];
}

/** Validate a configuration's shape (e.g. parsed from a file); reads nothing. Throws ConfigError naming each bad field. */
export function parseConfig(input: unknown): ValidConfig {
  const modules = (input as { driverModules?: unknown } | null)?.driverModules;
  const r = (Array.isArray(modules) && modules.length > 0 ? moduleDriversSchema : configSchema).safeParse(input);
  if (r.success) return r.data;
  throw new ConfigError(r.error.issues.flatMap(describeIssue));
}

/** Every key the configuration knows, at any depth: what an unknown key is compared with. */
const KNOWN_KEYS = [
  ...['tenants', 'functions', 'regionCapacity', 'devices', 'id', 'secret', 'secretFile', 'maxInstances', 'uid', 'gid', 'ivshmem', 'refusals', 'limits'],
  ...['name', 'kinds', 'hw', 'sw', 'slots', 'driver', 'device', 'profile', 'windowBytes', 'slotBytes', 'cpus', 'memoryMiB'],
  ...['burst', 'refillPerSecond', 'summaryIntervalMs', 'disconnectAfter', 'disconnectIntervals'],
  ...['admin', 'group', 'secretFile', 'type', 'crossCheck', 'driverModules'],
];

/** One line per problem, naming the field; an unknown key also names the known key it most resembles. */
function describeIssue(i: z.core.$ZodIssue): string[] {
  const at = i.path.length ? i.path.join('.') : '(root)';
  if (i.code !== 'unrecognized_keys') return [`${at}: ${i.message}`];
  const prefix = i.path.length ? `${at}.` : '';
  return i.keys.map((k) => {
    const near = nearestKey(k);
    return `${prefix}${k}: unknown key${near === null ? '' : ` (did you mean '${near}'?)`}: refused rather than ignored, so that a typo cannot change what vFunD does`;
  });
}

/** The known key within two edits of `key` (case aside), or that starts with it, or null. */
export function nearestKey(key: string): string | null {
  const lower = key.toLowerCase();
  if (lower.length >= 3) {
    const longer = KNOWN_KEYS.find((k) => k.toLowerCase().startsWith(lower) && k.toLowerCase() !== lower);
    if (longer !== undefined && editDistance(lower, longer.toLowerCase()) > 2) return longer;
  }
  let best: string | null = null;
  let bestDistance = 3;
  for (const k of KNOWN_KEYS) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

/** Levenshtein distance (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * What vFunD journals in vfund.started: secrets become digests, devices their profile's slots.
 * A configuration with devices must have been loaded (their slots come from their profiles).
 */
export function toSnapshot(config: ValidConfig | LoadedConfig): VFunDConfigSnapshot {
  const profiles = 'profiles' in config ? config.profiles : new Map<string, DeviceProfile>();
  const devices = config.devices.map((d, i): DeviceConfig => {
    if ('type' in d) return { name: d.name, type: d.type, slots: d.slots, ...(d.crossCheck !== undefined && { crossCheck: d.crossCheck }) };
    const profile = profiles.get(d.profile);
    if (profile === undefined) throw new ConfigError([`devices.${i}.profile: profile '${d.profile}' was not read: load the configuration with loadConfig`]);
    return { name: d.name, profile: d.profile, slots: profile.slots };
  });
  const modules = 'driverModuleSnapshots' in config ? config.driverModuleSnapshots : [];
  if ((config.driverModules ?? []).length > 0 && modules.length === 0) throw new ConfigError(['driverModules: the driver modules were not loaded: load the configuration with loadConfig']);
  const plans = windowPlans(config);
  const hwOf = (f: ValidConfig['functions'][number]) => {
    const hw = f.kinds.hw;
    if (!hw) return {};
    if (!('device' in hw)) return { hw: { slots: hw.slots, driver: hw.driver } };
    const dev = devices.find((d) => d.name === hw.device)!;
    const driver = dev.type === 'webgpu' ? webgpuDriverName(f.name, dev.crossCheck === undefined ? {} : { crossCheck: dev.crossCheck }) : deviceDriverName(dev.profile, f.name);
    return { hw: { slots: hw.slots ?? dev.slots, driver, device: dev.name } };
  };
  return {
    tenants: config.tenants.map((t, i) => {
      if (t.secret === undefined) throw new ConfigError([`tenants.${i}.secretFile: the secret was not read: load the configuration with loadConfig`]);
      const w = plans.get(t.id);
      return { id: t.id, credentialDigest: credentialDigest(t.secret), maxInstances: t.maxInstances, ...(w && { vm: { windowBytes: w.windowBytes, slotBytes: w.slotBytes, slots: w.slotCount } }) };
    }),
    functions: config.functions.map((f) => ({
      name: f.name,
      kinds: {
        ...hwOf(f),
        ...(f.kinds.sw ? { sw: { slots: f.kinds.sw.slots, driver: f.kinds.sw.driver } } : {}),
      },
    })),
    regionCapacity: config.regionCapacity,
    ...(devices.length > 0 && { devices }),
    ...(modules.length > 0 && { driverModules: modules }),
  };
}

/** The window plan of every tenant configured as a VM (`ivshmem`), by tenant id. */
export function windowPlans(config: ValidConfig): Map<string, WindowPlan> {
  return new Map(
    config.tenants.flatMap((t) => (t.ivshmem ? [[t.id, planWindow(t.ivshmem.windowBytes, config.regionCapacity, t.ivshmem.slotBytes)] as const] : [])),
  );
}
