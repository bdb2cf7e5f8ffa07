/**
 * A host in one call, for tests: vFunD with the chosen functions and
 * drivers, a journal (in memory by default), deterministic clock and ids,
 * and services in worker threads of the test's process. `open` gives a guest
 * vFunction through the same four phases as a real guest; `check` says
 * whether the journal is a valid chain and replays to the live state.
 *
 *   const h = await startHarness({ functions: { reverse: 'reverse' }, driverModules: ['./reverse.ts'] });
 *   const vf = await h.open('reverse');
 *   vf.call(bytes);
 *   await h.stop();
 */
import { VFunD } from '../actors/vfund.js';
import { SabRuntime } from '../actors/runtime-sab.js';
import { loadConfig } from '../daemon/config.js';
import { toSnapshot, type VFunDConfig } from '../actors/config.js';
import { replayJournal } from '../actors/replay.js';
import { canonicalJson } from '../events/canonical.js';
import { verifyChain } from '../events/chain.js';
import { MemoryJournal } from '../events/memory-journal.js';
import { eventOf, type Clock, type Envelope, type IdSource } from '../events/envelope.js';
import type { Journal } from '../events/journal.js';
import type { VFunDConfigSnapshot, VFunEvent } from '../events/catalogue.js';
import type { Kind } from '../domain/types.js';
import type { SabRegion } from '../dataplane/region.js';
import { connect } from '../guest/connect.js';
import { VFunction, type OpenOptions } from '../guest/vfunction.js';
import { VirtFunError } from '../errors.js';
import { counterIds, steppingClock } from './deterministic.js';

/** The tenant every harness has unless told otherwise. */
export const HARNESS_TENANT = 'tenant';
/** Its secret (a test value: the harness is never a real host). */
export const HARNESS_SECRET = 'harness-secret-not-for-production';

/** A function the harness serves: a driver name (software, 4 slots), or its kinds as in a configuration. */
export type HarnessFunction = string | { readonly sw?: { readonly slots: number; readonly driver: string }; readonly hw?: { readonly slots: number; readonly driver: string } };

/** Options of `startHarness`: the functions served and their drivers, the journal, quota, capacity, clock and ids. */
export interface HarnessOptions {
  /** Function name → its driver (or kinds). Default: `{ crc32: 'crc32' }`. */
  readonly functions?: Readonly<Record<string, HarnessFunction>>;
  /** Driver modules defining drivers the functions name (paths from the working directory, package names or file URLs). */
  readonly driverModules?: readonly string[];
  /** The journal; default a MemoryJournal (it is not closed by stop: a journal given is the caller's). */
  readonly journal?: Journal;
  /** Instances the tenant may hold at once (default 16). */
  readonly maxInstances?: number;
  /** Each region's payload capacity in bytes (default 65536). */
  readonly regionCapacity?: number;
  /** Default: a clock moving 1 ms per reading from 2026-01-01 (steppingClock). */
  readonly clock?: Clock;
  /** Default: `id-1`, `id-2`, … (counterIds). */
  readonly ids?: IdSource;
  /** Directory that relative driver module paths start from (default the working directory). */
  readonly baseDir?: string;
}

/** What a harness's journal says of itself (see Harness.check). */
export interface HarnessCheck {
  /** Events journaled. */
  readonly events: number;
  /** Whether every envelope links to the one before it (verifyChain). */
  readonly chainValid: boolean;
  /** Whether replaying the journal re-decides every recorded decision and gives the live state. */
  readonly replayEqualsLive: boolean;
  /** The first divergence replay found, described, or null. */
  readonly divergence: string | null;
}

/**
 * A vFunD running in this process for a test (from `startHarness`): open vFunctions of its one tenant,
 * read and check its journal, stop it. `await using h = await startHarness(…)` stops it at the end of the block.
 */
