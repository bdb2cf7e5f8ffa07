/**
 * The options of `vfun bench experiment <name>`, from the command line to what an experiment runs
 * with: defaults (and `--quick`'s smaller ones), and refusals that name the flag and its limit
 * (a flag of another experiment, a size over the region's limit, an empty list). Pure.
 */
import { join, resolve } from 'node:path';
import { ValidationError } from '../../errors.js';

/** The experiments beyond the paper. */
export const EXPERIMENT_NAMES = ['payload-sweep', 'concurrency', 'noisy-neighbour'] as const;
/** One experiment's name. */
export type ExperimentName = (typeof EXPERIMENT_NAMES)[number];

/** Whether `s` names an experiment. */
export function isExperimentName(s: string): s is ExperimentName {
  return (EXPERIMENT_NAMES as readonly string[]).includes(s);
}

/** The payload-bound functions the experiments call (software drivers of src/drivers/software.ts). */
export const PAYLOAD_FNS = ['sha256', 'crc32'] as const;
/** One of them. */
export type PayloadFn = (typeof PAYLOAD_FNS)[number];

/** The largest payload an experiment sends: 16 MiB, a region's limit (MAX_CAPACITY of the data plane). */
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
/** The most guest (or hammering) processes an experiment starts at once. */
export const MAX_PROCESSES = 64;

/** payload-sweep's default sizes: powers of 4 from 16 B to 1 MiB. */
export const DEFAULT_SIZES: readonly number[] = [16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576];
/** `--quick` sizes. */
export const QUICK_SIZES: readonly number[] = [16, 1024, 65536];
/** concurrency's default numbers of guests. */
export const DEFAULT_GUESTS: readonly number[] = [1, 2, 4, 8];
/** `--quick` numbers of guests. */
export const QUICK_GUESTS: readonly number[] = [1, 2];
/** Timed calls per cell (payload-sweep), per guest (concurrency), of tenant B in each phase (noisy-neighbour); and with `--quick`. */
export const DEFAULT_CALLS: Readonly<Record<ExperimentName, number>> = { 'payload-sweep': 1000, concurrency: 2000, 'noisy-neighbour': 5000 };
export const QUICK_CALLS: Readonly<Record<ExperimentName, number>> = { 'payload-sweep': 50, concurrency: 100, 'noisy-neighbour': 300 };
/** Payload of concurrency's calls and of tenant B's calls in noisy-neighbour, bytes. */
export const DEFAULT_SMALL_PAYLOAD = 64;
/** Payload of tenant A's hammering calls in noisy-neighbour, bytes. */
export const DEFAULT_HAMMER_PAYLOAD = 256 * 1024;
/** Hammering processes of tenant A. */
export const DEFAULT_HAMMERS = 1;
/** Seed of the payloads' bytes. */
export const DEFAULT_PAYLOAD_SEED = 1;

/** The command line's options, as commander gives them (all optional). */
export interface ExperimentCliOptions {
  readonly out?: string;
  readonly quick?: boolean;
  readonly json?: boolean;
  readonly progress?: boolean;
  readonly calls?: number;
  readonly warmup?: number;
  readonly fn?: string;
  readonly sizes?: readonly number[];
  readonly guests?: readonly number[];
  readonly payload?: number;
  readonly hammers?: number;
  readonly hammerPayload?: number;
  readonly hammerFn?: string;
  readonly seed?: number;
}

/** What every experiment runs with. */
interface CommonOptions {
  /** Results folder (absolute). */
  readonly out: string;
  readonly quick: boolean;
  /** Timed calls (see DEFAULT_CALLS). */
  readonly calls: number;
  /** Untimed calls before them. */
  readonly warmup: number;
  /** Seed of the payloads' bytes. */
  readonly seed: number;
}

/** payload-sweep: one call's latency and throughput against its payload size, in three domains. */
export interface PayloadSweepOptions extends CommonOptions {
  readonly experiment: 'payload-sweep';
  readonly fn: PayloadFn;
  readonly sizes: readonly number[];
}

/** concurrency: N guests calling at once through vFunD, in one tenant and each in its own. */
export interface ConcurrencyOptions extends CommonOptions {
  readonly experiment: 'concurrency';
  readonly fn: PayloadFn;
  readonly guests: readonly number[];
  readonly payload: number;
}

/** noisy-neighbour: tenant B's small-call latency alone and while tenant A hammers. */
export interface NoisyNeighbourOptions extends CommonOptions {
  readonly experiment: 'noisy-neighbour';
  /** B's function and payload. */
  readonly fn: PayloadFn;
  readonly payload: number;
  /** A's processes, function and payload. */
  readonly hammers: number;
  readonly hammerFn: PayloadFn;
  readonly hammerPayload: number;
}

/** The options of one experiment, by name. */
export type ExperimentOptions = PayloadSweepOptions | ConcurrencyOptions | NoisyNeighbourOptions;

/** The flags only some experiments take (the others refuse them). */
const OWN_FLAGS: Readonly<Record<string, { readonly key: keyof ExperimentCliOptions; readonly of: readonly ExperimentName[] }>> = {
  '--sizes': { key: 'sizes', of: ['payload-sweep'] },
  '--guests': { key: 'guests', of: ['concurrency'] },
  '--payload': { key: 'payload', of: ['concurrency', 'noisy-neighbour'] },
  '--hammers': { key: 'hammers', of: ['noisy-neighbour'] },
  '--hammer-payload': { key: 'hammerPayload', of: ['noisy-neighbour'] },
  '--hammer-fn': { key: 'hammerFn', of: ['noisy-neighbour'] },
};

const UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 * 1024, mb: 1024 * 1024, mib: 1024 * 1024 };

/** A byte size: `64`, `4K`, `64KiB`, `1M` (binary units), 1 B .. MAX_PAYLOAD_BYTES; `flag` names it in errors. */
export function parseSize(s: string, flag: string): number {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(s.trim());
  const unit = m === null ? undefined : UNITS[m[2]!.toLowerCase()];
  if (m === null || unit === undefined) throw new ValidationError(flag, `'${s}' is not a size like 64, 4K or 1M (bytes, binary units)`);
  const v = Number(m[1]) * unit;
  if (!Number.isSafeInteger(v) || v < 1 || v > MAX_PAYLOAD_BYTES) throw new ValidationError(flag, `${s} is ${v} bytes: give 1 to ${MAX_PAYLOAD_BYTES} (16 MiB, a region's limit)`);
  return v;
}

/** A comma-separated list of sizes, each once, in increasing order. */
export function parseSizeList(s: string, flag = '--sizes'): number[] {
  const parts = s.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length === 0) throw new ValidationError(flag, 'the list is empty');
  return [...new Set(parts.map((p) => parseSize(p, flag)))].sort((a, b) => a - b);
}

/** A comma-separated list of process counts 1 .. MAX_PROCESSES, each once, in increasing order. */
export function parseCountList(s: string, flag = '--guests'): number[] {
  const parts = s.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length === 0) throw new ValidationError(flag, 'the list is empty');
  return [
    ...new Set(
      parts.map((p) => {
        const v = Number(p);
        if (!/^\d+$/.test(p) || v < 1 || v > MAX_PROCESSES) throw new ValidationError(flag, `'${p}' is not an integer from 1 to ${MAX_PROCESSES}`);
        return v;
      }),
    ),
  ].sort((a, b) => a - b);
}

function payloadFn(v: string | undefined, flag: string): PayloadFn {
  const f = v ?? 'sha256';
  if (!(PAYLOAD_FNS as readonly string[]).includes(f)) throw new ValidationError(flag, `'${f}' is not one of ${PAYLOAD_FNS.join(', ')}`);
  return f as PayloadFn;
}

function inRange(v: number, flag: string, min: number, max: number): number {
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new ValidationError(flag, `${v} must be an integer from ${min} to ${max}`);
  return v;
}

/** The folder an experiment writes to when `-o` is not given: results/<name>-<time>. */
export function defaultOut(name: ExperimentName, now: Date): string {
  const stamp = now.toISOString().replace(/[:.]/g, '-').replace(/-\d+Z$/, 'Z');
  return join('results', `${name}-${stamp}`);
}

/** The options experiment `name` runs with; a ValidationError naming the flag for anything it cannot take. */
export function experimentOptionsFrom(name: string, o: ExperimentCliOptions, now = new Date()): ExperimentOptions {
  if (!isExperimentName(name)) throw new ValidationError('<name>', `'${name}' is not an experiment: ${EXPERIMENT_NAMES.join(', ')}`);
  for (const [flag, { key, of }] of Object.entries(OWN_FLAGS))
    if (o[key] !== undefined && !of.includes(name)) throw new ValidationError(flag, `is an option of ${of.join(' and ')}, not of ${name}`);
  const quick = o.quick === true;
  const calls = inRange(o.calls ?? (quick ? QUICK_CALLS : DEFAULT_CALLS)[name], '--calls', 1, 10_000_000);
  const common: CommonOptions = {
    out: resolve(o.out ?? defaultOut(name, now)),
    quick,
    calls,
    warmup: inRange(o.warmup ?? Math.min(calls, quick ? 20 : 200), '--warmup', 0, 10_000_000),
    seed: inRange(o.seed ?? DEFAULT_PAYLOAD_SEED, '--seed', 0, 0xffffffff),
  };
  const fn = payloadFn(o.fn, '--fn');
  switch (name) {
    case 'payload-sweep':
      return { ...common, experiment: name, fn, sizes: o.sizes ?? (quick ? QUICK_SIZES : DEFAULT_SIZES) };
    case 'concurrency':
      return {
        ...common,
        experiment: name,
        fn,
        guests: o.guests ?? (quick ? QUICK_GUESTS : DEFAULT_GUESTS),
        payload: inRange(o.payload ?? DEFAULT_SMALL_PAYLOAD, '--payload', 1, MAX_PAYLOAD_BYTES),
      };
    case 'noisy-neighbour':
      return {
        ...common,
        experiment: name,
        fn: payloadFn(o.fn ?? 'crc32', '--fn'),
        payload: inRange(o.payload ?? DEFAULT_SMALL_PAYLOAD, '--payload', 1, MAX_PAYLOAD_BYTES),
        hammers: inRange(o.hammers ?? DEFAULT_HAMMERS, '--hammers', 1, MAX_PROCESSES),
        hammerFn: payloadFn(o.hammerFn, '--hammer-fn'),
        hammerPayload: inRange(o.hammerPayload ?? DEFAULT_HAMMER_PAYLOAD, '--hammer-payload', 1, MAX_PAYLOAD_BYTES),
      };
  }
}
