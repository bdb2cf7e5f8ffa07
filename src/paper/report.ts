/** The results folder of `bench paper`: markdown tables, ratios and SVG figures (results.json is written by run.ts). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIGURES_HINT, figureRenderer, groupedBars, spansDecades, type RenderSvg } from './figures.js';
import type { PaperFn } from './driver.js';
import { paperValue, PAPER_TABLES, PAPER_TABLE_INSTANCES } from './data.js';
import { loadWarning } from './environment.js';
import { DOMAIN_TITLES, type AnyDomain, type PaperResults, type Ratio } from './results.js';

export interface ReportFiles {
  readonly markdown: string;
  readonly figures: readonly string[];
  readonly json?: string;
  /** Why there are no figures (FIGURES_HINT: vega and vega-lite are not installed); absent when they were drawn. */
  readonly figuresSkipped?: string;
}

const FN_TITLE: Readonly<Record<PaperFn, string>> = { factorial: 'Factorial', fibonacci: 'Fibonacci' };

const sec = (x: number): string => (x >= 100 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x >= 0.01 ? x.toFixed(3) : x.toExponential(2));
const rat = (x: number | null): string => (x === null ? '-' : x.toFixed(3));

function cellOf(r: PaperResults, fn: PaperFn, inst: string, d: AnyDomain) {
  return r.cells.find((c) => c.fn === fn && c.instance === inst && c.domain === d);
}

/** Table 1/2 in the paper's shape: rows = domains, columns = instances, mean seconds (min-max). */
export function timeTable(r: PaperResults, fn: PaperFn): string {
  const insts = r.instances;
  const head = `| ${FN_TITLE[fn]} | ${insts.map((i) => `${i.label}${i.runReps !== i.reps ? ` (run: ${i.runReps} x ${i.iterations})` : ''}`).join(' | ')} |`;
  const sep = `|---|${insts.map(() => '---:').join('|')}|`;
  const rows = r.domains.map((d) => {
    const vals = insts.map((i) => {
      const c = cellOf(r, fn, i.label, d);
      return c ? `${sec(c.mean)} (${sec(c.min)}–${sec(c.max)})` : '-';
    });
    return `| ${DOMAIN_TITLES[d]} | ${vals.join(' | ')} |`;
  });
  return [head, sep, ...rows].join('\n');
}

/** Median seconds of each cell with its bootstrap 95% confidence interval and the interval's width relative to the median. */
export function ciTable(r: PaperResults, fn: PaperFn): string {
  const insts = r.instances;
  const head = `| ${FN_TITLE[fn]}: median [95% CI] | ${insts.map((i) => i.label).join(' | ')} |`;
  const sep = `|---|${insts.map(() => '---:').join('|')}|`;
  const rows = r.domains.map((d) => {
    const vals = insts.map((i) => {
      const c = cellOf(r, fn, i.label, d);
      if (c?.median === undefined || c.ci_low === undefined || c.ci_high === undefined) return '-';
      return `${sec(c.median)} [${sec(c.ci_low)}, ${sec(c.ci_high)}] ±${(((c.ci_rel_width ?? 0) * 100) / 2).toFixed(1)}% (${c.runs} runs)`;
    });
    return `| ${DOMAIN_TITLES[d]} | ${vals.join(' | ')} |`;
  });
  return [head, sep, ...rows].join('\n');
}

/** Per-invocation cost (mean time / I), µs: where the data plane shows. */
export function perCallTable(r: PaperResults, fn: PaperFn): string {
  const insts = r.instances;
  const head = `| ${FN_TITLE[fn]}: µs per invocation | ${insts.map((i) => i.label).join(' | ')} |`;
  const sep = `|---|${insts.map(() => '---:').join('|')}|`;
  const rows = r.domains.map((d) => `| ${DOMAIN_TITLES[d]} | ${insts.map((i) => { const c = cellOf(r, fn, i.label, d); return c ? c.per_call_us.toFixed(2) : '-'; }).join(' | ')} |`);
  return [head, sep, ...rows].join('\n');
}

