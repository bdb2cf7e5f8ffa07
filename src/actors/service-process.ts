/**
 * vFunD's side of a service process (service-process-main.ts): one process
 * per instance, started at activation, stopped at release.
 *
 * Why a process per instance (rather than per tenant): whatever kills a
 * service (SIGBUS on a region its guest truncated, a native driver crash,
 * the OOM killer) takes exactly one instance; its restart needs no
 * multiplexing; its descriptors are handed over at spawn. The price is one
 * Node process per live instance (docs/operator-guide.md, "Service
 * processes", gives the memory it costs).
 *
 * The process runs as the tenant's OS identity when it has one, inside the
 * tenant's cgroup when the host offers one, and sandboxed (no_new_privs, not
 * dumpable, killed with vFunD, a syscall deny list) when the native addon is
 * built. vFunD talks to it over an IPC channel and reads its counters and
 * busy word from the control file with pread: vFunD maps nothing a tenant
 * can write or resize.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { ControlFile } from '../dataplane/control-file.js';
import { isFdRegion } from '../dataplane/region-fds.js';
import type { MappableRegion } from '../dataplane/region-map.js';
import type { ServiceStats } from '../dataplane/service.js';
import type { LatencyHistogram } from '../dataplane/latency-histogram.js';
import type { TenantIdentity } from '../dataplane/region-tree.js';
import type { WaitStrategy } from '../dataplane/wait.js';
import { VirtFunError, type VirtFunErrorCode } from '../errors.js';
import type { DriverActivation, DriverNotice, ServiceExitCause } from '../domain/types.js';
import { processEntry } from '../util/entry.js';
import { processStopped } from '../util/process.js';
import { REGION_FDS, type FromService, type ToService } from './service-process-protocol.js';
import { DEFAULT_SUPERVISION, type SupervisionPolicy } from './supervisor.js';

export interface ServiceProcessOptions {
  readonly region: MappableRegion;
  readonly driver: string;
  readonly control: ControlFile;
  readonly driverModule?: string | URL;
  readonly strategy?: WaitStrategy;
  readonly spinMicros?: number;
  readonly policy?: SupervisionPolicy;
  /** Run as this uid/gid (vFunD must be root). */
  readonly identity?: TenantIdentity;
  /** Put the process into its tenant's cgroup before it does anything. */
  readonly join?: (pid: number) => Promise<void>;
  /** Why a SIGKILL came, when something knows (the tenant's cgroup counted an OOM kill); null: no idea. */
  readonly explainKill?: () => Promise<string | null>;
  /** Sandbox the process (default true; needs the native addon, skipped without it). */
  readonly sandbox?: boolean;
  /** With the sandbox: leave ftruncate allowed, for a driver whose device library grows memfds of its own (a GPU's). */
  readonly allowFtruncate?: boolean;
  readonly readyTimeoutMs?: number;
  /**
   * How long stop() waits for a clean exit before SIGKILL (default 1 s). vFunD's mailbox waits
   * meanwhile (every tenant's control requests), so it is short: the counters are in the control
   * file already, a kill loses nothing of them. A process found stopped (SIGSTOP, by its tenant) is
   * killed at once.
   */
  readonly stopTimeoutMs?: number;
}

export interface ServiceProcessEvents {
  /** The service's own supervisor restarts a crashed or hung worker (journal it). */
  restarting(attempt: number, backoffMs: number, detail: string): void;
  /** The instance has no service any more: it gave up restarting, or the process died. */
  failed(detail: string, cause: ServiceExitCause | null): void;
  /** The driver sent a notice (a failover to its software twin, a cross-check mismatch). */
  notice?(notice: DriverNotice): void;
}

export interface ServiceProcess {
  readonly pid: number;
  /** Whether the sandbox was applied. */
  readonly sandboxed: boolean;
  /** What the driver's init took (device, adapter, time), when the driver reports it. */
  readonly activation?: DriverActivation;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ServiceExitCause>;
  /** Counters from the control file (pread). */
  stats(): ServiceStats;
  /** The latency histogram from the control file (pread). */
  latency(): LatencyHistogram;
  /** Ask for a clean stop (SIGKILL after stopTimeoutMs, at once if stopped); resolves with the final counters. Idempotent. */
  stop(): Promise<ServiceStats>;
}

const TAIL_BYTES = 2048;
/** stopTimeoutMs by default. */
export const DEFAULT_STOP_TIMEOUT_MS = 1_000;

/** Say what ended a process, in words an operator can act on; `known`: what is known of the signal's cause. */
export function describeExit(cause: ServiceExitCause, known?: string | null): string {
  if (cause.signal !== null) {
    if (known) return `killed by ${cause.signal} (${known})`;
    const why: Record<string, string> = {
      SIGBUS: 'a bus error: memory it mapped shrank under it',
      SIGSEGV: 'a segmentation fault: a native crash',
      SIGKILL: 'SIGKILL: the OOM killer (a memory limit) or an operator',
      SIGABRT: 'an abort: a native assertion or an out-of-memory in the JS heap',
      SIGSYS: 'a forbidden system call',
    };
    return `killed by ${cause.signal}${why[cause.signal] ? ` (${why[cause.signal]})` : ''}`;
  }
  return `exited with code ${cause.code ?? '?'}`;
}

