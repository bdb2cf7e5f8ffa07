/**
 * `vfun audit acknowledge --journal nats://admin@… --seq N --reason …`: the
 * way out of a damaged JetStream journal message that leaves evidence
 * (docs/jetstream.md, "Damaged messages"). Needs admin credentials.
 */
import type { Command } from 'commander';
import { VirtFunError } from '../errors.js';
import { journalUrl, withJournalOptions, type JournalOptions } from './journal-options.js';

/** Add `acknowledge` under `vfun audit`. */
export function registerAcknowledgeCommand(audit: Command): void {
  withJournalOptions(
    audit
      .command('acknowledge')
      .description('JetStream: acknowledge a damaged message (admin credentials); it stays in the stream, readers report it and go on'),
  )
    .requiredOption('--seq <n>', 'stream sequence of the damaged message, as the error named it')
    .requiredOption('--reason <text>', 'why it is there (journaled with the acknowledgement)')
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<JournalOptions & { seq: string; reason: string }>();
      const url = journalUrl(o);
      if (!url.startsWith('nats://')) throw new VirtFunError('JOURNAL_URL', `acknowledge is for JetStream journals (nats://…); ${url} is not one`);
      const { acknowledgeDamage, parseJetStreamUrl } = await import('../events/adapters/jetstream/index.js');
      const { ack, ref } = await acknowledgeDamage(parseJetStreamUrl(url), Number(o.seq), o.reason);
      console.log(`acknowledged ${ack.stream} message ${ack.seq} (sha256 ${ack.sha256}: ${ack.fault}) as ${ref}, by ${ack.by}; readers now report it as journal.damage-acknowledged and go on`);
    });
}
