/**
 * `vfun bench experiment payload-sweep`: the latency of one call against its payload size (powers
 * of 4, 16 B to 1 MiB by default), for a payload-bound function (sha256 or crc32), in three
 * domains:
 *
 *   host-host   the driver called in the bench process itself
 *   guest-host  a guest process calling a service of the bench process through a shared-memory region
 *   guest-net   a guest process calling a server process over TCP loopback
 *
 * Per cell: the median latency and its bootstrap 95% CI, p99 and p99.9, and the throughput at the
 * median call (payload bytes / median latency, MB/s). Figures: latency and throughput against size,
 * log-log, one line per domain.
 */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { createFileRegion } from '../../dataplane/region-files.js';
import { startService, type ServiceHandle } from '../../dataplane/service-host.js';
import { VirtFunError } from '../../errors.js';
import { toCsv } from '../csv.js';
import type { ChildHandle } from '../spawn.js';
import { finished, killChild, nextMeasured, startGuest, startNetServer } from './children.js';
import { seriesLines } from './figure-specs.js';
import { timeSync } from './loop.js';
import type { PayloadSweepOptions } from './options.js';
import { expectedOutput, makePayload, MAX_OUTPUT_BYTES, payloadDriver } from './payload.js';
import { titleFlags, type ExperimentDefinition, type Measured, type NamedFigure, type RunFlags } from './runner.js';
import { summarizeLatencies, type LatencySummary } from './summary.js';
import type { GuestChannel } from './guest.js';

/** The domains of the sweep, in the order they run. */
export const SWEEP_DOMAINS = ['host-host', 'guest-host', 'guest-net'] as const;
/** One of them. */
export type SweepDomain = (typeof SWEEP_DOMAINS)[number];
/** Legends and table rows. */
export const SWEEP_DOMAIN_TITLES: Readonly<Record<SweepDomain, string>> = { 'host-host': 'Host-Host (in process)', 'guest-host': 'Guest-Host (shared memory)', 'guest-net': 'Guest-Net (TCP loopback)' };

/**
 * The hybrid spin budget (µs) of guest-host's guest and service, as `bench paper` uses: spin through
 * calls of up to 2 ms before sleeping (a futex wake-up costs tens of µs, more than a small call).
 */
export const SWEEP_SPIN_MICROS = 2000;

/** One cell: a domain at a payload size. */
export interface SweepCell extends LatencySummary {
  readonly domain: SweepDomain;
  readonly size_bytes: number;
  /** size_bytes / median_us: MB/s (10^6 bytes) at the median call. */
  readonly throughput_mb_s: number;
}

/** The cell of `samples` (µs) for a domain and size. */
export function sweepCell(domain: SweepDomain, size: number, samplesUs: readonly number[]): SweepCell {
  const s = summarizeLatencies(samplesUs);
  return { domain, size_bytes: size, ...s, throughput_mb_s: s.median_us > 0 ? size / s.median_us : 0 };
}

/** A size for people: 16 B, 4 KiB, 1 MiB. */
export function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/** A latency for a table: 3 significant digits. */
export function us(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3);
}

/** Columns of cells.csv. */
export const SWEEP_CELL_COLUMNS = ['domain', 'size_bytes', 'calls', 'median_us', 'ci_low_us', 'ci_high_us', 'ci_rel_width', 'p99_us', 'p999_us', 'mean_us', 'min_us', 'max_us', 'throughput_mb_s'] as const;

/** cells.csv of the sweep. */
export function sweepCellsCsv(cells: readonly SweepCell[]): string {
  return toCsv(SWEEP_CELL_COLUMNS, cells.map((c) => SWEEP_CELL_COLUMNS.map((k) => c[k])));
}

/** The sweep's table: one row per size, per domain median [CI] and p99, and MB/s. */
export function sweepTable(cells: readonly SweepCell[]): string {
  const sizes = [...new Set(cells.map((c) => c.size_bytes))].sort((a, b) => a - b);
  const domains = SWEEP_DOMAINS.filter((d) => cells.some((c) => c.domain === d));
  const head = `| payload | ${domains.map((d) => `${SWEEP_DOMAIN_TITLES[d]}: median µs [95% CI] · p99 · MB/s`).join(' | ')} |`;
  const sep = `|---:|${domains.map(() => '---:').join('|')}|`;
  const rows = sizes.map((s) => {
    const vals = domains.map((d) => {
      const c = cells.find((x) => x.domain === d && x.size_bytes === s);
      return c === undefined ? '-' : `${us(c.median_us)} [${us(c.ci_low_us)}, ${us(c.ci_high_us)}] · ${us(c.p99_us)} · ${c.throughput_mb_s.toFixed(1)}`;
    });
    return `| ${formatSize(s)} | ${vals.join(' | ')} |`;
  });
  return [head, sep, ...rows].join('\n');
}