function paperRatio(fn: PaperFn, inst: string, a: 'guest-host' | 'guest-net', b: 'host-host' | 'guest-host'): number | null {
  const x = paperValue(fn, a, inst);
  const y = paperValue(fn, b, inst);
  return x === null || y === null ? null : x / y;
}

/** The ratios the paper reports, ours beside the paper's (from its Tables 1-2). */
export function ratioTable(r: PaperResults): string {
  const hasF = r.domains.includes('guest-fpga');
  const head = `| function | instance | invocations | GH/HH | GH/HH best | GH/HH paper | GN/GH | GN/GH best | GN/GH paper |${hasF ? ' FPGA-sim/GH |' : ''}`;
  const sep = `|---|---|---:|---:|---:|---:|---:|---:|---:|${hasF ? '---:|' : ''}`;
  const rows = r.ratios.map((x: Ratio) => {
    const inst = r.instances.find((i) => i.label === x.instance)!;
    return `| ${x.fn} | ${x.instance} | ${inst.iterations} | ${rat(x.gh_hh)} | ${rat(x.gh_hh_best)} | ${rat(paperRatio(x.fn, x.instance, 'guest-host', 'host-host'))} | ${rat(x.gn_gh)} | ${rat(x.gn_gh_best)} | ${rat(paperRatio(x.fn, x.instance, 'guest-net', 'guest-host'))} |${hasF ? ` ${rat(x.gf_gh)} |` : ''}`;
  });
  return [head, sep, ...rows].join('\n');
}

export function paperTable(fn: PaperFn): string {
  const head = `| ${FN_TITLE[fn]} (paper) | ${PAPER_TABLE_INSTANCES.join(' | ')} |`;
  const sep = `|---|${PAPER_TABLE_INSTANCES.map(() => '---:').join('|')}|`;
  const rows = (['host-host', 'guest-host', 'guest-net'] as const).map((d) => `| ${DOMAIN_TITLES[d]} | ${PAPER_TABLES[fn][d].map((v) => v.toFixed(2)).join(' | ')} |`);
  return [head, sep, ...rows].join('\n');
}

/** The traced calls' split (results.ts TraceSplit), one row per function and instance; '' without traces. */
export function splitTable(r: PaperResults): string {
  const rows = r.traceSplit ?? [];
  if (rows.length === 0) return '';
  const f = (x: number | null, d = 3): string => (x === null ? '-' : x.toFixed(d));
  return [
    '| function | instance | calls | recorded µs | service µs | channel µs | host-host µs per call | service / host-host |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map((x) => `| ${x.fn} | ${x.instance} | ${x.calls} | ${f(x.recorded_us)} | ${f(x.service_us)} | ${f(x.channel_us)} | ${f(x.hh_per_call_us)} | ${f(x.service_over_hh, 4)} |`),
  ].join('\n');
}

export function traceTable(r: PaperResults): string {
  if (r.traceOverhead.length === 0) return '';
  const head = '| function | instance | guest-host s | traced s | overhead | per call µs |';
  const sep = '|---|---|---:|---:|---:|---:|';
  const rows = r.traceOverhead.map((t) => `| ${t.fn} | ${t.instance} | ${sec(t.untraced_s)} | ${sec(t.traced_s)} | ${t.overhead_pct >= 0 ? '+' : ''}${t.overhead_pct.toFixed(2)}% | ${t.per_call_us.toFixed(3)} |`);
  return [head, sep, ...rows].join('\n');
}

/**
 * What a reader must know before trusting the numbers, one line each: the run was under load
 * (environment.ts's threshold), or made with --quick (not comparable with the paper).
 */
