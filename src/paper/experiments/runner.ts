/**
 * The shared runner of `vfun bench experiment <name>`: it measures the machine's load before,
 * during and after the experiment (environment.ts), runs it, and writes its results folder:
 *
 *   results.json  the experiment, its options, the environment, the cells and what it adds
 *   results.md    warnings (under load, --quick), the environment, the tables, the figures
 *   samples.csv   every measured call; cells.csv every cell (csv.ts)
 *   *.svg         the figures (vega-lite, figures.ts; FIGURES_HINT without vega and vega-lite)
 *
 * An experiment is a function from its options to a Measured: its cells and CSVs, and the tables
 * and figures it draws once the run's flags (under load, quick) are known.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ValidationError, VirtFunError } from '../../errors.js';
import { shmAvailable, shmUnavailableReason } from '../../native/shm.js';
import { foreignBetween, isUnderLoad, LOAD_WINDOW_MS, loadWarning, measureIdleWindow, sampleCpu, staticEnvironment, UNDER_LOAD_CORES, type RunEnvironment } from '../environment.js';
import { FIGURES_HINT, figureRenderer, withSubtitle, type FigureSpec, type RenderSvg } from '../figures.js';
import { BOOTSTRAP_SEED } from '../stats.js';
import type { ExperimentName, ExperimentOptions } from './options.js';

/** What the figures' titles and results.md must say about a run. */
export interface RunFlags {
  readonly underLoad: boolean;
  readonly quick: boolean;
}

/** A figure of an experiment: its file name and vega-lite specification. */
export interface NamedFigure {
  readonly file: string;
  readonly spec: FigureSpec;
}

/** What an experiment measured, ready to be written. */
export interface Measured {
  /** The summary cells (results.json, cells.csv, --json). */
  readonly cells: readonly object[];
  readonly cellsCsv: string;
  /** Every measured call. */
  readonly samplesCsv: string;
  /** More for results.json (the journal's summary, ratios, …). */
  readonly extra: Readonly<Record<string, unknown>>;
  /** The body of results.md (tables with their explanations). */
  markdown(flags: RunFlags): string;
  /** The figures. */
  figures(flags: RunFlags): NamedFigure[];
}

/** What an experiment gets from the runner. */
export interface ExperimentContext {
  /** The results folder (created). */
  readonly out: string;
  /** A scratch folder, removed after the run. */
  readonly work: string;
  /** Report progress: `done` of `total` cells, what is running. */
  progress(done: number, total: number, what: string): void;
}

/** An experiment: its title, the question it asks, and how to run it. */
export interface ExperimentDefinition<O extends ExperimentOptions> {
  readonly title: string;
  readonly question: string;
  run(o: O, ctx: ExperimentContext): Promise<Measured>;
}

/** What results.json holds. */
export interface ExperimentResults {
  readonly experiment: ExperimentName;
  readonly meta: {
    readonly started: string;
    readonly finished: string;
    readonly quick: boolean;
    readonly environment: RunEnvironment;
  };
  readonly cells: readonly object[];
  readonly [extra: string]: unknown;
}

/** The files a run wrote. */
export interface ExperimentFiles {
  readonly json: string;
  readonly markdown: string;
  readonly samplesCsv: string;
  readonly cellsCsv: string;
  readonly figures: readonly string[];
  /** Why there are no figures (vega and vega-lite are not installed). */
  readonly figuresSkipped?: string;
}

/** A finished run: what results.json holds, the files written, and the tables of results.md. */
export interface ExperimentRun {
  readonly results: ExperimentResults;
  readonly files: ExperimentFiles;
  readonly tables: string;
}

/** How to run an experiment beyond its options. */
export interface RunnerOptions {
  readonly onProgress?: (done: number, total: number, what: string) => void;
  /** Idle windows measuring foreign CPU before and after the run, ms (default LOAD_WINDOW_MS). */
  readonly loadWindowMs?: number;
  /** The command line recorded (default process.argv). */
  readonly argv?: readonly string[];
  /** The SVG renderer (default: vega's, or none when it is not installed). */
  readonly renderer?: RenderSvg | null;
}

/** The lines results.md starts with when the run is not to be trusted as it stands. */
export function runWarnings(env: Pick<RunEnvironment, 'load' | 'underLoad'>, quick: boolean): string[] {
  const w: string[] = [];
  const load = loadWarning(env);
  if (load !== null) w.push(`${load}: the latencies of this run are not to be trusted`);
  if (quick) w.push('--quick: few calls per cell, a smoke test; not comparable with a full run');
  return w;
}

/** The short form for the figures' titles ('' when there is nothing to say). */
export function titleFlags(f: RunFlags): string {
  const s = [...(f.underLoad ? ['UNDER LOAD'] : []), ...(f.quick ? ['--quick'] : [])];
  return s.length === 0 ? '' : ` [${s.join('; ')}]`;
}

