/** The journal options every `vfun` command shares. */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { listSegments } from '../events/adapters/file/segments.js';
import { journalPath, openJournal, type OpenedJournal } from '../events/adapters/open-journal.js';
import { VirtFunError } from '../errors.js';

/** Default data root: admin/ holds the journal; vmcli/ and service/ the regions. */
export const DEFAULT_ROOT = '.vfun';

export interface JournalOptions {
  readonly journal?: string;
  readonly root: string;
}

/** `--root`, also from the environment (VFUN_ROOT); the option wins. */
export function rootOption(description = 'VirtFun data root'): Option {
  return new Option('--root <dir>', description).env('VFUN_ROOT').default(DEFAULT_ROOT);
}

/** `--journal` and `--root`, each also from the environment (VFUN_JOURNAL, VFUN_ROOT); the option wins. */
export function withJournalOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--journal <url>', 'journal URL: file:<path>, nats://host:port[?stream=..&host=..&failClosed=..] or memory: (default: file:<root>/admin/journal.ndjson)').env('VFUN_JOURNAL'),
    )
    .addOption(rootOption());
}

export function journalUrl(o: JournalOptions): string {
  return o.journal ?? `file:${resolve(o.root, 'admin', 'journal.ndjson')}`;
}

/** Open a journal to read it (audit, replay): never writes; a missing file is an error, not a new journal. */
export async function openForReading(o: JournalOptions): Promise<OpenedJournal> {
  const url = journalUrl(o);
  const path = journalPath(url);
  // Closed segments without an active file (a crash between the two steps of closing one) are a journal too.
  if (path !== null && !existsSync(path) && (await listSegments(path)).length === 0) {
    throw new VirtFunError('JOURNAL_URL', `no journal at ${path} (run \`vfun demo\` first, or pass --journal / --root)`);
  }
  return openJournal(url, { readOnly: true, host: hostname() });
}
