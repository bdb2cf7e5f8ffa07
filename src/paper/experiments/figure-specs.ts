/**
 * The experiments' figures as vega-lite specifications (rendered by figures.ts's renderer): lines of
 * several series with log axes where the values span decades, with points and optional
 * confidence-interval whiskers; and latency CDFs; in the paper's colours where a series is one of
 * its domains (figures.ts). Pure.
 */
import { seriesColours, type FigureSpec } from '../figures.js';

/** Options of a line figure. */
export interface SeriesLinesOptions {
  readonly title: string;
  readonly values: readonly Record<string, unknown>[];
  readonly x: string;
  readonly xTitle: string;
  /** Quantitative (default) or ordinal (a few counts, evenly spaced). */
  readonly xType?: 'quantitative' | 'ordinal';
  readonly xLog?: boolean;
  readonly y: string;
  readonly yTitle: string;
  readonly yLog?: boolean;
  readonly series: string;
  readonly seriesOrder: readonly string[];
  /** Fields of a whisker around each point (a confidence interval). */
  readonly errLow?: string;
  readonly errHigh?: string;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

/** Lines with points, one per series; log axes on request; whiskers from errLow to errHigh. */
export function seriesLines(o: SeriesLinesOptions): FigureSpec {
  const xType = o.xType ?? 'quantitative';
  const x = { field: o.x, type: xType, title: o.xTitle, ...(xType === 'quantitative' && { scale: o.xLog === true ? { type: 'log' } : { zero: false } }), ...(xType === 'ordinal' && { axis: { labelAngle: 0 } }) };
  const yScale = o.yLog === true ? { type: 'log' } : { zero: true };
  const color = { field: o.series, type: 'nominal', sort: [...o.seriesOrder], title: null, scale: seriesColours(o.seriesOrder), legend: { orient: 'top', labelLimit: 0 } };
  const layers: object[] = [
    {
      mark: { type: 'line', point: true },
      encoding: {
        x,
        y: { field: o.y, type: 'quantitative', title: o.yTitle, scale: yScale },
        color,
        tooltip: [{ field: o.series }, { field: o.x }, { field: o.y, format: '.3~g' }],
      },
    },
  ];
  if (o.errLow !== undefined && o.errHigh !== undefined)
    layers.push({ mark: { type: 'rule' }, encoding: { x, y: { field: o.errLow, type: 'quantitative', scale: yScale }, y2: { field: o.errHigh }, color } });
  return { $schema: SCHEMA, title: o.title, width: 640, height: 320, data: { values: o.values as Record<string, unknown>[] }, layer: layers };
}

/** Empirical CDFs (points from summary.ts's cdfPoints), one per series, latency on a log axis. */
export function latencyCdf(o: { readonly title: string; readonly values: readonly Record<string, unknown>[]; readonly series: string; readonly seriesOrder: readonly string[] }): FigureSpec {
  return {
    $schema: SCHEMA,
    title: o.title,
    width: 640,
    height: 320,
    data: { values: o.values as Record<string, unknown>[] },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: { field: 'latency_us', type: 'quantitative', title: 'latency of one call (µs, log scale)', scale: { type: 'log' } },
      y: { field: 'fraction', type: 'quantitative', title: 'fraction of calls at or below', scale: { domain: [0, 1] } },
      color: { field: o.series, type: 'nominal', sort: [...o.seriesOrder], title: null, scale: seriesColours(o.seriesOrder), legend: { orient: 'top', labelLimit: 0 } },
    },
  };
}
