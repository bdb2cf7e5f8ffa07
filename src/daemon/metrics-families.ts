/**
 * What the Prometheus exporter (metrics.ts) publishes, as pure functions of one
 * `HostStatus` (status.ts): each metric family's name, help, type and the
 * samples it has in a given status. Nothing here reads a clock, a socket or a
 * service: a scrape takes one status and maps it.
 *
 * Label values only ever come from the configuration (tenants, functions,
 * kinds, devices) and the lifecycle's phases, never from instance ids or pids,
 * so the number of series is bounded by the configuration. Per tenant, function
 * and kind, every configured combination is present from the start (zero until
 * used), so `rate()` and `increase()` see the first call.
 */
import { LIFECYCLE_PHASES } from '../machines/lifecycle.js';
import type { CallTotals, HostStatus, LatencyHistogram } from './status.js';

/** One sample of a family: its labels and value; histograms' samples name their series (`…_bucket`, `…_sum`, `…_count`). */
export interface MetricSample {
  readonly metricName?: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

/** Prometheus metric types the exporter uses. */
export type MetricKind = 'counter' | 'gauge' | 'histogram';

/** A metric family: what `# HELP` and `# TYPE` say, and its samples in a status. */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: MetricKind;
  readonly samples: (s: HostStatus) => MetricSample[];
}

/** The phases a live instance can be in (the lifecycle's top-level ones that hold a slot). */
export const LIVE_PHASES = LIFECYCLE_PHASES.filter((p) => p === 'activation' || p === 'computation' || p === 'failed' || p === 'release');

/** Top-level phase of an instance's step (`activation.pending` -> `activation`). */
export function topPhase(step: string): string {
  return step.split('.')[0] ?? step;
}

/** Convert a LatencyHistogram (ns, one count per bucket, last bucket +Inf) to Prometheus's cumulative buckets in seconds. */
export function histogramSamples(name: string, labels: Readonly<Record<string, string>>, h: LatencyHistogram): MetricSample[] {
  if (h.counts.length !== h.boundsNs.length + 1) {
    throw new RangeError(`latency histogram of ${JSON.stringify(labels)}: ${h.counts.length} counts for ${h.boundsNs.length} bounds (want bounds + 1, the last for +Inf)`);
  }
  const out: MetricSample[] = [];
  let cumulative = 0;
  h.boundsNs.forEach((ns, i) => {
    cumulative += h.counts[i]!;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: ns / 1e9 }, value: cumulative });
  });
  cumulative += h.counts[h.boundsNs.length]!;
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
  out.push({ metricName: `${name}_sum`, labels, value: h.sumNs / 1e9 });
  out.push({ metricName: `${name}_count`, labels, value: cumulative });
  return out;
}

/**
 * Totals for every configured tenant × (function, kind), zero where nothing ran yet,
 * then any other key the status has (a tenant or function removed by a reload keeps its counters).
 */
export function totalsWithZeros(s: HostStatus): CallTotals[] {
  const key = (t: { tenant: string; fn: string; kind: string }) => `${t.tenant}\u0000${t.fn}\u0000${t.kind}`;
  const out = new Map<string, CallTotals>();
  for (const t of s.tenants) for (const sl of s.slots) out.set(key({ tenant: t.id, fn: sl.fn, kind: sl.kind }), { tenant: t.id, fn: sl.fn, kind: sl.kind, calls: 0, errors: 0, latency: null });
  for (const t of s.totals) out.set(key(t), t);
  return [...out.values()];
}

const callLabels = (t: CallTotals) => ({ tenant: t.tenant, fn: t.fn, kind: t.kind });
const bool = (b: boolean) => (b ? 1 : 0);

/** The name of the call latency histogram (its series: `_bucket`, `_sum`, `_count`). */
export const CALL_LATENCY = 'vfun_call_latency_seconds';

