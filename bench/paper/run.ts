/**
 * Stand-alone entry of `vfun bench paper` / `vfun replay-trace` (until the
 * `vfun` CLI wires src/bench/cli.ts):
 *
 *   npx tsx bench/paper/run.ts bench paper --quick
 *   npx tsx bench/paper/run.ts replay-trace results/paper-x/trace-factorial-250Kx2k.jsonl --device alveo-u250
 */
import { Command } from 'commander';
import { registerPaperCommands } from '../../src/bench/cli.js';

const program = new Command('vfun').showHelpAfterError();
registerPaperCommands(program);
await program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`vfun: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