/** The sweep's two figures: latency and throughput against the payload size, log-log. */
export function sweepFigures(cells: readonly SweepCell[], fn: string, flags: RunFlags): NamedFigure[] {
  const order = SWEEP_DOMAINS.map((d) => SWEEP_DOMAIN_TITLES[d]);
  const values = cells.map((c) => ({ domain: SWEEP_DOMAIN_TITLES[c.domain], size_bytes: c.size_bytes, median_us: c.median_us, ci_low_us: c.ci_low_us, ci_high_us: c.ci_high_us, throughput_mb_s: c.throughput_mb_s }));
  const f = titleFlags(flags);
  return [
    {
      file: 'payload-latency.svg',
      spec: seriesLines({ title: `Latency of one ${fn} call against its payload (median, 95% CI)${f}`, values, x: 'size_bytes', xTitle: 'payload (bytes, log scale)', xLog: true, y: 'median_us', yTitle: 'latency (µs, log scale)', yLog: true, series: 'domain', seriesOrder: order, errLow: 'ci_low_us', errHigh: 'ci_high_us' }),
    },
    {
      file: 'payload-throughput.svg',
      spec: seriesLines({ title: `Throughput of ${fn} calls against the payload (at the median call)${f}`, values, x: 'size_bytes', xTitle: 'payload (bytes, log scale)', xLog: true, y: 'throughput_mb_s', yTitle: 'MB/s (log scale)', yLog: true, series: 'domain', seriesOrder: order }),
    },
  ];
}

/** One guest process measuring every size through `channel`. */
async function guestSizes(o: PayloadSweepOptions, channel: GuestChannel, domain: SweepDomain, onSize: (size: number, samples: readonly number[]) => void): Promise<void> {
  const child = startGuest({ channel, fn: o.fn, seed: o.seed, sizes: o.sizes, calls: o.calls, warmup: o.warmup });
  try {
    for (const size of o.sizes) onSize(size, (await nextMeasured(child, `${domain} ${size} B`)).latencies_us);
    await finished(child, `the ${domain} guest`);
  } finally {
    await killChild(child);
  }
}

/** The experiment. */
export const payloadSweep: ExperimentDefinition<PayloadSweepOptions> = {
  title: 'Payload-size sweep',
  question: 'How does the latency of one call grow with its payload, in process, through shared memory and over TCP loopback?',
  async run(o, ctx): Promise<Measured> {
    const cells: SweepCell[] = [];
    const samples: (string | number)[][] = [];
    const total = SWEEP_DOMAINS.length * o.sizes.length;
    const add = (domain: SweepDomain, size: number, lat: readonly number[]): void => {
      cells.push(sweepCell(domain, size, lat));
      lat.forEach((x, i) => samples.push([domain, size, i, x]));
      ctx.progress(cells.length, total, `${domain} ${formatSize(size)}`);
    };
    // host-host: the driver in this process.
    const call = payloadDriver(o.fn);
    const out = new Uint8Array(MAX_OUTPUT_BYTES);
    for (const size of o.sizes) {
      const input = makePayload(size, o.seed);
      const want = expectedOutput(o.fn, input);
      if (o.warmup > 0) timeSync(call, input, want, o.warmup, out);
      const t = timeSync(call, input, want, o.calls, out);
      if (t.bad > 0) throw new VirtFunError('DRIVER', `host-host ${size} B: ${t.bad} of ${o.calls} answers were wrong`);
      add('host-host', size, t.latencies_us);
    }
    // guest-host: a service of this process on a region the guest maps.
    const maxSize = Math.max(...o.sizes);
    const dir = mkdtempSync(join(ctx.work, 'region-'));
    const region = createFileRegion({ dataout: join(dir, 'dataout'), datain: join(dir, 'datain') }, Math.max(maxSize, 64));
    let service: ServiceHandle | null = await startService({ region, driver: o.fn, strategy: 'hybrid', spinMicros: SWEEP_SPIN_MICROS });
    try {
      await guestSizes(o, { kind: 'shm', region: { capacity: region.capacity, dataoutPath: region.dataoutPath, datainPath: region.datainPath }, spinMicros: SWEEP_SPIN_MICROS }, 'guest-host', (s, l) => add('guest-host', s, l));
      await service.stop();
      service = null;
    } finally {
      await service?.stop();
    }
    // guest-net: a server process over TCP loopback.
    let server: ChildHandle | null = null;
    try {
      const s = await startNetServer({ fn: o.fn });
      server = s.child;
      await guestSizes(o, { kind: 'tcp', port: s.port }, 'guest-net', (size, l) => add('guest-net', size, l));
    } finally {
      if (server !== null) {
        server.proc.kill('SIGTERM');
        await server.exited;
      }
    }
    return {
      cells,
      cellsCsv: sweepCellsCsv(cells),
      samplesCsv: toCsv(['domain', 'size_bytes', 'call', 'latency_us'], samples),
      extra: { fn: o.fn, sizes: o.sizes, domains: SWEEP_DOMAINS },
      markdown: () =>
        [
          `## Latency and throughput of \`${o.fn}\` against the payload`,
          '',
          `Each cell: ${o.calls} calls of one payload, each timed alone. Median latency (µs) with its bootstrap 95% confidence interval, p99, and the throughput at the median call (payload / median latency, MB/s). p99.9, mean, min and max are in cells.csv.`,
          '',
          sweepTable(cells),
        ].join('\n'),
      figures: (flags) => sweepFigures(cells, o.fn, flags),
    };
  },
};