export function runWarnings(r: PaperResults): string[] {
  const w: string[] = [];
  const env = r.meta.environment;
  const load = env === undefined ? null : loadWarning(env);
  if (load !== null) w.push(`${load}: the times and ratios of this run are not to be trusted`);
  if (r.meta.quick === true) w.push(`--quick (scale 1/${r.meta.scale}, ${r.meta.runs} runs per cell): a smoke test, not comparable with the paper`);
  if (r.meta.vm?.emulated === true) w.push(`the guest-host and guest-net columns ran in a QEMU guest under TCG (an emulated CPU, no KVM): their times and ratios are not comparable with the paper's`);
  return w;
}

/** With --vm, the paragraph of results.md saying what ran where (nothing otherwise). */
export function vmLines(r: PaperResults): string[] {
  const vm = r.meta.vm;
  if (vm === undefined) return [];
  const accel = vm.emulated ? 'TCG, software emulation' : 'KVM';
  return [
    `Guest-Host and Guest-Net ran in a QEMU virtual machine (${accel}${vm.fallback !== undefined ? `; KVM not used: ${vm.fallback}` : ''}; kernel ${vm.kernel}; booted in ${(vm.bootMs / 1000).toFixed(1)} s, ran ${(vm.durationMs / 1000).toFixed(1)} s), application ${vm.guest}. ` +
      `Guest-Host: ${vm.guestHost}. Guest-Net: ${vm.guestNet}. Host-Host${r.domains.includes('guest-fpga') ? ' and the FPGA column' : ''} ran on the host. vFunD's journal: \`${vm.journal}\` (hash chain ${vm.chainVerified ? 'verified' : 'BROKEN'}).`,
    '',
  ];
}

/** The short form of runWarnings for the figures' titles ('' when there is none). */
export function titleFlags(r: PaperResults): string {
  const f: string[] = [];
  if (r.meta.environment?.underLoad === true) f.push('UNDER LOAD');
  if (r.meta.quick === true) f.push('--quick, not comparable with the paper');
  if (r.meta.vm?.emulated === true) f.push('VM EMULATED (TCG), not comparable with the paper');
  return f.length === 0 ? '' : ` [${f.join('; ')}]`;
}

/**
 * The lines under every figure's title: how the run was scaled (the instances are labelled with
 * the paper's nominal sizes), the device and any warning of runWarnings.
 */
export function figureSubtitle(r: PaperResults): string[] {
  const m = r.meta;
  const scaled = m.scale === 1 ? "the paper's sizes (scale 1)" : `scale 1/${m.scale}: each instance ran R/${m.scale} repetitions (at least 1), labelled with the paper's R`;
  const lines = [`${scaled} · ${m.cpus} × ${m.cpuModel} · Node ${m.node} · ${m.started.slice(0, 10)}`];
  for (const w of runWarnings(r)) lines.push(w.toUpperCase().startsWith('--QUICK') ? w : w.charAt(0).toUpperCase() + w.slice(1));
  return lines;
}

/**
 * With --until-stable: which cells reached the interval's width and which stopped at the cap of
 * runs (their interval is wider than asked: more runs, or a quieter machine, would narrow it).
 */
export function stableLines(r: PaperResults, fn: PaperFn): string[] {
  const rule = r.meta.environment?.options['untilStable'] as { maxRelWidth?: number; maxRuns?: number } | null | undefined;
  if (rule?.maxRelWidth === undefined || rule.maxRuns === undefined) return [];
  const cells = r.cells.filter((c) => c.fn === fn && c.ci_rel_width !== undefined && c.domain !== 'guest-host+trace');
  const capped = cells.filter((c) => c.ci_rel_width! > rule.maxRelWidth!);
  const width = `±${((rule.maxRelWidth * 100) / 2).toFixed(1)}%`;
  if (capped.length === 0) return [`--until-stable: every cell reached ${width} (at most ${rule.maxRuns} runs).`, ''];
  return [
    `--until-stable: ${cells.length - capped.length} of ${cells.length} cells reached ${width}; ${capped.map((c) => `${c.instance} ${DOMAIN_TITLES[c.domain]} (±${(((c.ci_rel_width ?? 0) * 100) / 2).toFixed(1)}%)`).join(', ')} stopped at the cap of ${rule.maxRuns} runs without reaching it.`,
    '',
  ];
}

