/**
 * vFunD's side of an in-process service: start the service worker on a
 * region, watch it, stop it. The stop flag lives in a small control
 * SharedArrayBuffer only vFunD and the worker hold: the client, which can
 * write all of dataout, cannot stop (or otherwise steer) the service.
 */
import { Worker } from 'node:worker_threads';
import { ValidationError, VirtFunError, type VirtFunErrorCode } from '../errors.js';
import { workerEntry } from '../util/entry.js';
import { checkHeader, I32, sabChannel, type SabRegion } from './region.js';
import type { MappedRegion } from './region-files.js';
import { isMappableRegion, mapRegion, type MappableRegion } from './region-map.js';
import { controlWords, type ControlFd } from './control-file.js';
import { CONTROL, CONTROL_BYTES, readControlLatency, readControlStats, type ServiceStats } from './service.js';
import type { LatencyHistogram } from './latency-histogram.js';
import type { DriverActivation, DriverNotice } from '../domain/types.js';
import type { ServiceWorkerData, ServiceWorkerMessage } from './service-worker.js';
import { DEFAULT_STRATEGY, isWaitStrategy, WAIT_STRATEGIES, type WaitStrategy } from './wait.js';

/**
 * Options of `startService`: the region, the driver and where it comes from, the wait strategy, timeouts, and the control area.
 */
export interface StartServiceOptions {
  /** In-process (SharedArrayBuffers), or region files / sealed memfds / a window slot (mapped by the worker, and read-only by this thread to watch and wake it: in a service process, never in vFunD). */
  readonly region: SabRegion | MappableRegion;
  /** Registry name (`crc32`, `sim-fpga:sha256`, ...), or the name passed to `driverModule`'s factory. */
  readonly driver: string;
  /** A module whose export `driverExport` (default `default`) is `(name: string) => FunctionDriver`. */
  readonly driverModule?: string | URL;
  /** The export of `driverModule` to use (default `default`). */
  readonly driverExport?: string;
  /** The service's wait strategy (default hybrid). */
  readonly strategy?: WaitStrategy;
  /** Spin budget of the `hybrid` strategy, µs (default DEFAULT_SPIN_MICROS). */
  readonly spinMicros?: number;
  /** Longest sleep between two looks at the stop flag, in ms (default 250). */
  readonly sliceMs?: number;
  /** How long to wait for the worker to report ready (default 30000 ms). */
  readonly readyTimeoutMs?: number;
  /** How long stop() waits for a clean exit before terminating the worker (default 5000 ms). */
  readonly stopTimeoutMs?: number;
  /** Take over a region whose previous service died (restart): see ServiceLoopOptions.resume. */
  readonly resume?: boolean;
  /**
   * vFunD's control area (CONTROL_BYTES): pass the same one to a restarted
   * service so it resumes the counters from there (default: a fresh one).
   * `{ fd }`: a control file (control-file.ts) this process holds open, mapped
   * by this thread and by the worker (a service process's control area).
   */
  readonly control?: SharedArrayBuffer | ControlFd;
  /** Called once when the worker exits, expected (after stop()) or not. */
  readonly onExit?: (exit: ServiceExit) => void;
  /** Called with each notice the driver sends (a failover to its software twin, a cross-check mismatch). */
  readonly onNotice?: (notice: DriverNotice) => void;
}

/** How a service's worker ended: asked to or not, its exit code or error, and its final counters. */
export interface ServiceExit {
  /** True when stop() asked for the exit; false for an unexpected death (journal it). */
  readonly expected: boolean;
  /** The worker's exit code. */
  readonly exitCode: number;
  /** The uncaught error that killed the worker, if any. */
  readonly error?: Error;
  /** Final counters (the worker's own when it stopped cleanly, else those published in datain). */
  readonly stats: ServiceStats;
  /** driver.exit failure, if any. */
  readonly exitError?: string;
}

/**
 * A running service (a worker thread serving one region), from `startService`: its counters, heartbeat, and stop and kill.
 */
export interface ServiceHandle {
  /** The worker's thread id. */
  readonly threadId: number;
  /** The driver's name, as given. */
  readonly driver: string;
  /** The region it serves. */
  readonly region: SabRegion | MappableRegion;
  /** What the driver's init took (device, adapter, time), when the driver reports it. */
  readonly activation?: DriverActivation;
  /** Resolves (never rejects) when the worker has exited. */
  readonly exited: Promise<ServiceExit>;
  /** Counters published in datain. */
  stats(): ServiceStats;
  /** The latency histogram in vFunD's control area (kept across restarts, readable after exit). */
  latency(): LatencyHistogram;
  /** The service's heartbeat counter (bumps at least every sliceMs while alive). */
  heartbeat(): number;
  /** Stop the loop, run driver.exit, wait for the worker to exit. Idempotent. */
  stop(): Promise<ServiceStats>;
  /** Terminate the worker now (a hung driver): an unexpected exit, reported through onExit/exited. */
  kill(): Promise<void>;
  /** Whether the service is computing (datain state BUSY), and since when (performance.now()), else null. */
  busySince(): number | null;
}

