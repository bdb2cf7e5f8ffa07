/**
 * Two `bench paper` runs side by side (`vfun bench compare <a> <b>`): per cell (function, instance,
 * domain) each run's median and bootstrap 95% CI, the ratio b/a of the medians and whether the two
 * intervals overlap (when they do not, the difference is more than the runs' own noise). Cells are
 * recomputed from each run's raw runs with the same seeded bootstrap, so runs made before medians
 * were recorded compare too. Pure: reading the folders is the command's job.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ValidationError } from '../errors.js';
import { toCsv } from './csv.js';
import { DOMAINS, summarizeCells, TRACE_DOMAIN, type AnyDomain, type Cell, type PaperResults } from './results.js';
import { intervalsOverlap } from './stats.js';

/** One run's side of a compared cell (null where the run has no such cell). */
export interface CompareSide {
  readonly median: number;
  readonly ci_low: number;
  readonly ci_high: number;
  readonly runs: number;
}

/** One row of the comparison. */
export interface CompareRow {
  readonly fn: string;
  readonly instance: string;
  readonly domain: AnyDomain;
  readonly a: CompareSide | null;
  readonly b: CompareSide | null;
  /** b.median / a.median; null unless both runs have the cell. */
  readonly ratio: number | null;
  /** Whether the two CIs overlap; null unless both runs have the cell. */
  readonly overlap: boolean | null;
}

/** What one run is, in a line: when, scale, runs, and why not to trust it. */
export interface RunSummary {
  readonly path: string;
  readonly started: string;
  readonly scale: number;
  readonly runs: number;
  readonly quick: boolean;
  /** null when the run recorded no environment. */
  readonly underLoad: boolean | null;
  readonly commit: string | null;
}

/** The comparison: both runs, every cell, and warnings (different scales, a run under load or --quick). */
export interface Comparison {
  readonly a: RunSummary;
  readonly b: RunSummary;
  readonly rows: readonly CompareRow[];
  readonly warnings: readonly string[];
}

/** Read a run: a results folder or its results.json. Refuses (VALIDATION, naming the argument) anything else. */
export function readRun(path: string, arg = '<run>'): PaperResults {
  let file = path;
  try {
    if (statSync(path).isDirectory()) file = join(path, 'results.json');
  } catch {
    throw new ValidationError(arg, `no results folder or file ${path}`);
  }
  let r: PaperResults;
  try {
    r = JSON.parse(readFileSync(file, 'utf8')) as PaperResults;
  } catch (e) {
    throw new ValidationError(arg, `${file} is not a bench paper results.json: ${(e as Error).message}`);
  }
  if (typeof r !== 'object' || r === null || !Array.isArray(r.raw) || typeof r.meta !== 'object' || r.meta === null)
    throw new ValidationError(arg, `${file} is not a bench paper results.json (no meta or raw runs)`);
  return r;
}

function summary(path: string, r: PaperResults): RunSummary {
  const env = r.meta.environment;
  return {
    path,
    started: r.meta.started,
    scale: r.meta.scale,
    runs: r.meta.runs,
    quick: r.meta.quick === true,
    underLoad: env === undefined ? null : env.underLoad,
    commit: env?.git?.commit ?? null,
  };
}

function side(c: Cell | undefined): CompareSide | null {
  if (c === undefined || c.median === undefined || c.ci_low === undefined || c.ci_high === undefined) return null;
  return { median: c.median, ci_low: c.ci_low, ci_high: c.ci_high, runs: c.runs };
}

const DOMAIN_ORDER: readonly AnyDomain[] = [...DOMAINS, TRACE_DOMAIN];

/** Below this many runs a cell's bootstrap interval says little (stats.ts: with 2 runs it is their range). */
export const FEW_RUNS = 5;

