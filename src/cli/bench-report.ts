/**
 * `vfun bench report <run>...`: draw a `bench paper` run's results.md and figures again from its
 * results.json, with this version's report (after installing vega and vega-lite, or to regenerate
 * the committed runs of docs/paper-runs: `npm run paper:figures`). main.ts calls
 * registerBenchReport(program).
 */
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { readRun } from '../paper/compare.js';
import { writeReport, type ReportFiles } from '../paper/report.js';
import type { RenderSvg } from '../paper/figures.js';
import { resummarize } from '../paper/results.js';

/** Re-render one run folder (or the folder of a results.json), its summaries computed again from its raw runs; returns what was written. */
export async function benchReport(path: string, renderer?: RenderSvg | null): Promise<ReportFiles> {
  const results = resummarize(readRun(path, '<run>'));
  const folder = statSync(path).isDirectory() ? path : dirname(path);
  return writeReport(folder, results, renderer);
}

/** Add `report` under `bench` (created if no other module made it yet). */
export function registerBenchReport(program: Command): void {
  const bench = program.commands.find((c) => c.name() === 'bench') ?? program.command('bench').description('benchmarks');
  bench
    .command('report')
    .description("draw results.md and the figures of bench paper runs again from their results.json (this version's report; the summaries computed again from the raw runs)")
    .argument('<run...>', 'results folders (or their results.json)')
    .action(async (runs: string[]) => {
      for (const run of runs) {
        const files = await benchReport(run);
        process.stdout.write(`${run}: ${[files.markdown, ...files.figures].map((f) => f.split('/').pop()).join(', ')}\n`);
        if (files.figuresSkipped !== undefined) process.stdout.write(files.figuresSkipped + '\n');
      }
    });
}