function environmentParagraph(e: RunEnvironment): string {
  const git = e.git === null ? 'not a git checkout' : `git ${e.git.commit.slice(0, 12)}${e.git.dirty ? ' (dirty)' : ''}`;
  const l = e.load;
  return (
    `Environment: Linux ${e.kernel} · ${e.cpus} × ${e.cpuModel} · Node ${e.node} · ${git} · command \`${e.commandLine.join(' ')}\` · seeds ${Object.entries(e.seeds).map(([k, v]) => `${k} ${v}`).join(', ')}. ` +
    `Other processes' CPU (cores): ${l.before.foreignCores.toFixed(2)} before, ${l.during.foreignCores.toFixed(2)} during, ${l.after.foreignCores.toFixed(2)} after the run (load average ${l.during.loadavg1.toFixed(2)}; flagged above ${e.underLoadThresholdCores}). Everything else is in results.json, meta.environment.`
  );
}

/** Run experiment `def` with options `o`; writes the results folder `o.out` (refused when it already holds results). */
export async function runExperiment<O extends ExperimentOptions>(def: ExperimentDefinition<O>, o: O, r: RunnerOptions = {}): Promise<ExperimentRun> {
  const out = resolve(o.out);
  if (existsSync(join(out, 'results.json'))) throw new ValidationError('--out', `${out} already holds results; name another folder`);
  if (!shmAvailable()) throw new VirtFunError('VALIDATION', `the experiments need the shared-memory addon: ${shmUnavailableReason()}`);
  mkdirSync(out, { recursive: true });
  const window = r.loadWindowMs ?? LOAD_WINDOW_MS;
  const before = await measureIdleWindow(window);
  const started = new Date().toISOString();
  const startSample = sampleCpu();
  const work = mkdtempSync(join(tmpdir(), `vfun-${o.experiment}-`));
  let measured: Measured;
  try {
    measured = await def.run(o, { out, work, progress: (d, t, w) => r.onProgress?.(d, t, w) });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const during = foreignBetween(startSample, sampleCpu(), loadavg()[0] ?? 0);
  const after = await measureIdleWindow(window);
  const { out: _out, experiment: _name, ...options } = o;
  const environment: RunEnvironment = {
    ...staticEnvironment({ options, seeds: { payload: o.seed, bootstrap: BOOTSTRAP_SEED }, deviceProfile: null, ...(r.argv !== undefined && { argv: r.argv }) }),
    load: { before, during, after },
    underLoad: isUnderLoad(during),
    underLoadThresholdCores: UNDER_LOAD_CORES,
  };
  const results: ExperimentResults = {
    experiment: o.experiment,
    meta: { started, finished: new Date().toISOString(), quick: o.quick, environment },
    ...measured.extra,
    cells: measured.cells,
  };
  const flags: RunFlags = { underLoad: environment.underLoad, quick: o.quick };
  const renderSvg = r.renderer === undefined ? await figureRenderer() : r.renderer;
  // Under every figure's title: how much was measured, on what, and what makes it untrustworthy.
  const subtitle = [
    `${o.calls} timed calls per cell after ${o.warmup} warm-up calls · ${environment.cpus} × ${environment.cpuModel} · Node ${environment.node} · ${started.slice(0, 10)}`,
    ...runWarnings(environment, o.quick),
  ];
  const figures: string[] = [];
  if (renderSvg !== null)
    for (const f of measured.figures(flags)) {
      writeFileSync(join(out, f.file), await renderSvg(withSubtitle(f.spec, subtitle)));
      figures.push(f.file);
    }
  const md = [
    ...runWarnings(environment, o.quick).map((w) => `> **Warning:** ${w}.\n`),
    `# VirtFun experiment: ${o.experiment}`,
    '',
    `${def.title}. ${def.question}`,
    '',
    `${started} – ${results.meta.finished} · ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'} · ${o.calls} timed calls per cell after ${o.warmup} warm-up calls`,
    '',
    environmentParagraph(environment),
    '',
    measured.markdown(flags),
    '',
    ...(figures.length > 0 ? ['## Figures', '', ...figures.map((f) => `![${f}](${f})`), ''] : [`_${FIGURES_HINT}._`, '']),
  ].join('\n');
  const files: ExperimentFiles = {
    json: join(out, 'results.json'),
    markdown: join(out, 'results.md'),
    samplesCsv: join(out, 'samples.csv'),
    cellsCsv: join(out, 'cells.csv'),
    figures: figures.map((f) => join(out, f)),
    ...(renderSvg === null && { figuresSkipped: FIGURES_HINT }),
  };
  writeFileSync(files.markdown, md);
  writeFileSync(files.samplesCsv, measured.samplesCsv);
  writeFileSync(files.cellsCsv, measured.cellsCsv);
  writeFileSync(files.json, JSON.stringify(results, null, 2) + '\n');
  return { results, files, tables: measured.markdown(flags) };
}
