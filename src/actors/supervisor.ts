/**
 * Supervision of one instance's service: a service that dies (a driver that
 * crashes the worker) or hangs (a call past its deadline: the worker is
 * terminated) is restarted on the same region with exponential backoff. The
 * restarted service answers the call that was in flight with DRIVER_FAULT, so
 * its guest gets an error, and serves later calls. Too many restarts in a
 * window and the supervisor gives up: vFunD then releases the instance.
 */
import { startService, type ServiceExit, type ServiceHandle } from '../dataplane/service-host.js';
import { CONTROL_BYTES, type ServiceStats } from '../dataplane/service.js';
import type { LatencyHistogram } from '../dataplane/latency-histogram.js';
import type { SabRegion } from '../dataplane/region.js';
import type { MappableRegion } from '../dataplane/region-map.js';
import type { WaitStrategy } from '../dataplane/wait.js';
import type { ComputationStats } from '../domain/types.js';
import { NoticeRelay } from './notice-relay.js';
import type { ActivationSpec, InstanceRuntime } from './runtime.js';

/** How a service's supervisor restarts a driver that crashes or hangs, and when it gives up (vFunD then releases the instance). */
export interface SupervisionPolicy {
  /** Restarts allowed within `windowMs` before giving up (default 5). */
  readonly maxRestarts: number;
  /** The sliding window restarts are counted in, ms (default 60 s). */
  readonly windowMs: number;
  /** First backoff; doubles on each restart within the window, up to maxBackoffMs. */
  readonly backoffMs: number;
  /** Cap of the backoff, ms (default 2 s). */
  readonly maxBackoffMs: number;
  /** A call busy for longer than this is declared hung and its service restarted (default 10 s). */
  readonly callDeadlineMs: number;
}

/** The supervision policy a runtime uses when given none: 5 restarts a minute, backoff 50 ms doubling to 2 s, calls hung after 10 s. */
export const DEFAULT_SUPERVISION: SupervisionPolicy = {
  maxRestarts: 5,
  windowMs: 60_000,
  backoffMs: 50,
  maxBackoffMs: 2_000,
  callDeadlineMs: 10_000,
};

export interface SupervisionListener {
  /** A restart is about to happen (after `backoffMs`). */
  restarting(attempt: number, backoffMs: number, detail: string): void;
  /** The supervisor gave up; the instance has no service any more. */
  gaveUp(detail: string): void;
}

export interface SupervisedService {
  stats(): ServiceStats;
  /** The latency histogram of every incarnation (one control area for all). */
  latency(): LatencyHistogram;
  stop(): Promise<ServiceStats>;
  /** The service serving now (changes on restart). */
  readonly current: ServiceHandle;
}

/**
 * Start a service with `start(false)` and keep it alive; restarts call
 * `start(true)` (resume the region).
 */
export async function supervise(
  start: (resume: boolean) => Promise<ServiceHandle>,
  listener: SupervisionListener,
  policy: SupervisionPolicy = DEFAULT_SUPERVISION,
): Promise<SupervisedService> {
  let current = await start(false);
  let stopping = false;
  let gaveUp = false;
  const restarts: number[] = [];
  let lastStats: ServiceStats = current.stats();

  const watchdog = setInterval(
    () => {
      const since = current.busySince();
      if (since !== null && performance.now() - since > policy.callDeadlineMs) {
        hungDetail = `a call ran past its deadline of ${policy.callDeadlineMs} ms: service terminated`;
        void current.kill();
      }
    },
    Math.min(100, policy.callDeadlineMs / 4),
  );
  watchdog.unref();
  let hungDetail: string | null = null;

  // A restart in progress: stop() waits for it, so it never stops a dead handle while the new
  // service (already serving the guest) runs on.
  let restarting: Promise<void> | null = null;
  const watch = (h: ServiceHandle): void => {
    void h.exited.then((exit) => {
      lastStats = exit.stats;
      if (exit.expected || stopping) return;
      restarting = restart(exit).finally(() => (restarting = null));
    });
  };
  const restart = async (exit: ServiceExit): Promise<void> => {
    let detail = hungDetail ?? `service exited with code ${exit.exitCode}${exit.error ? `: ${exit.error.message}` : ''}`;
    hungDetail = null;
    for (;;) {
      const now = performance.now();
      while (restarts.length > 0 && restarts[0]! < now - policy.windowMs) restarts.shift();
      if (restarts.length >= policy.maxRestarts) {
        gaveUp = true;
        clearInterval(watchdog);
        listener.gaveUp(`${detail}; ${restarts.length} restarts within ${policy.windowMs / 1000} s: giving up`);
        return;
      }
      restarts.push(now);
      const backoffMs = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** (restarts.length - 1));
      listener.restarting(restarts.length, backoffMs, detail);
      await new Promise((r) => setTimeout(r, backoffMs));
      if (stopping) return;
      try {
        current = await start(true);
        watch(current);
        return;
      } catch (err) {
        detail = `restart failed: ${(err as Error).message}`;
      }
    }
  };
  watch(current);

  return {
    get current() {
      return current;
    },
    stats: () => (gaveUp ? lastStats : current.stats()),
    latency: () => current.latency(),
    stop: async () => {
      stopping = true;
      clearInterval(watchdog);
      if (restarting) await restarting;
      return gaveUp ? lastStats : current.stop();
    },
  };
}

