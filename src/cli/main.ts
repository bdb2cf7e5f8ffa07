#!/usr/bin/env node
/**
 * The `vfun` command.
 */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { VirtFunError } from '../errors.js';
import { runDemo } from './demo.js';

/** Default data root: holds admin/ (the journal) and, later, vmcli/ and service/. */
export const DEFAULT_ROOT = '.vfun';

export function defaultJournal(root: string): string {
  return `file:${resolve(root, 'admin', 'journal.ndjson')}`;
}

const program = new Command()
  .name('vfun')
  .description('VirtFun: offload functions from guests to the co-located host through shared memory, under vFunD')
  .showHelpAfterError();

program
  .command('demo')
  .description('run two tenants through all four phases on the embedded file journal, then summarize the journal')
  .option('--journal <url>', 'journal URL: file:<path> or memory: (default: file:<root>/admin/journal.ndjson)')
  .option('--root <dir>', 'VirtFun data root', DEFAULT_ROOT)
  .action(async (o: { journal?: string; root: string }) => {
    const result = await runDemo({ journal: o.journal ?? defaultJournal(o.root), out: (l) => console.log(l) });
    if (!result.chainOk) process.exitCode = 1;
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof VirtFunError) {
    console.error(`vfun: ${err.message}`);
  } else {
    console.error(err);
  }
  process.exit(1);
});
