/** SVG figures drawn with vega-lite (compiled) rendered by vega's headless SVG renderer. */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Grouped bars: one group per `x` value, one bar per `series`, height `y`, with error bars (min..max) when given. */
export function groupedBars(opts: {
  title: string;
  values: readonly Record<string, unknown>[];
  x: string;
  xTitle: string;
  xOrder: readonly string[];
  series: string;
  seriesOrder: readonly string[];
  y: string;
  yTitle: string;
  yLog?: boolean;
  errLow?: string;
  errHigh?: string;
  width?: number;
}): TopLevelSpec {
  const xEnc = { field: opts.x, type: 'nominal' as const, sort: [...opts.xOrder], title: opts.xTitle, axis: { labelAngle: 0 } };
  const offset = { field: opts.series, type: 'nominal' as const, sort: [...opts.seriesOrder] };
  const color = { field: opts.series, type: 'nominal' as const, sort: [...opts.seriesOrder], title: null, legend: { orient: 'top' as const, labelLimit: 0 } };
  const yScale = opts.yLog ? { type: 'log' as const } : { zero: true };
  const layers: object[] = [
    {
      mark: { type: 'bar' },
      encoding: {
        x: xEnc,
        xOffset: offset,
        y: { field: opts.y, type: 'quantitative', title: opts.yTitle, scale: yScale },
        color,
        tooltip: [{ field: opts.series }, { field: opts.x }, { field: opts.y, format: '.3f' }],
      },
    },
  ];
  if (opts.errLow !== undefined && opts.errHigh !== undefined) {
    layers.push({
      mark: { type: 'rule', color: 'black' },
      encoding: { x: xEnc, xOffset: offset, y: { field: opts.errLow, type: 'quantitative', scale: yScale }, y2: { field: opts.errHigh } },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: opts.title,
    width: opts.width ?? 640,
    height: 320,
    data: { values: opts.values as Record<string, unknown>[] },
    layer: layers,
  } as TopLevelSpec;
}

/** Lines of several series over a quantitative x (CDFs, per-call series). */
export function lines(opts: {
  title: string;
  values: readonly Record<string, unknown>[];
  x: string;
  xTitle: string;
  y: string;
  yTitle: string;
  series: string;
  xLog?: boolean;
}): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: opts.title,
    width: 640,
    height: 320,
    data: { values: opts.values as Record<string, unknown>[] },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: { field: opts.x, type: 'quantitative', title: opts.xTitle, scale: opts.xLog ? { type: 'log' } : { zero: false } },
      y: { field: opts.y, type: 'quantitative', title: opts.yTitle },
      color: { field: opts.series, type: 'nominal', title: null, legend: { orient: 'top', labelLimit: 0 } },
    },
  } as TopLevelSpec;
}