/** How many runs each cell's mean is of: "5 runs", or with --until-stable "5–50 runs per cell". */
export function runsText(r: PaperResults): string {
  const counts = r.cells.map((c) => c.runs);
  const lo = counts.length === 0 ? r.meta.runs : Math.min(...counts);
  const hi = counts.length === 0 ? r.meta.runs : Math.max(...counts);
  return lo === hi ? `${lo} runs` : `${lo}–${hi} runs per cell`;
}

/** The environment paragraph of results.md (nothing for runs that did not record it). */
export function environmentLines(r: PaperResults): string[] {
  const e = r.meta.environment;
  if (e === undefined) return [];
  const l = e.load;
  const git = e.git === null ? 'not a git checkout' : `git ${e.git.commit.slice(0, 12)}${e.git.dirty ? ' (dirty)' : ''}`;
  return [
    `Environment: Linux ${e.kernel} · ${git} · command \`${e.commandLine.join(' ')}\` · seeds ${Object.entries(e.seeds).map(([k, v]) => `${k} ${v}`).join(', ')}. ` +
      `Other processes' CPU (cores): ${l.before.foreignCores.toFixed(2)} before, ${l.during.foreignCores.toFixed(2)} during, ${l.after.foreignCores.toFixed(2)} after the run (load average ${l.during.loadavg1.toFixed(2)}; flagged above ${e.underLoadThresholdCores}). Everything else is in results.json, meta.environment.`,
    '',
  ];
}

export function markdown(r: PaperResults, figures: readonly string[]): string {
  const m = r.meta;
  const warnings = runWarnings(r);
  const parts: string[] = [
    ...warnings.map((w) => `> **Warning:** ${w}.\n`),
    '# VirtFun: the paper\'s experiment (§4) on this machine',
    '',
    `${m.started} – ${m.finished} · Node ${m.node} · ${m.cpus} × ${m.cpuModel} · scale 1/${m.scale} (repetitions divided, at least 1) · mean of ${runsText(r)} (min–max) · wait strategy ${m.strategy} (spin ${m.spinMicros} µs)` +
      (m.device !== null ? ` · FPGA column: simulated device \`${m.device}\`` : ''),
    '',
    `Instances are \`R x I\`: I invocations of the vFunction, each computing f(n) R times (factorial n = ${m.n.factorial}, fibonacci n = ${m.n.fibonacci}). Times in seconds.`,
    '',
  ...environmentLines(r),
  ...vmLines(r),
  ];
  for (const fn of r.fns) {
    parts.push(`## ${FN_TITLE[fn]}`, '', timeTable(r, fn), '', perCallTable(r, fn), '');
    if (r.cells.some((c) => c.fn === fn && c.median !== undefined))
      parts.push('Median of the runs and its bootstrap 95% confidence interval (seconds; ± half the width, relative to the median):', '', ciTable(r, fn), '', ...stableLines(r, fn));
  }
  parts.push('## Ratios', '', 'GH/HH = guest-host / host-host, GN/GH = guest-net / guest-host, of the means (as the paper); "best": of the fastest runs (a noisy neighbour inflates single runs, see min–max above). "paper" columns: the same ratios from the paper\'s Tables 1-2 (same nominal instance; the paper ran the full sizes).', '', ratioTable(r), '');
  const tt = traceTable(r);
  if (tt) parts.push('## Tracing overhead', '', 'Guest-host with per-call tracing on both sides against guest-host without.', '', tt, '');
  const st = splitTable(r);
  if (st)
    parts.push(
      "Where a traced call's time goes (means over the traced run's calls, µs): the service's part (busy → done: the computation and the answer's stores), the rest (the channel: the request, any wake-up, reading the answer), and the service's part over host-host's time per call (the same function computed in the application's own thread). Above 1 at long calls, guest-host's excess is in the computation itself, not in the channel.",
      '',
      st,
      '',
    );
  parts.push('## The paper\'s tables (seconds)', '');
  for (const fn of r.fns) parts.push(paperTable(fn), '');
  if (figures.length > 0) parts.push('## Figures', '', ...figures.map((f) => `![${f}](${f})`), '');
  if (r.traces.length > 0) parts.push('## Traces', '', ...r.traces.map((t) => `- \`${t.split('/').pop()}\``), '');
  return parts.join('\n');
}

