/**
 * An instance's runtime whose service runs in a service process of its own
 * (service-process.ts): what FileRuntime hands vFunD at activation. Failure
 * and restart listeners carry what the process reported (or how it died) to
 * vFunD, which journals them; stop() ends the process, writes the region's
 * tombstone (guests waiting on it learn at once that no answer will come),
 * closes the control file and removes the instance's files.
 */
import type { ControlFile } from '../dataplane/control-file.js';
import type { LatencyHistogram } from '../dataplane/latency-histogram.js';
import type { MappableRegion } from '../dataplane/region-map.js';
import type { ComputationStats, ServiceExitCause } from '../domain/types.js';
import type { ActivationSpec, InstanceRuntime } from './runtime.js';
import { startServiceProcess, type ServiceProcessOptions } from './service-process.js';
import { toComputationStats } from './supervisor.js';
import { NoticeRelay } from './notice-relay.js';

export interface ProcessRuntimeParts<Region extends MappableRegion> {
  readonly region: Region;
  readonly control: ControlFile;
  /** Mark the region closed for its guests (no mapping: a write of the state word). */
  readonly tombstone: () => void;
  /** Remove what the instance left (files, slot, entries). */
  readonly cleanup: () => Promise<void>;
}

export async function processRuntime<Region extends MappableRegion>(
  spec: ActivationSpec,
  parts: ProcessRuntimeParts<Region>,
  options: Omit<ServiceProcessOptions, 'region' | 'driver' | 'control'>,
): Promise<InstanceRuntime<Region>> {
  const failureListeners: ((detail: string, cause?: ServiceExitCause) => void)[] = [];
  const restartListeners: ((attempt: number, backoffMs: number, detail: string) => void)[] = [];
  let failure: { detail: string; cause: ServiceExitCause | null } | null = null;
  const notices = new NoticeRelay();
  const service = await startServiceProcess(
    { ...options, region: parts.region, driver: spec.driver, control: parts.control },
    {
      restarting: (attempt, backoffMs, detail) => {
        for (const l of restartListeners) l(attempt, backoffMs, `${spec.driver}: ${detail}`);
      },
      failed: (detail, cause) => {
        // The guest must not wait for an answer that cannot come, even before vFunD reclaims the instance.
        if (cause !== null) parts.tombstone();
        failure = { detail: `service of ${spec.instance} (${spec.driver}): ${detail}`, cause };
        for (const l of failureListeners) callFailure(l, failure);
      },
      notice: notices.send,
    },
  );
  let final: Promise<ComputationStats> | null = null;
  // Read before the control file is closed: what latency() answers once the instance is stopped.
  let finalLatency: LatencyHistogram | null = null;
  return {
    region: parts.region,
    servicePid: service.pid,
    ...(service.activation !== undefined && { activation: service.activation }),
    stats: () => toComputationStats(service.stats()),
    latency: () => finalLatency ?? service.latency(),
    stop: () =>
      (final ??= (async () => {
        // Tombstone first (a guest waiting learns at once, even one that checks no pid), and again once the
        // service has exited (an answer it wrote meanwhile does not hide it).
        parts.tombstone();
        try {
          return toComputationStats(await service.stop());
        } finally {
          parts.tombstone();
          finalLatency = service.latency();
          parts.control.close();
          await parts.cleanup();
        }
      })()),
    onFailure: (l) => {
      failureListeners.push(l);
      if (failure !== null) callFailure(l, failure);
    },
    onRestart: (l) => restartListeners.push(l),
    onNotice: notices.listen,
  };
}

function callFailure(l: (detail: string, cause?: ServiceExitCause) => void, f: { detail: string; cause: ServiceExitCause | null }): void {
  if (f.cause === null) l(f.detail);
  else l(f.detail, f.cause);
}