/** Compare two runs (their paths only label them). */
export function compareRuns(a: PaperResults, b: PaperResults, paths: readonly [string, string] = ['a', 'b']): Comparison {
  const ca = summarizeCells(a.raw);
  const cb = summarizeCells(b.raw);
  const key = (c: { fn: string; instance: string; domain: string }): string => `${c.fn}\u0000${c.instance}\u0000${c.domain}`;
  const ma = new Map(ca.map((c) => [key(c), c]));
  const mb = new Map(cb.map((c) => [key(c), c]));
  // a's order, then what only b has; within a function and instance, the domains in table order
  const instOrder = [...new Set([...a.instances.map((i) => i.label), ...b.instances.map((i) => i.label)])];
  const fnOrder = [...new Set([...a.fns, ...b.fns])];
  const keys = [...new Set([...ma.keys(), ...mb.keys()])].map((k) => {
    const [fn, instance, domain] = k.split('\u0000') as [string, string, AnyDomain];
    return { k, fn, instance, domain };
  });
  keys.sort(
    (x, y) =>
      fnOrder.indexOf(x.fn as never) - fnOrder.indexOf(y.fn as never) ||
      instOrder.indexOf(x.instance) - instOrder.indexOf(y.instance) ||
      DOMAIN_ORDER.indexOf(x.domain) - DOMAIN_ORDER.indexOf(y.domain),
  );
  const rows: CompareRow[] = keys.map(({ k, fn, instance, domain }) => {
    const sa = side(ma.get(k));
    const sb = side(mb.get(k));
    const both = sa !== null && sb !== null;
    return {
      fn,
      instance,
      domain,
      a: sa,
      b: sb,
      ratio: both && sa.median !== 0 ? sb.median / sa.median : null,
      overlap: both ? intervalsOverlap({ low: sa.ci_low, high: sa.ci_high }, { low: sb.ci_low, high: sb.ci_high }) : null,
    };
  });
  const sA = summary(paths[0], a);
  const sB = summary(paths[1], b);
  const warnings: string[] = [];
  if (sA.scale !== sB.scale) warnings.push(`the runs have different scales (1/${sA.scale} and 1/${sB.scale}): the same nominal instance is not the same work`);
  for (const [name, s] of [['a', sA], ['b', sB]] as const) {
    if (s.underLoad === true) warnings.push(`run ${name} (${s.path}) was under load`);
    if (s.quick) warnings.push(`run ${name} (${s.path}) is a --quick run`);
    if (s.underLoad === null) warnings.push(`run ${name} (${s.path}) recorded no environment (made before it was recorded): its load is unknown`);
  }
  const few = rows.filter((r) => (r.a !== null && r.a.runs < FEW_RUNS) || (r.b !== null && r.b.runs < FEW_RUNS)).length;
  if (few > 0) warnings.push(`${few} cell(s) have fewer than ${FEW_RUNS} runs on a side: their "95% CI" is little more than the range of those runs, and "no" overlap there is weak evidence`);
  return { a: sA, b: sB, rows, warnings };
}

/** Four significant digits (seconds span 1 ms to hours): two cells that differ show it. */
const num = (x: number): string => (x >= 1000 ? x.toFixed(0) : x.toPrecision(4));
const sideText = (s: CompareSide | null): string => (s === null ? '-' : `${num(s.median)} [${num(s.ci_low)}, ${num(s.ci_high)}] (${s.runs})`);

/** The comparison as Markdown: the two runs, the warnings, one table row per cell. */
export function formatComparison(c: Comparison): string {
  const runLine = (n: string, s: RunSummary): string =>
    `${n}: ${s.path} · ${s.started} · scale 1/${s.scale}, ${s.runs} runs${s.quick ? ', --quick' : ''}${s.underLoad === true ? ', UNDER LOAD' : ''}${s.commit !== null ? ` · git ${s.commit.slice(0, 12)}` : ''}`;
  const lines = [runLine('a', c.a), runLine('b', c.b), ...c.warnings.map((w) => `warning: ${w}`), ''];
  lines.push('| function | instance | domain | a: median s [95% CI] (runs) | b: median s [95% CI] (runs) | b/a | CIs overlap |', '|---|---|---|---:|---:|---:|---|');
  for (const r of c.rows)
    lines.push(`| ${r.fn} | ${r.instance} | ${r.domain} | ${sideText(r.a)} | ${sideText(r.b)} | ${r.ratio === null ? '-' : r.ratio.toFixed(3)} | ${r.overlap === null ? '-' : r.overlap ? 'yes' : '**no**'} |`);
  return lines.join('\n');
}

/** The comparison as CSV, one line per cell. */
export function comparisonCsv(c: Comparison): string {
  return toCsv(
    ['fn', 'instance', 'domain', 'a_median_s', 'a_ci_low_s', 'a_ci_high_s', 'a_runs', 'b_median_s', 'b_ci_low_s', 'b_ci_high_s', 'b_runs', 'ratio_b_a', 'ci_overlap'],
    c.rows.map((r) => [r.fn, r.instance, r.domain, r.a?.median, r.a?.ci_low, r.a?.ci_high, r.a?.runs, r.b?.median, r.b?.ci_low, r.b?.ci_high, r.b?.runs, r.ratio, r.overlap]),
  );
}