/** Every family the exporter publishes, in the order of the scrape. */
export const METRIC_FAMILIES: readonly MetricFamily[] = [
  {
    name: 'vfun_calls_total',
    help: 'Calls answered by the services, per tenant, function and kind, since vFunD started (live and released instances).',
    type: 'counter',
    samples: (s) => totalsWithZeros(s).map((t) => ({ labels: callLabels(t), value: t.calls })),
  },
  {
    name: 'vfun_call_errors_total',
    help: 'Calls answered with an error code, per tenant, function and kind, since vFunD started.',
    type: 'counter',
    samples: (s) => totalsWithZeros(s).map((t) => ({ labels: callLabels(t), value: t.errors })),
  },
  {
    name: CALL_LATENCY,
    help: 'Latency of answered calls, per tenant, function and kind, as measured by the services (log-bucketed).',
    type: 'histogram',
    samples: (s) => s.totals.flatMap((t) => (t.latency === null ? [] : histogramSamples(CALL_LATENCY, callLabels(t), t.latency))),
  },
  {
    name: 'vfun_instances',
    help: 'Live instances per tenant and lifecycle phase (activation, computation, failed, release).',
    type: 'gauge',
    samples: (s) =>
      s.tenants.flatMap((t) =>
        LIVE_PHASES.map((phase) => ({ labels: { tenant: t.id, phase }, value: s.instances.filter((i) => i.tenant === t.id && topPhase(i.phase) === phase).length })),
      ),
  },
  {
    name: 'vfun_tenant_max_instances',
    help: "A tenant's quota: the most instances it may hold at once.",
    type: 'gauge',
    samples: (s) => s.tenants.map((t) => ({ labels: { tenant: t.id }, value: t.maxInstances })),
  },
  {
    name: 'vfun_tenant_disabled',
    help: 'Whether an operator disabled the tenant (1: its new negotiations are refused).',
    type: 'gauge',
    samples: (s) => s.tenants.map((t) => ({ labels: { tenant: t.id }, value: bool(t.disabled) })),
  },
  {
    name: 'vfun_slots',
    help: 'Slots configured per function and kind.',
    type: 'gauge',
    samples: (s) => s.slots.map((sl) => ({ labels: { fn: sl.fn, kind: sl.kind }, value: sl.slots })),
  },
  {
    name: 'vfun_slots_in_use',
    help: 'Slots held by live instances per function and kind.',
    type: 'gauge',
    samples: (s) => s.slots.map((sl) => ({ labels: { fn: sl.fn, kind: sl.kind }, value: sl.inUse })),
  },
  {
    name: 'vfun_device_slots',
    help: 'Slots of each configured hardware device.',
    type: 'gauge',
    samples: (s) => s.devices.map((d) => ({ labels: { device: d.name }, value: d.slots })),
  },
  {
    name: 'vfun_device_available',
    help: 'Whether each configured hardware device takes new instances (0: no adapter, or lost: its functions fall back to software).',
    type: 'gauge',
    samples: (s) => s.devices.map((d) => ({ labels: { device: d.name }, value: d.available ? 1 : 0 })),
  },
  {
    name: 'vfun_device_slots_in_use',
    help: 'Slots of each configured hardware device held by live instances.',
    type: 'gauge',
    samples: (s) => s.devices.map((d) => ({ labels: { device: d.name }, value: d.inUse })),
  },
  {
    name: 'vfun_accepting',
    help: 'Whether vFunD admits new negotiations (0: draining).',
    type: 'gauge',
    samples: (s) => [{ labels: {}, value: bool(s.accepting) }],
  },
  {
    name: 'vfun_journal_available',
    help: 'Whether the journal takes events (0: it cannot write, new negotiations are refused).',
    type: 'gauge',
    samples: (s) => [{ labels: { backend: s.journal.backend }, value: bool(s.journal.available) }],
  },
  {
    name: 'vfun_journal_head_seq',
    help: 'Sequence number of the last durable event of the journal (absent while it is empty).',
    type: 'gauge',
    samples: (s) => (s.journal.head === null ? [] : [{ labels: {}, value: s.journal.head }]),
  },
  {
    name: 'vfun_journal_outbox_events',
    help: 'Events waiting in the outbox for the journal to take them.',
    type: 'gauge',
    samples: (s) => [{ labels: {}, value: s.journal.outboxDepth }],
  },
  {
    name: 'vfun_journal_last_checkpoint_seq',
    help: 'Sequence number of the latest signed checkpoint journaled by this vFunD (absent before the first).',
    type: 'gauge',
    samples: (s) => (s.journal.lastCheckpoint === null ? [] : [{ labels: {}, value: s.journal.lastCheckpoint.seq }]),
  },
  {
    name: 'vfun_journal_checkpoint_age_seconds',
    help: 'Seconds since the latest signed checkpoint journaled by this vFunD (absent before the first).',
    type: 'gauge',
    samples: (s) => {
      const at = s.journal.lastCheckpoint === null ? NaN : Date.parse(s.journal.lastCheckpoint.at);
      if (Number.isNaN(at)) return [];
      const now = Date.parse(s.startedAt) + s.uptimeMs;
      return [{ labels: {}, value: Math.max(0, now - at) / 1000 }];
    },
  },
  {
    name: 'vfun_uptime_seconds',
    help: 'Seconds since vFunD started.',
    type: 'gauge',
    samples: (s) => [{ labels: {}, value: s.uptimeMs / 1000 }],
  },
  {
    name: 'vfun_build_info',
    help: 'Always 1: the version of VirtFun this vFunD runs and the host name it journals as.',
    type: 'gauge',
    samples: (s) => [{ labels: { version: s.version, host: s.host }, value: 1 }],
  },
];

/** The names of every family the exporter publishes (a histogram's series add `_bucket`, `_sum`, `_count`). */
export const METRIC_NAMES: readonly string[] = METRIC_FAMILIES.map((f) => f.name);