export interface Harness {
  /** The vFunD serving the test (in-process runtime: SharedArrayBuffer regions, services in worker threads). */
  readonly vfund: VFunD<SabRegion>;
  /** Its journal (the one given in the options, or its own MemoryJournal). */
  readonly journal: Journal;
  /** The configuration vFunD runs with, as journaled. */
  readonly config: VFunDConfigSnapshot;
  /** Negotiate and activate `fn` as the harness's tenant (app: a new name per call unless given). */
  open(fn: string, options?: { readonly app?: string; readonly kind?: Kind; readonly fallback?: boolean }): Promise<VFunction>;
  /** Every event journaled so far. */
  events(): Promise<VFunEvent[]>;
  /** Chain and replay of the journal so far (call after the vFunctions of interest are released). */
  check(): Promise<HarnessCheck>;
  /** Release every instance (vFunD's shutdown) and stop vFunD; idempotent. */
  stop(): Promise<void>;
  /** `stop()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

function kindsOf(fn: string, f: HarnessFunction): { sw?: { slots: number; driver: string }; hw?: { slots: number; driver: string } } {
  if (typeof f === 'string') return { sw: { slots: 4, driver: f } };
  if (f.sw === undefined && f.hw === undefined) throw new VirtFunError('CONFIG', `harness function '${fn}': give a driver name or kinds.sw / kinds.hw`);
  return { ...(f.sw && { sw: { ...f.sw } }), ...(f.hw && { hw: { ...f.hw } }) };
}

/** Start vFunD with the given functions in this process (services in worker threads); ConfigError as `vfun up` gives. */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const functions = Object.entries(options.functions ?? { crc32: 'crc32' });
  const raw: VFunDConfig = {
    tenants: [{ id: HARNESS_TENANT, secret: HARNESS_SECRET, maxInstances: options.maxInstances ?? 16 }],
    functions: functions.map(([name, f]) => ({ name, kinds: kindsOf(name, f) })),
    regionCapacity: options.regionCapacity ?? 64 * 1024,
    ...(options.driverModules !== undefined && options.driverModules.length > 0 && { driverModules: [...options.driverModules] }),
  } as VFunDConfig;
  const loaded = await loadConfig(raw, options.baseDir);
  const config = toSnapshot(loaded);
  const journal = options.journal ?? new MemoryJournal();
  const vfund = await VFunD.start<SabRegion>({
    journal,
    runtime: new SabRuntime({ driverModules: loaded.driverModuleUrls }),
    config,
    host: 'harness',
    clock: options.clock ?? steppingClock(),
    ids: options.ids ?? counterIds(),
  });
  let apps = 0;
  let stopping: Promise<void> | null = null;
  const readAll = async (): Promise<Envelope[]> => {
    await vfund.settled();
    const out: Envelope[] = [];
    for await (const e of journal.read()) out.push(e);
    return out;
  };
  const harness: Harness = {
    vfund,
    journal,
    config,
    open(fn, o = {}) {
      const opts: OpenOptions = {
        tenant: HARNESS_TENANT,
        credential: HARNESS_SECRET,
        app: o.app ?? `app-${++apps}`,
        fn,
        kind: o.kind ?? (config.functions.find((f) => f.name === fn)?.kinds.hw ? 'hw' : 'sw'),
        ...(o.fallback !== undefined && { fallback: o.fallback }),
      };
      return VFunction.open(vfund, (r) => connect(r), opts);
    },
    async events() {
      return (await readAll()).map(eventOf);
    },
    async check() {
      const envelopes = await readAll();
      const chain = await verifyChain(envelopes);
      const report = await replayJournal(envelopes);
      const same = canonicalJson(report.state) === canonicalJson(vfund.snapshot);
      return {
        events: envelopes.length,
        chainValid: chain.ok,
        replayEqualsLive: report.divergence === null && same,
        divergence: report.divergence === null ? (same ? null : 'replayed state differs from the live state') : `seq ${report.divergence.seq}: ${report.divergence.command} decided differently`,
      };
    },
    stop() {
      return (stopping ??= vfund.stop());
    },
    [Symbol.asyncDispose]() {
      return harness.stop();
    },
  };
  return harness;
}
