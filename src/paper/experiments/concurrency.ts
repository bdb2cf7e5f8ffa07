/**
 * `vfun bench experiment concurrency`: N guest processes (1, 2, 4, 8 by default) calling at once
 * through a real vFunD, (a) all in one tenant, (b) each in a tenant of its own. Every guest goes
 * through the four phases on its tenant's control socket (negotiate, activate, compute, release),
 * warms up, and waits; all start their timed calls on the same signal. Per N and mode: the
 * per-call latency of all guests pooled (median with its bootstrap 95% CI, p99) and the aggregate
 * calls/s (all calls over the span from the first guest's first call to the last one's last).
 */
import { toCsv } from '../csv.js';
import type { ChildHandle } from '../spawn.js';
import { finished, killChild, nextMeasured, nextWith, startGuest } from './children.js';
import { seriesLines } from './figure-specs.js';
import type { MeasuredLine } from './guest.js';
import type { ConcurrencyOptions } from './options.js';
import { titleFlags, type ExperimentDefinition, type Measured, type NamedFigure, type RunFlags } from './runner.js';
import { summarizeLatencies, type LatencySummary } from './summary.js';
import { us } from './payload-sweep.js';
import { startExperimentVfund } from './vfund.js';

/** How the guests are spread over tenants. */
export const CONCURRENCY_MODES = ['one-tenant', 'own-tenants'] as const;
/** One of them. */
export type ConcurrencyMode = (typeof CONCURRENCY_MODES)[number];
/** Legends and table headers. */
export const MODE_TITLES: Readonly<Record<ConcurrencyMode, string>> = { 'one-tenant': 'all in one tenant', 'own-tenants': 'each its own tenant' };
/** The tenant of (a). */
export const SHARED_TENANT = 'shared';
/** The tenant of guest k (from 1) in (b). */
export const ownTenant = (k: number): string => `tenant-${k}`;

/** One cell: N guests in one mode. */
export interface ConcurrencyCell extends LatencySummary {
  readonly mode: ConcurrencyMode;
  readonly guests: number;
  readonly calls_per_guest: number;
  /** All calls over the span from the earliest start to the latest end, per second. */
  readonly calls_per_s: number;
  readonly span_s: number;
}

/** The cell of N guests' measured lines. */
export function concurrencyCell(mode: ConcurrencyMode, lines: readonly Pick<MeasuredLine, 'latencies_us' | 'startNs' | 'endNs'>[]): ConcurrencyCell {
  if (lines.length === 0) throw new RangeError('a concurrency cell of no guests');
  const all = lines.flatMap((l) => l.latencies_us);
  const spanNs = Math.max(...lines.map((l) => l.endNs)) - Math.min(...lines.map((l) => l.startNs));
  const span_s = Math.max(spanNs, 1) / 1e9;
  return { mode, guests: lines.length, calls_per_guest: lines[0]!.latencies_us.length, ...summarizeLatencies(all), calls_per_s: all.length / span_s, span_s };
}

/** Columns of cells.csv. */
export const CONCURRENCY_CELL_COLUMNS = ['mode', 'guests', 'calls_per_guest', 'calls', 'median_us', 'ci_low_us', 'ci_high_us', 'ci_rel_width', 'p99_us', 'p999_us', 'mean_us', 'min_us', 'max_us', 'calls_per_s', 'span_s'] as const;

/** cells.csv of the experiment. */
export function concurrencyCellsCsv(cells: readonly ConcurrencyCell[]): string {
  return toCsv(CONCURRENCY_CELL_COLUMNS, cells.map((c) => CONCURRENCY_CELL_COLUMNS.map((k) => c[k])));
}

/** The table: one row per N, per mode median [CI] · p99 · calls/s. */
export function concurrencyTable(cells: readonly ConcurrencyCell[]): string {
  const ns = [...new Set(cells.map((c) => c.guests))].sort((a, b) => a - b);
  const modes = CONCURRENCY_MODES.filter((m) => cells.some((c) => c.mode === m));
  const head = `| guests | ${modes.map((m) => `${MODE_TITLES[m]}: median µs [95% CI] · p99 · calls/s`).join(' | ')} |`;
  const sep = `|---:|${modes.map(() => '---:').join('|')}|`;
  const rows = ns.map((n) => {
    const vals = modes.map((m) => {
      const c = cells.find((x) => x.mode === m && x.guests === n);
      return c === undefined ? '-' : `${us(c.median_us)} [${us(c.ci_low_us)}, ${us(c.ci_high_us)}] · ${us(c.p99_us)} · ${Math.round(c.calls_per_s)}`;
    });
    return `| ${n} | ${vals.join(' | ')} |`;
  });
  return [head, sep, ...rows].join('\n');
}