export async function startServiceProcess(opts: ServiceProcessOptions, events: ServiceProcessEvents): Promise<ServiceProcess> {
  const entry = processEntry(import.meta.url, './service-process-main.js');
  // A sealed-memory region travels as descriptors too: the child sees them as REGION_FDS.
  const regionFds = isFdRegion(opts.region) ? [opts.region.dataoutFd, opts.region.datainFd] : [];
  const region: MappableRegion = isFdRegion(opts.region) ? { capacity: opts.region.capacity, ...REGION_FDS } : opts.region;
  const child: ChildProcess = spawn(process.execPath, [...entry.execArgv, entry.module], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc', opts.control.fd, ...regionFds],
    serialization: 'json',
    ...(opts.identity !== undefined && { uid: opts.identity.uid, gid: opts.identity.gid }),
  });
  let stderrTail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    stderrTail = (stderrTail + d).slice(-TAIL_BYTES);
  });
  child.on('error', () => undefined); // a failed spawn shows up as an exit
  let stopRequested = false;
  let finalStats: ServiceStats | null = null;
  let failedOnce = false;
  const fail = (detail: string, cause: ServiceExitCause | null): void => {
    if (failedOnce || stopRequested) return;
    failedOnce = true;
    events.failed(detail, cause);
  };
  const exited = new Promise<ServiceExitCause>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  // A SIGKILL vFunD sent itself, or one after the failure was reported, is not asked about.
  const describe = async (cause: ServiceExitCause): Promise<string> =>
    describeExit(cause, cause.signal === 'SIGKILL' && !stopRequested && !failedOnce ? await opts.explainKill?.() : null);
  const lastLine = (): string => {
    const lines = stderrTail.trim().split('\n');
    const l = lines[lines.length - 1]?.trim() ?? '';
    return l === '' ? '' : `; last words: ${l.slice(0, 200)}`;
  };

  let onReady: ((m: FromService) => void) | null = null;
  child.on('message', (m: FromService) => {
    switch (m.type) {
      case 'restarting':
        events.restarting(m.attempt, m.backoffMs, m.detail);
        return;
      case 'gave-up':
        fail(m.detail, null);
        return;
      case 'notice':
        events.notice?.(m.notice);
        return;
      case 'stopped':
        finalStats = m.stats;
        return;
      default:
        onReady?.(m);
    }
  });

  if (child.pid === undefined) {
    const cause = await exited;
    throw new VirtFunError('SERVICE_ERROR', `could not start a service process for '${opts.driver}' (${describeExit(cause)})`);
  }
  const pid = child.pid;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  let sandboxed = false;
  let activation: DriverActivation | undefined;
  try {
    await opts.join?.(pid);
    const init: ToService = {
      type: 'init',
      region,
      driver: opts.driver,
      sandbox: opts.sandbox ?? true,
      ...(opts.allowFtruncate === true && { allowFtruncate: true }),
      ...(opts.driverModule !== undefined && { driverModule: String(opts.driverModule) }),
      ...(opts.strategy !== undefined && { strategy: opts.strategy }),
      ...(opts.spinMicros !== undefined && { spinMicros: opts.spinMicros }),
      ...(opts.policy !== undefined && { policy: opts.policy }),
    };
    child.send(init);
    ({ sandboxed, activation } = await new Promise<{ sandboxed: boolean; activation: DriverActivation | undefined }>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new VirtFunError('SERVICE_ERROR', `service '${opts.driver}' did not report ready within ${readyTimeoutMs} ms`)),
        readyTimeoutMs,
      );
      onReady = (m) => {
        clearTimeout(timer);
        if (m.type === 'ready') resolve({ sandboxed: m.sandboxed, activation: m.activation });
        else if (m.type === 'failed') reject(new VirtFunError(m.code as VirtFunErrorCode, `service '${opts.driver}' did not start: ${m.message}`));
      };
      void exited.then(async (cause) => {
        clearTimeout(timer);
        if (onReady === null) return; // it was ready: its end is reported below, once
        reject(new VirtFunError('SERVICE_ERROR', `service process of '${opts.driver}' ${await describe(cause)} before it was ready${lastLine()}`));
      });
    }));
  } catch (err) {
    stopRequested = true;
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
  onReady = null;

  void exited.then(async (cause) => fail(`service process ${pid} ${await describe(cause)}${lastLine()}`, cause));

  // The service's own watchdog restarts a hung worker. A process that does not get the better of a
  // hung call (a native driver stuck in a system call) is killed here, and the instance fails.
  const policy = opts.policy ?? DEFAULT_SUPERVISION;
  const graceMs = 2 * policy.callDeadlineMs + 1_000;
  let busyWord = 0;
  let busyAt = 0;
  const watchdog = setInterval(
    () => {
      const busy = opts.control.busy();
      const now = performance.now();
      if (busy === 0 || busy !== busyWord) {
        busyWord = busy;
        busyAt = now;
        return;
      }
      if (now - busyAt > graceMs) {
        fail(`service process ${pid}: a call stayed busy for over ${Math.round(graceMs / 1000)} s and its own watchdog did not end it: killed`, null);
        child.kill('SIGKILL');
      }
    },
    Math.min(250, graceMs / 4),
  );
  watchdog.unref();
  void exited.then(() => clearInterval(watchdog));

  let stopping: Promise<ServiceStats> | null = null;
  return {
    pid,
    sandboxed,
    ...(activation !== undefined && { activation }),
    exited,
    stats: () => finalStats ?? opts.control.stats(),
    latency: () => opts.control.latency(),
    stop: () =>
      (stopping ??= (async () => {
        stopRequested = true;
        clearInterval(watchdog);
        if (child.exitCode === null && child.signalCode === null) {
          // A tenant that stopped its own service (same uid) must not make vFunD wait for it.
          if (processStopped(pid)) child.kill('SIGKILL');
          else if (child.connected) child.send({ type: 'stop' } satisfies ToService, () => undefined);
          const killer = setTimeout(() => child.kill('SIGKILL'), opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
          await exited;
          clearTimeout(killer);
        }
        return finalStats ?? opts.control.stats();
      })()),
  };
}