export interface SupervisedRuntimeOptions {
  /** A module whose default export builds drivers by name (the old factory form), instead of the built-in registry. */
  readonly driverModule?: string | URL;
  /**
   * The drivers of driver modules (`driverModules`, LoadedConfig.driverModuleUrls): driver name → the
   * URL of the module defining it. A driver named here comes from its module, before `driverModule`.
   */
  readonly driverModules?: ReadonlyMap<string, string>;
  /** How the service waits for requests (default DEFAULT_STRATEGY). */
  readonly strategy?: WaitStrategy;
  /** Spin budget of the `hybrid` strategy before it blocks, µs (default DEFAULT_SPIN_MICROS). */
  readonly spinMicros?: number;
  /** Restarts and hung-call deadline (default DEFAULT_SUPERVISION). */
  readonly policy?: SupervisionPolicy;
}

/**
 * The part of an InstanceRuntime both backends share: a supervised service on
 * `region`, with failure (gave up), restart and notice listeners for vFunD to
 * journal. Notices come from every incarnation of the service (a restarted
 * one's too); `activation` is what the first one's driver reported.
 */
export async function supervisedRuntime<Region extends SabRegion | MappableRegion>(
  region: Region,
  spec: ActivationSpec,
  options: SupervisedRuntimeOptions,
  cleanup: () => Promise<void> = async () => undefined,
): Promise<InstanceRuntime<Region>> {
  const failureListeners: ((detail: string) => void)[] = [];
  const restartListeners: ((attempt: number, backoffMs: number, detail: string) => void)[] = [];
  const notices = new NoticeRelay();
  let failure: string | null = null;
  // One control area for every incarnation of the service: a restarted one resumes its counters
  // from there, never from datain (which a guest in a VM can write).
  const control = new SharedArrayBuffer(CONTROL_BYTES);
  const service = await supervise(
    (resume) =>
      startService({
        region,
        driver: spec.driver,
        resume,
        control,
        onNotice: notices.send,
        ...driverModuleOf(options, spec.driver),
        ...(options.strategy !== undefined && { strategy: options.strategy }),
        ...(options.spinMicros !== undefined && { spinMicros: options.spinMicros }),
      }),
    {
      restarting: (attempt, backoffMs, detail) => {
        for (const l of restartListeners) l(attempt, backoffMs, `${spec.driver}: ${detail}`);
      },
      gaveUp: (detail) => {
        failure = `service of ${spec.instance} (${spec.driver}): ${detail}`;
        for (const l of failureListeners) l(failure);
      },
    },
    options.policy,
  );
  let final: Promise<ComputationStats> | null = null;
  const activation = service.current.activation;
  return {
    region,
    ...(activation !== undefined && { activation }),
    stats: () => toComputationStats(service.stats()),
    latency: () => service.latency(),
    stop: () =>
      (final ??= (async () => {
        const stats = toComputationStats(await service.stop());
        await cleanup();
        return stats;
      })()),
    onFailure: (l) => {
      failureListeners.push(l);
      if (failure !== null) l(failure);
    },
    onRestart: (l) => restartListeners.push(l),
    onNotice: notices.listen,
  };
}

/** Service counters as journaled: only the error codes that occurred. */
export function toComputationStats(s: ServiceStats): ComputationStats {
  return { calls: s.calls, errors: Object.fromEntries(Object.entries(s.errors).filter(([, n]) => n > 0)) };
}

/** The module a service builds `driver` from (`{}`: the built-in registry): its driver module's, else the runtime's `driverModule`. */
export function driverModuleOf(options: SupervisedRuntimeOptions, driver: string): { driverModule?: string | URL } {
  const url = options.driverModules?.get(driver) ?? options.driverModule;
  return url === undefined ? {} : { driverModule: url };
}
