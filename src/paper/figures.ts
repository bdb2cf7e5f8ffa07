/**
 * SVG figures drawn with vega-lite (compiled) rendered by vega's headless SVG renderer.
 *
 * vega and vega-lite are optional peer dependencies of the package (about 22 MB, for the paper's
 * figures only): they are imported when a figure is drawn, never when this module loads, and
 * without them `figureRenderer()` returns null and the callers write their results without figures,
 * saying once how to get them (FIGURES_HINT).
 */
import type { TopLevelSpec } from 'vega-lite';

/** A vega-lite specification, as the builders below return it. */
export type FigureSpec = object;

/** Draws a specification as an SVG document. */
export type RenderSvg = (spec: FigureSpec) => Promise<string>;

/** The one line that says how to get the figures when vega and vega-lite are not installed. */
export const FIGURES_HINT =
  'no figures: they need the optional packages vega and vega-lite (`npm install vega@~6.4.0 vega-lite@~6.4.3` beside virtfun); the results are written without them';

/** Imports a module by name (the seam the tests replace). */
export type ModuleImporter = (name: string) => Promise<unknown>;

const importModule: ModuleImporter = (name) => import(name);

/** True for the error of an import whose package is not installed. */
export function isModuleNotFound(e: unknown, name: string): boolean {
  const err = e as { code?: unknown; message?: unknown };
  return (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND') && typeof err.message === 'string' && err.message.includes(`'${name}'`);
}

interface VegaModule {
  readonly View: new (runtime: unknown, opts: { renderer: 'none' }) => { toSVG(): Promise<string>; finalize(): void };
  readonly parse: (spec: unknown) => unknown;
}
interface VegaLiteModule {
  readonly compile: (spec: TopLevelSpec) => { spec: unknown };
}

/**
 * The SVG renderer, or null when vega or vega-lite is not installed (FIGURES_HINT says what to do).
 * Any other failure to load them (a broken install) is thrown.
 */
export async function figureRenderer(importer: ModuleImporter = importModule): Promise<RenderSvg | null> {
  let vega: VegaModule;
  let vegaLite: VegaLiteModule;
  try {
    vega = (await importer('vega')) as VegaModule;
    vegaLite = (await importer('vega-lite')) as VegaLiteModule;
  } catch (e) {
    if (isModuleNotFound(e, 'vega') || isModuleNotFound(e, 'vega-lite')) return null;
    throw e;
  }
  return async (spec) => {
    const view = new vega.View(vega.parse(vegaLite.compile(spec as TopLevelSpec).spec), { renderer: 'none' });
    try {
      return await view.toSVG();
    } finally {
      view.finalize();
    }
  };
}

/**
 * The paper's colours (§4.3: "blue and red bars" for Guest-Host and Host-Host, "gray bars" for
 * Guest-Net), by legend title; series without one get the scheme's colours after these.
 */
export const PAPER_COLOURS: Readonly<Record<string, string>> = {
  'Host-Host': '#d62728',
  'Guest-Host': '#1f77b4',
  'Guest-Net': '#7f7f7f',
  'Guest-Host (FPGA sim)': '#2ca02c',
  'Guest-Host (traced)': '#9ecae1',
};

/** More colours for series the paper does not have, in order. */
const OTHER_COLOURS = ['#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#bcbd22', '#17becf', '#393b79', '#637939'] as const;

/** The paper's colour of a series: by its exact title, else by the domain it starts with ("Guest-Host (shared memory)"). */
function paperColour(series: string): string | undefined {
  const exact = PAPER_COLOURS[series];
  if (exact !== undefined) return exact;
  const base = ['Host-Host', 'Guest-Host', 'Guest-Net'].find((d) => series.startsWith(`${d} `));
  return base === undefined ? undefined : PAPER_COLOURS[base];
}

/** The colour of each series: the paper's where it has one, else the next of OTHER_COLOURS. */
export function seriesColours(series: readonly string[]): { domain: string[]; range: string[] } {
  let next = 0;
  const range = series.map((s) => paperColour(s) ?? OTHER_COLOURS[next++ % OTHER_COLOURS.length]!);
  return { domain: [...series], range };
}

/** Values that span more than `decades` powers of ten (largest / smallest positive > 10^decades): a case for a log axis. */
export function spansDecades(values: readonly number[], decades = 1): boolean {
  const pos = values.filter((v) => Number.isFinite(v) && v > 0);
  if (pos.length < 2) return false;
  return Math.max(...pos) / Math.min(...pos) > 10 ** decades;
}

/** A title with its subtitle lines (vega-lite's title object), or the bare text without one. */
function titleOf(title: string, subtitle: readonly string[] | undefined): string | { text: string; subtitle: string[]; subtitleFontStyle: string; anchor: 'start' } {
  return subtitle === undefined || subtitle.length === 0 ? title : { text: title, subtitle: [...subtitle], subtitleFontStyle: 'italic', anchor: 'start' };
}

/** `spec` with `subtitle` under its title (a spec built without one: the experiments' figures). */
export function withSubtitle(spec: FigureSpec, subtitle: readonly string[]): FigureSpec {
  const t = (spec as { title?: unknown }).title;
  if (typeof t !== 'string' || subtitle.length === 0) return spec;
  return { ...spec, title: titleOf(t, subtitle) };
}

/** The y (or x) scale: 'log' (values > 0 over decades), 'symlog' (signed values over decades), or linear from zero. */
export type AxisScale = 'linear' | 'log' | 'symlog';

/**
 * Ticks for a symmetric log axis: 0 and the powers of ten (both signs) up to the values' extent,
 * so that small values get ticks too (vega's own ticks are evenly spaced).
 */
export function symlogTicks(values: readonly number[]): number[] {
  const finite = values.filter((v) => Number.isFinite(v));
  const top = Math.max(0, ...finite);
  const bottom = Math.min(0, ...finite);
  const ticks = [0];
  for (let p = 1; p <= 1e12; p *= 10) {
    if (p <= top * 10 && top > 0) ticks.push(p);
    if (-p >= bottom * 10 && bottom < 0) ticks.unshift(-p);
    if (p > top * 10 && -p < bottom * 10) break;
  }
  return ticks;
}

function scaleOf(kind: AxisScale | undefined): object {
  return kind === 'log' ? { type: 'log' } : kind === 'symlog' ? { type: 'symlog' } : { zero: true };
}

/** Grouped bars: one group per `x` value, one bar per `series`, height `y`, with error bars (min..max) when given. */
export function groupedBars(opts: {
  title: string;
  /** Lines under the title: the run's scale, warnings. */
  subtitle?: readonly string[];
  values: readonly Record<string, unknown>[];
  x: string;
  xTitle: string;
  xOrder: readonly string[];
  series: string;
  seriesOrder: readonly string[];
  y: string;
  yTitle: string;
  /** The y scale (default linear from zero). */
  yScale?: AxisScale;
  errLow?: string;
  errHigh?: string;
  width?: number;
}): FigureSpec {
  const xEnc = { field: opts.x, type: 'nominal' as const, sort: [...opts.xOrder], title: opts.xTitle, axis: { labelAngle: 0 } };
  const offset = { field: opts.series, type: 'nominal' as const, sort: [...opts.seriesOrder] };
  const color = { field: opts.series, type: 'nominal' as const, sort: [...opts.seriesOrder], title: null, scale: seriesColours(opts.seriesOrder), legend: { orient: 'top' as const, labelLimit: 0 } };
  const yScale = scaleOf(opts.yScale);
  const yTitle = opts.yScale === 'log' ? `${opts.yTitle} (log scale)` : opts.yScale === 'symlog' ? `${opts.yTitle} (symmetric log scale)` : opts.yTitle;
  const layers: object[] = [
    {
      mark: { type: 'bar' },
      encoding: {
        x: xEnc,
        xOffset: offset,
        // stack: null: vega-lite stacks bars by default, and a stacked bar on a log scale has no height.
        y: { field: opts.y, type: 'quantitative', title: yTitle, scale: yScale, stack: null, ...(opts.yScale === 'symlog' && { axis: { values: symlogTicks(opts.values.map((v) => Number(v[opts.y]))) } }) },
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
    title: titleOf(opts.title, opts.subtitle),
    width: opts.width ?? 640,
    height: 320,
    data: { values: opts.values as Record<string, unknown>[] },
    layer: layers,
  };
}

/** Lines of several series over a quantitative x (CDFs, per-call series). */
export function lines(opts: {
  title: string;
  /** Lines under the title: the run's scale, warnings. */
  subtitle?: readonly string[];
  values: readonly Record<string, unknown>[];
  x: string;
  xTitle: string;
  y: string;
  yTitle: string;
  series: string;
  /** The series in legend order (default: as they come); they get the paper's colours where it has them. */
  seriesOrder?: readonly string[];
  xLog?: boolean;
  yLog?: boolean;
}): FigureSpec {
  const order = opts.seriesOrder ?? [...new Set(opts.values.map((v) => String(v[opts.series])))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: titleOf(opts.title, opts.subtitle),
    width: 640,
    height: 320,
    data: { values: opts.values as Record<string, unknown>[] },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: { field: opts.x, type: 'quantitative', title: opts.xLog ? `${opts.xTitle} (log scale)` : opts.xTitle, scale: opts.xLog ? { type: 'log' } : { zero: false } },
      y: { field: opts.y, type: 'quantitative', title: opts.yLog ? `${opts.yTitle} (log scale)` : opts.yTitle, ...(opts.yLog && { scale: { type: 'log' } }) },
      color: { field: opts.series, type: 'nominal', title: null, sort: [...order], scale: seriesColours(order), legend: { orient: 'top', labelLimit: 0 } },
    },
  };
}
