/**
 * Device profiles: the figures a simulated device runs with, as JSON files
 * (simulator/profiles/*.json), validated with zod. Every figure must have a
 * source: a citation of where the number (or its order of magnitude) comes
 * from, or a note starting with "assumption". A validation error is a
 * `ValidationError` whose `field` is the path of the offending field.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ValidationError } from '../src/errors.js';
import { kernelUnit, profileKernelNames, type ProfileKernel, type WorkUnit } from './kernels.js';

/** Shape of a `JitterSpec`: a uniform or a lognormal draw. */
export type JitterKind = 'uniform' | 'lognormal';

/**
 * Non-negative extra time added to a duration `base` (so the jitter-free cost is a lower bound):
 * - uniform: `base · fraction · U`, U ~ U[0, 1)  (mean fraction/2 · base);
 * - lognormal: `base · fraction · exp(sigma · Z)`, Z ~ N(0, 1)  (median fraction · base).
 */
export interface JitterSpec {
  readonly kind: JitterKind;
  readonly fraction: number;
  /** Shape of the lognormal (default 0.5); ignored for uniform. */
  readonly sigma?: number;
}

/**
 * The timing of one function on a profiled device: its kernel, load time, launch cost, throughput, transfer cost and jitter.
 */
export interface FunctionProfile {
  /** Software kernel computing the (exact) result: one of the simulator's, or `twin:<fn>` (a GPU function's twin). */
  readonly kernel: ProfileKernel;
  /** Reconfiguration time: loading this function's bitstream into a slot, in milliseconds. */
  readonly loadMs: number;
  /** Fixed cost of one kernel launch, in microseconds. */
  readonly launchMicros: number;
  /** Throughput of payload kernels (crc32, sha256), in bytes per second. */
  readonly bytesPerSecond?: number;
  /** Throughput of loop kernels (factorial, fibonacci: n items), in items per second. */
  readonly itemsPerSecond?: number;
  /** Throughput of twin kernels (`twin:<fn>`: the operations of `KernelTwin.work`), in operations per second. */
  readonly opsPerSecond?: number;
  /** Host<->device transfer cost, in nanoseconds per byte, paid for the input and for the output. */
  readonly transferNanosPerByte: number;
  readonly jitter: JitterSpec;
}

/** Probabilities applied to every operation of their kind (0 = never). */
export interface FaultProbabilities {
  /** Per load: the bitstream fails to load (reported at the end of the load time). */
  readonly loadFailure?: number;
  /** Per call: the kernel never completes; the call times out at its deadline. */
  readonly hang?: number;
  /** Per call: the result comes back with flipped bits. */
  readonly wrongResult?: number;
  /** Per call: the device resets at a random instant during the call. */
  readonly reset?: number;
}

/**
 * A device profile (simulator/profiles/*.json, checked by `parseProfile`): slots, per-function timings, fault
 * probabilities, and where each figure comes from.
 */
export interface DeviceProfile {
  readonly name: string;
  readonly description?: string;
  /** Number of reconfigurable slots (partitions), each holding one function's bitstream. */
  readonly slots: number;
  readonly functions: Readonly<Record<string, FunctionProfile>>;
  readonly faults?: FaultProbabilities;
  /**
   * Where each figure comes from: keys are field paths (`slots`,
   * `functions.crc32.loadMs`, or `functions.*.loadMs` for every function),
   * values a citation or a note starting with "assumption".
   */
  readonly sources: Readonly<Record<string, string>>;
}

const nonNegative = z.number().min(0);
const probability = z.number().min(0).max(1);

const jitterSchema = z
  .object({
    kind: z.enum(['uniform', 'lognormal']),
    fraction: z.number().min(0).max(100),
    sigma: z.number().positive().max(4).optional(),
  })
  .strict();

const functionSchema = z
  .object({
    kernel: z.string().refine((k) => profileKernelNames().includes(k as ProfileKernel), {
      error: (i) => `'${String(i.input)}' is not a kernel (kernels: ${profileKernelNames().join(', ')})`,
    }),
    loadMs: nonNegative,
    launchMicros: nonNegative,
    bytesPerSecond: z.number().positive().optional(),
    itemsPerSecond: z.number().positive().optional(),
    opsPerSecond: z.number().positive().optional(),
    transferNanosPerByte: nonNegative,
    jitter: jitterSchema,
  })
  .strict();

const FUNCTION_NAME = /^[a-z][a-z0-9_-]*$/;

/** The throughput field of each work unit. */
const RATE_FIELD: Readonly<Record<WorkUnit, 'bytesPerSecond' | 'itemsPerSecond' | 'opsPerSecond'>> = {
  bytes: 'bytesPerSecond',
  items: 'itemsPerSecond',
  ops: 'opsPerSecond',
};