/** Start a service worker on `region`; resolves once the driver is initialised and the loop is about to run. */
export async function startService(opts: StartServiceOptions): Promise<ServiceHandle> {
  const strategy = opts.strategy ?? DEFAULT_STRATEGY;
  if (!isWaitStrategy(strategy)) {
    throw new ValidationError('strategy', `'${String(strategy)}' is not one of ${WAIT_STRATEGIES.join(', ')}`);
  }
  const { region } = opts;
  // vFunD's own view: read-only for a file region, so watching never writes either area.
  const observer: MappedRegion | null = isMappableRegion(region) ? mapRegion(region, 'observer') : null;
  const { dataout, datain, ops } = observer !== null ? observer.areas : sabChannel(region as SabRegion);
  checkHeader(dataout, 'dataout', region.capacity);
  checkHeader(datain, 'datain', region.capacity);

  const control = opts.control ?? new SharedArrayBuffer(CONTROL_BYTES);
  const controlI32 = controlWords(control);
  Atomics.store(controlI32, CONTROL.stop, 0);
  const data: ServiceWorkerData = {
    region: isMappableRegion(region) ? { ...region } : { dataout: region.dataout, datain: region.datain },
    control: control instanceof SharedArrayBuffer ? control : { fd: control.fd },
    driverName: opts.driver,
    capacity: region.capacity,
    strategy,
    ...(opts.driverModule !== undefined && { driverModule: String(opts.driverModule) }),
    ...(opts.driverExport !== undefined && { driverExport: opts.driverExport }),
    ...(opts.spinMicros !== undefined && { spinMicros: opts.spinMicros }),
    ...(opts.sliceMs !== undefined && { sliceMs: opts.sliceMs }),
    ...(opts.resume === true && { resume: true }),
  };
  const entry = workerEntry(import.meta.url, './service-worker.js');
  const worker = new Worker(entry.url, {
    workerData: data,
    ...(entry.execArgv.length > 0 && { execArgv: [...process.execArgv, ...entry.execArgv] }),
  });

  let stopRequested = false;
  let finalStats: ServiceStats | undefined;
  let exitError: string | undefined;
  let crash: Error | undefined;
  let onReady: ((m: ServiceWorkerMessage) => void) | undefined;

  worker.on('message', (m: ServiceWorkerMessage) => {
    if (m.type === 'stopped') {
      finalStats = m.stats;
      exitError = m.exitError;
    } else if (m.type === 'notice') {
      opts.onNotice?.(m.notice);
    } else {
      onReady?.(m);
    }
  });
  worker.on('error', (e) => {
    crash = e instanceof Error ? e : new Error(String(e));
  });
  const exited = new Promise<ServiceExit>((resolve) => {
    worker.once('exit', (exitCode) => {
      const stats = finalStats ?? readControlStats(controlI32);
      observer?.unmap();
      const exit: ServiceExit = {
        expected: stopRequested,
        exitCode,
        stats,
        ...(crash !== undefined && { error: crash }),
        ...(exitError !== undefined && { exitError }),
      };
      try {
        opts.onExit?.(exit);
      } finally {
        resolve(exit);
      }
    });
  });

  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  let activation: DriverActivation | undefined;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      stopRequested = true;
      void worker.terminate();
      reject(new VirtFunError('SERVICE_ERROR', `service '${opts.driver}' did not report ready within ${readyTimeoutMs} ms`));
    }, readyTimeoutMs);
    onReady = (m) => {
      clearTimeout(timer);
      if (m.type === 'ready') {
        activation = m.activation;
        resolve();
      }
      else if (m.type === 'failed') {
        stopRequested = true; // the worker leaves on its own
        reject(new VirtFunError(m.code as VirtFunErrorCode, `service '${opts.driver}' did not start: ${m.message}`));
      }
    };
    void exited.then((x) => {
      clearTimeout(timer);
      const why = x.error ? `: ${x.error.message}` : '';
      reject(new VirtFunError('SERVICE_ERROR', `service '${opts.driver}' worker exited (code ${x.exitCode}) before ready${why}`, { cause: x.error }));
    });
  });
  onReady = undefined;

  let stopping: Promise<ServiceStats> | undefined;
  let busyWord: number | null = null;
  let busyAt = 0;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 5_000;
  return {
    threadId: worker.threadId,
    driver: opts.driver,
    region,
    ...(activation !== undefined && { activation }),
    exited,
    // Counters and the busy flag come from vFunD's control area: a guest can write datain (a window).
    stats: () => finalStats ?? readControlStats(controlI32),
    latency: () => readControlLatency(controlI32),
    heartbeat: () => Atomics.load(datain.i32, I32.serviceHeartbeat) >>> 0,
    kill: async () => {
      await worker.terminate();
    },
    busySince: () => {
      const busy = Atomics.load(controlI32, CONTROL.busy);
      if (busy === 0) {
        busyWord = null;
        return null;
      }
      if (busyWord !== busy) {
        busyWord = busy;
        busyAt = performance.now();
      }
      return busyAt;
    },
    stop: () => {
      stopping ??= (async () => {
        stopRequested = true;
        Atomics.store(controlI32, CONTROL.stop, 1);
        // Wake a sleeping service. A wake can miss a service that is between its stop check and its
        // sleep; repeating it (and the service's sleep slices) bounds the delay.
        const wake = (): void => {
          if (dataout.bytes.byteLength > 0) ops.notify(dataout.i32, I32.req);
        };
        wake();
        const nudger = setInterval(wake, 5);
        const killer = setTimeout(() => void worker.terminate(), stopTimeoutMs);
        try {
          const x = await exited;
          return x.stats;
        } finally {
          clearInterval(nudger);
          clearTimeout(killer);
        }
      })();
      return stopping;
    },
  };
}