/**
 * Writes results.md and the SVG figures into `out`. Without vega and vega-lite (`renderer` null)
 * it writes results.md alone and says why in `figuresSkipped`.
 */
export async function writeReport(out: string, r: PaperResults, renderer?: RenderSvg | null): Promise<ReportFiles> {
  const renderSvg = renderer === undefined ? await figureRenderer() : renderer;
  if (renderSvg === null) {
    const md = join(out, 'results.md');
    writeFileSync(md, markdown(r, []));
    return { markdown: md, figures: [], figuresSkipped: FIGURES_HINT };
  }
  const figures: string[] = [];
  const order = r.instances.map((i) => i.label);
  const mainDomains: readonly AnyDomain[] = r.domains.filter((d) => d !== 'guest-host+trace');
  for (const [k, fn] of r.fns.entries()) {
    const values = r.cells
      .filter((c) => c.fn === fn && mainDomains.includes(c.domain))
      .map((c) => ({ instance: c.instance, domain: DOMAIN_TITLES[c.domain], seconds: c.mean, min: c.min, max: c.max }));
    const name = `figure${7 + k}-${fn}.svg`;
    const svg = await renderSvg(
      groupedBars({
        title: `Execution time of instances for all domains, ${fn} vFunction (s, mean of ${runsText(r)}, min–max)${titleFlags(r)}`,
        subtitle: figureSubtitle(r),
        values,
        x: 'instance',
        xTitle: r.meta.scale === 1 ? 'instance (repetitions x iterations)' : `instance (repetitions x iterations; repetitions run ÷${r.meta.scale})`,
        xOrder: order,
        series: 'domain',
        seriesOrder: mainDomains.map((d) => DOMAIN_TITLES[d]),
        y: 'seconds',
        yTitle: 'seconds',
        yScale: spansDecades(values.map((v) => v.seconds)) ? 'log' : 'linear',
        errLow: 'min',
        errHigh: 'max',
      }),
    );
    writeFileSync(join(out, name), svg);
    figures.push(name);
  }
  // Figure 9: percentage differences between domains, per instance and function.
  const pct: Record<string, unknown>[] = [];
  for (const x of r.ratios) {
    const add = (label: string, v: number | null): void => {
      if (v !== null) pct.push({ instance: x.instance, comparison: `${x.fn === 'factorial' ? 'Fact' : 'Fib'} ${label}`, percent: (v - 1) * 100 });
    };
    add('G-H/H-H', x.gh_hh);
    const gh = x.gh_hh;
    add('G-N/H-H', x.gn_gh !== null && gh !== null ? x.gn_gh * gh : null);
    add('G-N/G-H', x.gn_gh);
  }
  const series = [...new Set(pct.map((p) => String(p['comparison'])))];
  const svg9 = await renderSvg(
    groupedBars({
      title: `Execution time percentage comparison (ratio - 1, %) per instance${titleFlags(r)}`,
      subtitle: figureSubtitle(r),
      values: pct,
      x: 'instance',
      xTitle: 'instance',
      xOrder: order,
      series: 'comparison',
      seriesOrder: series,
      y: 'percent',
      yTitle: '% over the reference',
      yScale: spansDecades(pct.map((p) => Math.abs(Number(p['percent'])))) ? 'symlog' : 'linear',
      width: 760,
    }),
  );
  writeFileSync(join(out, 'figure9-ratios.svg'), svg9);
  figures.push('figure9-ratios.svg');
  const md = join(out, 'results.md');
  writeFileSync(md, markdown(r, figures));
  return { markdown: md, figures: figures.map((f) => join(out, f)) };
}
