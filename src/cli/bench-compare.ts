/**
 * `vfun bench compare <a> <b>`: two `bench paper` runs side by side, per cell the medians, their
 * bootstrap 95% CIs, the ratio b/a and whether the intervals overlap (src/paper/compare.ts).
 * Markdown by default, `--json` or `--csv`. main.ts calls registerBenchCompare(program).
 */
import type { Command } from 'commander';
import { ValidationError } from '../errors.js';
import { compareRuns, comparisonCsv, formatComparison, readRun } from '../paper/compare.js';

/** The options of `bench compare`. */
export interface BenchCompareOptions {
  readonly json?: boolean;
  readonly csv?: boolean;
}

/** The text `bench compare` prints for runs `a` and `b` (folders or results.json files). */
export function benchCompare(a: string, b: string, o: BenchCompareOptions = {}, warn: (line: string) => void = (l) => process.stderr.write(l + '\n')): string {
  if (o.json === true && o.csv === true) throw new ValidationError('--json', 'excludes --csv');
  const c = compareRuns(readRun(a, '<a>'), readRun(b, '<b>'), [a, b]);
  if (o.json === true) return JSON.stringify(c, null, 2);
  if (o.csv === true) {
    // The CSV has no room for them: the warnings go to stderr, so a reader of the terminal sees them.
    for (const w of c.warnings) warn(`warning: ${w}`);
    return comparisonCsv(c).trimEnd();
  }
  return formatComparison(c);
}

/** Add `compare` under `bench` (created if no other module made it yet). */
export function registerBenchCompare(program: Command): void {
  const bench = program.commands.find((c) => c.name() === 'bench') ?? program.command('bench').description('benchmarks');
  bench
    .command('compare')
    .description('compare two bench paper runs: per cell the medians, their 95% CIs, the ratio b/a and whether the intervals overlap')
    .argument('<a>', 'a results folder (or its results.json)')
    .argument('<b>', 'another one')
    .option('--json', 'the comparison as JSON')
    .option('--csv', 'the comparison as CSV, one line per cell')
    .action((a: string, b: string, o: BenchCompareOptions) => {
      process.stdout.write(benchCompare(a, b, o) + '\n');
    });
}
