/**
 * `bench paper`'s CSV files, written beside results.json: runs.csv (every timed run) and cells.csv
 * (every cell: mean, min, max, median and its bootstrap 95% CI). RFC 4180: comma-separated, a
 * header line, fields holding a comma, a quote or a line break quoted with doubled quotes.
 */
import type { Cell, PaperResults, RawRun } from './results.js';

/** One CSV field. */
export function csvField(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A CSV document: the header, then one line per row (fields in header order). */
export function toCsv(header: readonly string[], rows: readonly (readonly (string | number | boolean | null | undefined)[])[]): string {
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}

/** Columns of runs.csv. */
export const RUN_COLUMNS = ['fn', 'instance', 'domain', 'run', 'seconds', 'reps', 'iterations', 'result'] as const;
/** Columns of cells.csv. */
export const CELL_COLUMNS = ['fn', 'instance', 'domain', 'runs', 'mean_s', 'min_s', 'max_s', 'median_s', 'ci_low_s', 'ci_high_s', 'ci_rel_width', 'per_call_us'] as const;

/** runs.csv: every timed run of the results. */
export function runsCsv(r: Pick<PaperResults, 'raw'>): string {
  return toCsv(RUN_COLUMNS, r.raw.map((x: RawRun) => [x.fn, x.instance, x.domain, x.run, x.seconds, x.reps, x.iterations, x.result]));
}

/** cells.csv: every cell of the results. */
export function cellsCsv(cells: readonly Cell[]): string {
  return toCsv(
    CELL_COLUMNS,
    cells.map((c) => [c.fn, c.instance, c.domain, c.runs, c.mean, c.min, c.max, c.median, c.ci_low, c.ci_high, c.ci_rel_width, c.per_call_us]),
  );
}