const profileSchema = z
  .object({
    $schema: z.string().optional(),
    name: z.string().min(1),
    description: z.string().optional(),
    slots: z.number().int().min(1).max(1024),
    functions: z.record(
      z.string().regex(FUNCTION_NAME, 'function names are lower-case: letters, digits, - and _'),
      functionSchema,
    ),
    faults: z
      .object({ loadFailure: probability, hang: probability, wrongResult: probability, reset: probability })
      .partial()
      .strict()
      .optional(),
    sources: z.record(z.string(), z.string().trim().min(1, 'a source must say where the figure comes from')),
  })
  .strict()
  .superRefine((p, ctx) => {
    const names = Object.keys(p.functions);
    if (names.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['functions'], message: 'a profile needs at least one function' });
    }
    for (const [name, f] of Object.entries(p.functions)) {
      if (!profileKernelNames().includes(f.kernel as ProfileKernel)) continue; // said by the kernel's own check
      const want = RATE_FIELD[kernelUnit(f.kernel as ProfileKernel)];
      if (f[want] === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['functions', name, want],
          message: `required for kernel ${f.kernel} (its work is counted in ${kernelUnit(f.kernel as ProfileKernel)})`,
        });
      }
      for (const other of Object.values(RATE_FIELD)) {
        if (other !== want && f[other] !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['functions', name, other],
            message: `not used by kernel ${f.kernel}; give ${want}`,
          });
        }
      }
    }
    // Every figure has a source, and every source names a figure.
    const figures = figurePaths(p as DeviceProfile);
    for (const fig of figures) {
      if (sourceFor(p.sources, fig) === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['sources', fig],
          message: `no source for ${fig}: add a citation, or a note starting with "assumption"`,
        });
      }
    }
    for (const key of Object.keys(p.sources)) {
      if (!figures.some((fig) => key === fig || wildcardOf(fig) === key)) {
        ctx.addIssue({ code: 'custom', path: ['sources', key], message: 'names no figure of this profile' });
      }
    }
  });

/** Paths of the figures of a profile that need a source. */
export function figurePaths(p: DeviceProfile): string[] {
  const out = ['slots'];
  for (const [name, f] of Object.entries(p.functions)) {
    const base = `functions.${name}`;
    out.push(`${base}.loadMs`, `${base}.launchMicros`, `${base}.transferNanosPerByte`, `${base}.jitter`);
    if (f.bytesPerSecond !== undefined) out.push(`${base}.bytesPerSecond`);
    if (f.itemsPerSecond !== undefined) out.push(`${base}.itemsPerSecond`);
    if (f.opsPerSecond !== undefined) out.push(`${base}.opsPerSecond`);
  }
  for (const k of Object.keys(p.faults ?? {})) out.push(`faults.${k}`);
  return out;
}

function wildcardOf(figure: string): string | undefined {
  const m = /^functions\.[^.]+\.(.+)$/.exec(figure);
  return m ? `functions.*.${m[1]}` : undefined;
}

/** The source of one figure (exact key first, then the `functions.*.field` wildcard). */
export function sourceFor(sources: Readonly<Record<string, string>>, figure: string): string | undefined {
  if (Object.hasOwn(sources, figure)) return sources[figure];
  const w = wildcardOf(figure);
  return w !== undefined && Object.hasOwn(sources, w) ? sources[w] : undefined;
}

function fieldOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    const s = String(seg);
    if (typeof seg === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_$*][\w$*-]*$/.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out === '' ? 'profile' : out;
}

/**
 * Validate a parsed JSON value as a device profile. Throws a ValidationError
 * whose `field` is the path of the first problem (e.g. `functions.crc32.loadMs`)
 * and whose message lists every problem; `origin` (a file name) is added to it.
 */
export function parseProfile(value: unknown, origin?: string): DeviceProfile {
  const r = profileSchema.safeParse(value);
  if (r.success) {
    const { $schema: _ignored, ...profile } = r.data;
    return profile as DeviceProfile;
  }
  const problems = r.error.issues.map((issue) => {
    const path = [...issue.path];
    if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) path.push(issue.keys[0]!);
    return { field: fieldOf(path), message: issue.message };
  });
  const first = problems[0]!;
  const rest = problems.slice(1).map((p) => `; ${p.field}: ${p.message}`).join('');
  const where = origin === undefined ? '' : ` (in ${origin})`;
  throw new ValidationError(first.field, `${first.message}${rest}${where}`, { cause: r.error });
}

/** Directories searched for shipped profiles by name (sources, then the build output's parent). */
function profileDirs(): string[] {
  return [new URL('./profiles/', import.meta.url), new URL('../../simulator/profiles/', import.meta.url)].map((u) =>
    fileURLToPath(u),
  );
}

const PROFILE_NAME = /^[a-z0-9][a-z0-9_-]*$/i;

function candidates(pathOrName: string): string[] {
  if (!PROFILE_NAME.test(pathOrName)) return [pathOrName];
  return profileDirs().map((d) => `${d}${pathOrName}.json`);
}

function parseText(text: string, origin: string): DeviceProfile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ValidationError('profile', `${origin} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  return parseProfile(json, origin);
}

function notFound(pathOrName: string, tried: readonly string[]): ValidationError {
  return new ValidationError(
    'profile',
    `no profile '${pathOrName}' (looked in ${tried.join(', ')}); shipped profiles: ${profileNames().join(', ')}`,
  );
}

/** Load a profile by shipped name (`alveo-u250`) or by file path (anything with a `/` or `.json`). */
export async function loadProfile(pathOrName: string): Promise<DeviceProfile> {
  const tried = candidates(pathOrName);
  for (const file of tried) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    return parseText(text, file);
  }
  throw notFound(pathOrName, tried);
}

/** Synchronous `loadProfile`, for start-up code. */
export function loadProfileSync(pathOrName: string): DeviceProfile {
  const tried = candidates(pathOrName);
  for (const file of tried) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    return parseText(text, file);
  }
  throw notFound(pathOrName, tried);
}

/** Names of the shipped profiles. */
export function profileNames(): string[] {
  for (const dir of profileDirs()) {
    try {
      return readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -'.json'.length))
        .sort();
    } catch {
      /* try the next directory */
    }
  }
  return [];
}

/** The profile of one function, or undefined. */
export function functionProfile(profile: DeviceProfile, fn: string): FunctionProfile | undefined {
  return Object.hasOwn(profile.functions, fn) ? profile.functions[fn] : undefined;
}
