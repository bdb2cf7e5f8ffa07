/**
 * `vfun bench experiment <name>`: the experiments beyond the paper (payload-sweep, concurrency,
 * noisy-neighbour). Options are parsed here (bad values refused naming the flag), the run is
 * index.ts's; a progress bar on a terminal, otherwise a line every 5 s, on stderr; the tables (or,
 * with --json, a summary object) on stdout. src/paper/cli.ts calls registerExperimentCommand.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { ValidationError } from '../../errors.js';
import { integerAtLeast } from '../../util/arguments.js';
import { runNamedExperiment } from './index.js';
import {
  DEFAULT_CALLS,
  DEFAULT_GUESTS,
  DEFAULT_HAMMER_PAYLOAD,
  DEFAULT_HAMMERS,
  DEFAULT_SIZES,
  DEFAULT_SMALL_PAYLOAD,
  EXPERIMENT_NAMES,
  experimentOptionsFrom,
  parseCountList,
  parseSize,
  parseSizeList,
  PAYLOAD_FNS,
  QUICK_CALLS,
  type ExperimentCliOptions,
} from './options.js';
import type { ExperimentRun } from './runner.js';

/** A commander parser from one of options.ts's, its ValidationError turned into commander's refusal. */
function commanderParser<T>(parse: (v: string) => T): (v: string) => T {
  return (v) => {
    try {
      return parse(v);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

/** The --json summary of a run: where it is, whether to trust it, its cells and what it adds. */
export function jsonSummary(run: ExperimentRun): Record<string, unknown> {
  const { meta, ...rest } = run.results;
  return { ...rest, out: join(run.files.json, '..'), quick: meta.quick, underLoad: meta.environment.underLoad, files: run.files };
}

/** Run `bench experiment <name>` with command-line options; prints the tables or the JSON summary; returns the run. */
export async function benchExperiment(name: string, o: ExperimentCliOptions, log: (s: string) => void = (s) => process.stdout.write(s + '\n')): Promise<ExperimentRun> {
  const opts = experimentOptionsFrom(name, o);
  if (existsSync(join(opts.out, 'results.json'))) throw new ValidationError('--out', `${opts.out} already holds results; name another folder`);
  const showBar = o.progress !== false && process.stderr.isTTY === true;
  const bar = showBar
    ? new cliProgress.SingleBar({ stream: process.stderr, format: `bench experiment ${name} [{bar}] {value}/{total} cells | {what} | ETA {eta_formatted}`, hideCursor: true }, cliProgress.Presets.shades_classic)
    : null;
  let lastLine = performance.now();
  bar?.start(1, 0, { what: 'starting' });
  try {
    const run = await runNamedExperiment(opts, {
      onProgress: (done, total, what) => {
        if (bar) {
          bar.setTotal(total);
          bar.update(done, { what });
        } else if (o.progress !== false && (done === total || performance.now() - lastLine > 5000)) {
          lastLine = performance.now();
          process.stderr.write(`bench experiment ${name}: ${done}/${total} cells (${what})\n`);
        }
      },
    });
    bar?.stop();
    if (o.json === true) {
      log(JSON.stringify(jsonSummary(run)));
      return run;
    }
    const names = [run.files.markdown, run.files.json, run.files.samplesCsv, run.files.cellsCsv, ...run.files.figures].map((f) => f.split('/').pop());
    log(`results in ${opts.out}: ${names.join(', ')}`);
    if (run.files.figuresSkipped !== undefined) log(run.files.figuresSkipped);
    if (run.results.meta.environment.underLoad) log('warning: the machine was under load during the run (results.md says how much)');
    log('');
    log(run.tables);
    return run;
  } finally {
    bar?.stop();
  }
}

/** Add `experiment <name>` under `bench`. */
export function registerExperimentCommand(bench: Command): void {
  const sizes = commanderParser((v) => parseSizeList(v, '--sizes'));
  bench
    .command('experiment')
    .description('experiments beyond the paper: payload-sweep (latency vs payload size, three domains), concurrency (N guests at once through vFunD, one tenant or one each), noisy-neighbour (a tenant\'s latency while another hammers)')
    .addArgument(new Argument('<name>', 'the experiment').choices(EXPERIMENT_NAMES))
    .option('-o, --out <dir>', 'results folder (default results/<name>-<time>)')
    .option('--quick', 'seconds: few calls per cell, fewer sizes or guests (labelled: a smoke test)')
    .option('--json', 'a summary object on stdout instead of the tables')
    .option('--no-progress', 'no progress bar or lines')
    .addOption(new Option('--calls <n>', `timed calls per cell, per guest, or of tenant B per phase (default ${Object.entries(DEFAULT_CALLS).map(([k, v]) => `${k} ${v}`).join(', ')}; --quick ${Object.values(QUICK_CALLS).join(', ')})`).argParser(integerAtLeast(1)))
    .addOption(new Option('--warmup <n>', 'untimed calls before them (default min(calls, 200); --quick 20)').argParser(integerAtLeast(0)))
    .addOption(new Option('--fn <function>', `the payload function (${PAYLOAD_FNS.join(', ')}; default sha256, noisy-neighbour's tenant B crc32)`))
    .addOption(new Option('--seed <n>', 'seed of the payload bytes (default 1)').argParser(integerAtLeast(0)))
    .addOption(new Option('--sizes <list>', `payload-sweep: sizes, e.g. 16,1K,64K,1M (default ${DEFAULT_SIZES.length} powers of 4, 16 B to 1 MiB)`).argParser(sizes))
    .addOption(new Option('--guests <list>', `concurrency: numbers of guests (default ${DEFAULT_GUESTS.join(',')})`).argParser(commanderParser((v) => parseCountList(v, '--guests'))))
    .addOption(new Option('--payload <size>', `concurrency, noisy-neighbour: the small calls' payload (default ${DEFAULT_SMALL_PAYLOAD})`).argParser(commanderParser((v) => parseSize(v, '--payload'))))
    .addOption(new Option('--hammers <n>', `noisy-neighbour: tenant A's processes (default ${DEFAULT_HAMMERS})`).argParser(integerAtLeast(1)))
    .addOption(new Option('--hammer-payload <size>', `noisy-neighbour: tenant A's payload (default ${DEFAULT_HAMMER_PAYLOAD / 1024}K)`).argParser(commanderParser((v) => parseSize(v, '--hammer-payload'))))
    .addOption(new Option('--hammer-fn <function>', `noisy-neighbour: tenant A's function (default sha256)`))
    .action(async (name: string, o: ExperimentCliOptions) => {
      await benchExperiment(name, o);
    });
}
