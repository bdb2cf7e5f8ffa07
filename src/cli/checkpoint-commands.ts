/**
 * The checkpoint side of `vfun audit` (docs/proofs.md): `audit verify`'s checks
 * of checkpoints and witnesses, `audit pubkey`, `audit prove` and
 * `audit check-proof`.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { messageOf, ValidationError } from '../errors.js';
import { checkpointKeyPaths, ed25519Verify, readVerifierKeyFile } from '../events/adapters/checkpoint-key.js';
import { verifyCheckpoints, type WitnessNotes } from '../events/checkpoint-verify.js';
import { checkReceipt, makeReceipt, parseReceipt } from '../events/receipt.js';
import type { NoteVerifier } from '../events/signed-note.js';
import { openWitness } from '../events/adapters/witness-files.js';
import { openForReading, withJournalOptions, type JournalOptions } from './journal-options.js';

/** Commander's collector for a repeatable option. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * The public key: `--pubkey <file>`, else, for the root's own journal (no `--journal`),
 * `<root>/admin/checkpoint.pub` when present, else null.
 */
export async function verifierKey(o: JournalOptions & { pubkey?: string }): Promise<NoteVerifier | null> {
  if (o.pubkey !== undefined) return readVerifierKeyFile(o.pubkey);
  if (o.journal !== undefined) return null;
  const path = checkpointKeyPaths(resolve(o.root)).publicKey;
  return existsSync(path) ? readVerifierKeyFile(path) : null;
}

async function readWitness(spec: string): Promise<WitnessNotes> {
  let w;
  try {
    w = await openWitness(spec);
    return { url: w.url, notes: await w.notes() };
  } catch (err) {
    return { url: w?.url ?? spec, notes: [], error: messageOf(err) };
  } finally {
    await w?.close();
  }
}

/**
 * The checkpoint checks of `vfun audit verify`, after the chain verified: prints
 * what holds and every problem; false when any check failed.
 */
export async function verifyJournalCheckpoints(o: JournalOptions & { witness?: string[]; pubkey?: string }, url: string): Promise<boolean> {
  const key = await verifierKey(o);
  const witnesses = await Promise.all((o.witness ?? []).map(readWitness));
  const { journal } = await openForReading(o);
  let report;
  try {
    report = await verifyCheckpoints(journal.read(), { key, witnesses, verify: ed25519Verify });
  } finally {
    await journal.close();
  }
  const last = report.checkpoints === 0 ? 'no checkpoint' : `the last covers seqs 1..${report.covered}`;
  console.log(`${url}: ${report.checkpoints} checkpoint(s), ${last}; ${report.uncovered} event(s) not yet covered by a checkpoint`);
  if (!report.signaturesChecked) {
    const where = o.journal !== undefined ? 'with --journal, give vFunD\'s checkpoint.pub with --pubkey' : `no ${checkpointKeyPaths(resolve(o.root)).publicKey}`;
    console.log(`  signatures NOT checked: no public key (${where})`);
  }
  else if (report.ok && report.checkpoints > 0) console.log(`  every checkpoint is signed by ${key!.name} and matches the events before it`);
  if (witnesses.length > 0 && report.ok) console.log(`  consistent with ${report.witnessed} witnessed checkpoint(s) in ${witnesses.map((w) => w.url).join(', ')}`);
  for (const n of report.notes) console.log(`  note: ${n}`);
  for (const p of report.problems) console.error(`${url}: CHECKPOINT FAILURE: ${p}`);
  return report.ok;
}

/** `vfun audit pubkey`, `vfun audit prove`, `vfun audit check-proof`. */
export function registerCheckpointCommands(audit: Command): void {
  audit
    .command('pubkey')
    .description("print vFunD's checkpoint public key (the verifier key text of <root>/admin/checkpoint.pub)")
    .option('--root <dir>', 'VirtFun data root', '.vfun')
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<{ root: string }>();
      const path = checkpointKeyPaths(resolve(o.root)).publicKey;
      await readVerifierKeyFile(path); // a malformed file is an error, not printed
      console.log((await readFile(path, 'utf8')).trim());
    });

  withJournalOptions(audit.command('prove <event>').description('print a receipt: an event (id or seq), its inclusion proof and the signed checkpoint that covers it'))
    .option('-o, --output <file>', 'write the receipt to a file instead of stdout')
    .action(async (event: string, _o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<JournalOptions & { output?: string }>();
      const which = /^[1-9][0-9]*$/.test(event) ? { seq: Number(event) } : { id: event };
      const { journal } = await openForReading(o);
      let made;
      try {
        made = await makeReceipt(journal.read(), which);
      } finally {
        await journal.close();
      }
      if (!made.ok) throw new ValidationError('event', made.reason);
      const text = `${JSON.stringify(made.receipt, null, 2)}\n`;
      if (o.output !== undefined) {
        await writeFile(o.output, text);
        console.log(`receipt of seq ${made.receipt.envelope.seq} written to ${o.output}`);
      } else {
        process.stdout.write(text);
      }
    });

  audit
    .command('check-proof <file>')
    .description("verify a receipt offline with vFunD's public key; exit 1 when it does not hold")
    .requiredOption('--pubkey <file>', "vFunD's checkpoint public key (checkpoint.pub)")
    .action(async (file: string, o: { pubkey: string }) => {
      const key = await readVerifierKeyFile(o.pubkey);
      const receipt = parseReceipt(await readFile(file, 'utf8'));
      const check = checkReceipt(receipt, key, ed25519Verify);
      if (check.ok) {
        console.log(`${file}: VALID: event seq ${check.seq} (${receipt.envelope.type}, id ${receipt.envelope.id}) is leaf ${check.seq - 1} of ${check.origin}'s tree of ${check.treeSize} events, checkpoint signed at ${check.time}`);
      } else {
        console.error(`${file}: INVALID: ${check.reason}`);
        process.exitCode = 1;
      }
    });
}
