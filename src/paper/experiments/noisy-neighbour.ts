/**
 * `vfun bench experiment noisy-neighbour`: how much one tenant's load slows another's calls, both
 * through a real vFunD. Tenant B's guest makes small calls (crc32 of 64 B by default), timed one by
 * one: first alone, then while tenant A's guests (--hammers processes) call back to back with a
 * large payload (sha256 of 256 KiB by default). Per phase: B's median with its bootstrap 95% CI,
 * p99 and p99.9; the slowdown ratios (with A / alone); A's calls/s. Figure: the CDFs of B's
 * latency alone and with A.
 */
import { toCsv } from '../csv.js';
import type { ChildHandle } from '../spawn.js';
import { finished, killChild, nextHammered, nextMeasured, nextWith, startGuest } from './children.js';
import { latencyCdf } from './figure-specs.js';
import type { HammeredLine } from './guest.js';
import type { NoisyNeighbourOptions } from './options.js';
import { formatSize, us } from './payload-sweep.js';
import { titleFlags, type ExperimentDefinition, type Measured, type NamedFigure, type RunFlags } from './runner.js';
import { cdfPoints, ratio, summarizeLatencies, type LatencySummary } from './summary.js';
import { startExperimentVfund } from './vfund.js';

/** B's phases, in the order they run. */
export const NOISY_PHASES = ['alone', 'with-neighbour'] as const;
/** One of them. */
export type NoisyPhase = (typeof NOISY_PHASES)[number];
/** Legends and table rows. */
export const PHASE_TITLES: Readonly<Record<NoisyPhase, string>> = { alone: 'B alone', 'with-neighbour': 'B while A hammers' };
/** The measured tenant and the hammering one. */
export const VICTIM_TENANT = 'tenant-b';
export const NOISY_TENANT = 'tenant-a';

/** One phase of B's calls. */
export interface NoisyCell extends LatencySummary {
  readonly phase: NoisyPhase;
}

/** B with A over B alone, of the median, p99 and p99.9 (null where B alone is 0). */
export interface Slowdown {
  readonly median: number | null;
  readonly p99: number | null;
  readonly p999: number | null;
}

/** What A's guests did while B was measured. */
export interface HammerSummary {
  readonly processes: number;
  readonly calls: number;
  /** All of A's calls over the longest hammer's span, per second. */
  readonly calls_per_s: number;
}

/** The slowdown between the two phases. */
export function slowdown(alone: LatencySummary, withA: LatencySummary): Slowdown {
  return { median: ratio(withA.median_us, alone.median_us), p99: ratio(withA.p99_us, alone.p99_us), p999: ratio(withA.p999_us, alone.p999_us) };
}

/** A's calls from the hammers' lines. */
export function hammerSummary(lines: readonly Pick<HammeredLine, 'hammered' | 'startNs' | 'endNs'>[]): HammerSummary {
  const calls = lines.reduce((s, l) => s + l.hammered, 0);
  const span = lines.length === 0 ? 0 : (Math.max(...lines.map((l) => l.endNs)) - Math.min(...lines.map((l) => l.startNs))) / 1e9;
  return { processes: lines.length, calls, calls_per_s: span > 0 ? calls / span : 0 };
}

/** Columns of cells.csv. */
export const NOISY_CELL_COLUMNS = ['phase', 'calls', 'median_us', 'ci_low_us', 'ci_high_us', 'ci_rel_width', 'p99_us', 'p999_us', 'mean_us', 'min_us', 'max_us'] as const;

/** cells.csv of the experiment. */
export function noisyCellsCsv(cells: readonly NoisyCell[]): string {
  return toCsv(NOISY_CELL_COLUMNS, cells.map((c) => NOISY_CELL_COLUMNS.map((k) => c[k])));
}

const x = (r: number | null): string => (r === null ? '-' : `${r.toFixed(2)}×`);

/** The table: B's latency per phase, then the slowdown. */
export function noisyTable(cells: readonly NoisyCell[], s: Slowdown | null): string {
  const rows = NOISY_PHASES.flatMap((p) => {
    const c = cells.find((y) => y.phase === p);
    return c === undefined ? [] : [`| ${PHASE_TITLES[p]} | ${c.calls} | ${us(c.median_us)} [${us(c.ci_low_us)}, ${us(c.ci_high_us)}] | ${us(c.p99_us)} | ${us(c.p999_us)} |`];
  });
  return ['| tenant B | calls | median µs [95% CI] | p99 µs | p99.9 µs |', '|---|---:|---:|---:|---:|', ...rows, ...(s === null ? [] : [`| slowdown (with A / alone) | | ${x(s.median)} | ${x(s.p99)} | ${x(s.p999)} |`])].join('\n');
}