/** The figures: latency (median and p99) and aggregate calls/s against the number of guests. */
export function concurrencyFigures(cells: readonly ConcurrencyCell[], fn: string, flags: RunFlags): NamedFigure[] {
  const f = titleFlags(flags);
  const lat = cells.flatMap((c) => [
    { series: `${MODE_TITLES[c.mode]}, median`, guests: c.guests, latency_us: c.median_us, low: c.ci_low_us, high: c.ci_high_us },
    { series: `${MODE_TITLES[c.mode]}, p99`, guests: c.guests, latency_us: c.p99_us, low: c.p99_us, high: c.p99_us },
  ]);
  const latOrder = CONCURRENCY_MODES.flatMap((m) => [`${MODE_TITLES[m]}, median`, `${MODE_TITLES[m]}, p99`]);
  const tput = cells.map((c) => ({ series: MODE_TITLES[c.mode], guests: c.guests, calls_per_s: c.calls_per_s }));
  return [
    {
      file: 'concurrency-latency.svg',
      spec: seriesLines({ title: `Latency of one ${fn} call with N guests calling at once through vFunD (median with 95% CI, p99)${f}`, values: lat, x: 'guests', xTitle: 'guest processes calling at once', xType: 'ordinal', y: 'latency_us', yTitle: 'latency (µs, log scale)', yLog: true, series: 'series', seriesOrder: latOrder, errLow: 'low', errHigh: 'high' }),
    },
    {
      file: 'concurrency-throughput.svg',
      spec: seriesLines({ title: `Aggregate ${fn} calls per second with N guests through vFunD${f}`, values: tput, x: 'guests', xTitle: 'guest processes calling at once', xType: 'ordinal', y: 'calls_per_s', yTitle: 'calls/s, all guests', series: 'series', seriesOrder: CONCURRENCY_MODES.map((m) => MODE_TITLES[m]) }),
    },
  ];
}

/** The experiment. */
export const concurrency: ExperimentDefinition<ConcurrencyOptions> = {
  title: 'Concurrent guests and tenants',
  question: 'What happens to per-call latency and to the host\'s aggregate calls/s when N guests call at once through vFunD, in one tenant or each in its own?',
  async run(o, ctx): Promise<Measured> {
    const maxN = Math.max(...o.guests);
    const vfund = await startExperimentVfund({
      root: ctx.work,
      tenants: [{ id: SHARED_TENANT, maxInstances: maxN }, ...Array.from({ length: maxN }, (_, k) => ({ id: ownTenant(k + 1), maxInstances: 1 }))],
      fns: [o.fn],
      maxPayload: o.payload,
    });
    const cells: ConcurrencyCell[] = [];
    const samples: (string | number)[][] = [];
    const total = CONCURRENCY_MODES.length * o.guests.length;
    let stopped = false;
    try {
      for (const mode of CONCURRENCY_MODES)
        for (const n of o.guests) {
          const guests: ChildHandle[] = [];
          try {
            for (let k = 1; k <= n; k++) {
              const tenant = mode === 'one-tenant' ? SHARED_TENANT : ownTenant(k);
              guests.push(
                startGuest({
                  channel: { kind: 'daemon', socket: vfund.socket(tenant), tenant, secret: vfund.secret(tenant), app: `${mode}-n${n}-g${k}` },
                  fn: o.fn,
                  seed: o.seed,
                  sizes: [o.payload],
                  calls: o.calls,
                  warmup: o.warmup,
                  waitForGo: true,
                }),
              );
            }
            for (const g of guests) await nextWith(g, 'ready');
            for (const g of guests) g.proc.kill('SIGUSR1');
            const lines: MeasuredLine[] = [];
            for (const [k, g] of guests.entries()) lines.push(await nextMeasured(g, `${mode} N=${n} guest ${k + 1}`));
            for (const [k, g] of guests.entries()) await finished(g, `${mode} N=${n} guest ${k + 1}`);
            cells.push(concurrencyCell(mode, lines));
            lines.forEach((l, k) => l.latencies_us.forEach((x, i) => samples.push([mode, n, k + 1, i, x])));
            ctx.progress(cells.length, total, `${MODE_TITLES[mode]}, ${n} guest${n === 1 ? '' : 's'}`);
          } finally {
            for (const g of guests) await killChild(g);
          }
        }
      const journal = await vfund.stop(ctx.out);
      stopped = true;
      return {
        cells,
        cellsCsv: concurrencyCellsCsv(cells),
        samplesCsv: toCsv(['mode', 'guests', 'guest', 'call', 'latency_us'], samples),
        extra: { fn: o.fn, payload_bytes: o.payload, guests: o.guests, modes: CONCURRENCY_MODES, journal },
        markdown: () =>
          [
            `## ${o.fn} of ${o.payload} B with N guests calling at once`,
            '',
            `Each guest: its own process, its own vFunction instance (negotiated, activated and released through its tenant's control socket; its service a process of vFunD's), ${o.calls} timed calls after the others are ready. Latency of all guests' calls pooled: median (µs) with its bootstrap 95% CI, p99; calls/s: all calls over the span from the first call to the last.`,
            '',
            concurrencyTable(cells),
            '',
            `vFunD's journal (journal.ndjson): ${journal.events} events, hash chain ${journal.chainValid ? 'valid' : '**broken**'}; ${journal.negotiated} instances negotiated, ${journal.activated} activated, ${journal.released} released.`,
          ].join('\n'),
        figures: (flags) => concurrencyFigures(cells, o.fn, flags),
      };
    } finally {
      if (!stopped) await vfund.daemon.stop('experiment failed');
    }
  },
};