/** The figure: B's latency CDF alone and while A hammers. */
export function noisyFigures(samples: Readonly<Record<NoisyPhase, readonly number[]>>, o: Pick<NoisyNeighbourOptions, 'fn' | 'payload' | 'hammers' | 'hammerFn' | 'hammerPayload'>, flags: RunFlags): NamedFigure[] {
  const values = NOISY_PHASES.flatMap((p) => cdfPoints(samples[p]).map((c) => ({ phase: PHASE_TITLES[p], ...c })));
  return [
    {
      file: 'noisy-neighbour-cdf.svg',
      spec: latencyCdf({
        title: `Tenant B's ${o.fn} of ${formatSize(o.payload)}: alone and while tenant A (${o.hammers} process${o.hammers === 1 ? '' : 'es'}) calls ${o.hammerFn} of ${formatSize(o.hammerPayload)} back to back${titleFlags(flags)}`,
        values,
        series: 'phase',
        seriesOrder: NOISY_PHASES.map((p) => PHASE_TITLES[p]),
      }),
    },
  ];
}

/** The experiment. */
export const noisyNeighbour: ExperimentDefinition<NoisyNeighbourOptions> = {
  title: 'Noisy-neighbour interference',
  question: "How much slower are one tenant's small calls while another tenant hammers the same host with large ones?",
  async run(o, ctx): Promise<Measured> {
    const vfund = await startExperimentVfund({
      root: ctx.work,
      tenants: [
        { id: VICTIM_TENANT, maxInstances: 1 },
        { id: NOISY_TENANT, maxInstances: o.hammers },
      ],
      fns: [o.fn, o.hammerFn],
      maxPayload: Math.max(o.payload, o.hammerPayload),
    });
    const victim = (phase: NoisyPhase) =>
      startGuest({ channel: { kind: 'daemon', socket: vfund.socket(VICTIM_TENANT), tenant: VICTIM_TENANT, secret: vfund.secret(VICTIM_TENANT), app: `b-${phase}` }, fn: o.fn, seed: o.seed, sizes: [o.payload], calls: o.calls, warmup: o.warmup });
    const samples: Record<NoisyPhase, readonly number[]> = { alone: [], 'with-neighbour': [] };
    const children: ChildHandle[] = [];
    let hammers: HammerSummary = { processes: 0, calls: 0, calls_per_s: 0 };
    try {
      const b1 = victim('alone');
      children.push(b1);
      samples.alone = (await nextMeasured(b1, 'tenant B alone')).latencies_us;
      await finished(b1, 'tenant B alone');
      ctx.progress(1, 2, 'tenant B alone');
      const as = Array.from({ length: o.hammers }, (_, k) =>
        startGuest({
          channel: { kind: 'daemon', socket: vfund.socket(NOISY_TENANT), tenant: NOISY_TENANT, secret: vfund.secret(NOISY_TENANT), app: `a-${k + 1}` },
          fn: o.hammerFn,
          seed: o.seed,
          sizes: [o.hammerPayload],
          calls: 0,
          warmup: Math.min(o.warmup, 5),
          hammer: true,
        }),
      );
      children.push(...as);
      for (const a of as) await nextWith(a, 'hammering');
      const b2 = victim('with-neighbour');
      children.push(b2);
      samples['with-neighbour'] = (await nextMeasured(b2, 'tenant B with A')).latencies_us;
      for (const a of as) a.proc.kill('SIGUSR2');
      const lines: HammeredLine[] = [];
      for (const [k, a] of as.entries()) lines.push(await nextHammered(a, `tenant A guest ${k + 1}`));
      hammers = hammerSummary(lines);
      await finished(b2, 'tenant B with A');
      for (const [k, a] of as.entries()) await finished(a, `tenant A guest ${k + 1}`);
      ctx.progress(2, 2, 'tenant B while A hammers');
    } catch (e) {
      for (const c of children) await killChild(c);
      await vfund.daemon.stop('experiment failed');
      throw e;
    }
    const journal = await vfund.stop(ctx.out);
    const cells: NoisyCell[] = NOISY_PHASES.map((phase) => ({ phase, ...summarizeLatencies(samples[phase]) }));
    const s = slowdown(cells[0]!, cells[1]!);
    return {
      cells,
      cellsCsv: noisyCellsCsv(cells),
      samplesCsv: toCsv(['phase', 'call', 'latency_us'], NOISY_PHASES.flatMap((p) => samples[p].map((v, i) => [p, i, v]))),
      extra: { fn: o.fn, payload_bytes: o.payload, hammerFn: o.hammerFn, hammerPayload_bytes: o.hammerPayload, slowdown: s, hammers, journal },
      markdown: () =>
        [
          `## Tenant B's ${o.fn} of ${formatSize(o.payload)}, alone and beside tenant A`,
          '',
          `B: one guest process, ${o.calls} calls timed one by one. A: ${o.hammers} guest process${o.hammers === 1 ? '' : 'es'} calling ${o.hammerFn} of ${formatSize(o.hammerPayload)} back to back (${hammers.calls} calls, ${Math.round(hammers.calls_per_s)} calls/s while B was measured). Both through vFunD, each tenant with its own control socket and instances.`,
          '',
          noisyTable(cells, s),
          '',
          `vFunD's journal (journal.ndjson): ${journal.events} events, hash chain ${journal.chainValid ? 'valid' : '**broken**'}; ${journal.negotiated} instances negotiated, ${journal.activated} activated, ${journal.released} released.`,
        ].join('\n'),
      figures: (flags) => noisyFigures(samples, o, flags),
    };
  },
};
