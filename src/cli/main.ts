#!/usr/bin/env node
/**
 * The `vfun` command.
 */
import { Command, Option } from 'commander';
import { verifyChain } from '../events/chain.js';
import { journalPath } from '../events/adapters/open-journal.js';
import { verifyFile } from '../events/adapters/file/index.js';
import { parseFileJournalUrl } from '../events/adapters/file/url.js';
import { VirtFunError } from '../errors.js';
import { AUDIT_FORMATS, type AuditFilter, type AuditFormat } from './audit.js';
import { auditCommand, replayCommand, summaryCommand } from './audit-commands.js';
import { runDemo, type DemoBackend } from './demo.js';
import { registerUpCommand } from './up.js';
import { registerVersion } from './version.js';
import { registerAdminCommands } from './admin.js';
import { registerStatusCommands } from './status.js';
import { fetchStatus } from '../admin/client.js';
import { collect, registerCheckpointCommands, verifyJournalCheckpoints } from './checkpoint-commands.js';
import { registerPaperCommands } from '../paper/cli.js';
import { registerTraceCommands } from './trace.js';
import { registerBenchCompare } from './bench-compare.js';
import { registerBenchReport } from './bench-report.js';
import { registerVmCommands } from './vm.js';
import { registerNatsConfigCommand } from './nats-config.js';
import { registerAcknowledgeCommand } from './acknowledge.js';
import { registerFleetCommands } from './fleet.js';
import { registerGpuCommands } from './gpu.js';
import { auditHostsCommand, type AuditHostsOptions } from './fleet-audit.js';
import { summaryHostsCommand } from './fleet-summary.js';
import { journalUrl, openForReading, withJournalOptions, type JournalOptions } from './journal-options.js';
import { guardOutput } from './output.js';
import { hostChecked, pendingNote, pendingOf } from './read-journal.js';

const formatOption = () => new Option('--format <format>', 'output format').choices(AUDIT_FORMATS).default('table');

// `vfun audit | head` closes our stdout early: that is not an error (and `vfun up` carries on).
guardOutput();

const program = new Command()
  .name('vfun')
  .description('VirtFun: offload functions from guests to the co-located host through shared memory, under vFunD')
  .showHelpAfterError();

withJournalOptions(
  program
    .command('demo')
    .description('run two tenants through all four phases on the embedded file journal, then summarize the journal'),
)
  .addOption(
    new Option('--backend <backend>', 'regions: files (mapped across processes), sab (in-process), auto (files if the native addon is built)')
      .choices(['auto', 'files', 'sab'])
      .default('auto'),
  )
  .option('--device <webgpu|sim:profile>', "webgpu: also run GPU functions (matmul, saxpy, crc32-batch) on this host's WebGPU adapter; sim:<profile>: run the hardware functions on a simulated FPGA following a profile (e.g. sim:alveo-u250)")
  .option('--witness <path|nats-url>', 'also put every checkpoint there: a directory, a file, or a NATS key-value bucket (repeatable)', collect, [])
  .action(async (o: JournalOptions & { backend: DemoBackend; device?: string; witness: string[] }) => {
  const result = await runDemo({ journal: journalUrl(o), root: o.root, backend: o.backend, ...(o.device !== undefined && { device: o.device }), out: (l) => console.log(l), checkpoint: { witnesses: o.witness } });
  if (!result.chainOk) process.exitCode = 1;
});

registerUpCommand(program);
registerVersion(program);

/** The filters of `vfun audit` and `vfun audit summary` (they combine; a repeated --type adds types). */
const withFilters = (cmd: Command): Command =>
  cmd
    .option('--tenant <tenant>', 'only this tenant')
    .option('--app <app>', 'only this app')
    .option('--fn <fn>', 'only this function')
    .option('--instance <id>', 'only this instance')
    .option('--type <type>', 'only this event type, or a family such as negotiation.* (repeatable: any of them)', collect)
    .option('--since <iso>', 'only events at or after this ISO-8601 time (without a zone: UTC)')
    .option('--until <iso>', 'only events before this ISO-8601 time (without a zone: UTC)');

const audit = withFilters(withJournalOptions(program.command('audit').description('list journaled events (filters combine)')))
  .addOption(formatOption())
  .option('--limit <n>', 'only the first n events that match (reading stops there)')
  .option('--tail <n>', 'only the last n events that match')
  .option('--host <host|*>', "JetStream: these hosts' events (comma-separated; '*': every host), merged in time order")
  .option('--follow', 'then print each new event that matches as it is journaled, until SIGINT or SIGTERM')
  .option('--wide', 'print every column in full (the table fits 120 columns otherwise)')
  .action((o: Parameters<typeof auditCommand>[0] & { host?: string }) => {
    if (o.host !== undefined && o.follow === true) throw new VirtFunError('CONFIG', '--follow follows one journal: give it without --host');
    return o.host !== undefined ? auditHostsCommand(o as AuditHostsOptions) : auditCommand(o);
  });

withJournalOptions(audit.command('verify').description('check the hash chain, the signed checkpoints and the witnesses; exit 1 naming the first bad event'))
  .option('--witness <path|nats-url>', 'check the journal against the checkpoints witnessed there (repeatable)', collect, [])
  .option('--pubkey <file>', "vFunD's checkpoint public key (default: <root>/admin/checkpoint.pub when present)")
  .action(
  async (_o: JournalOptions, cmd: Command) => {
    const o = cmd.optsWithGlobals<JournalOptions & { witness: string[]; pubkey?: string }>();
    const url = journalUrl(o);
    const path = journalPath(url);
    let report;
    if (path !== null) {
      await openForReading(o).then(({ journal }) => journal.close()); // same "no journal" error as the other commands
      const file = parseFileJournalUrl(url);
      report = await verifyFile(path, file?.host === undefined ? {} : { hosts: { host: file.host, ...(file.previousHost !== undefined && { previousHost: file.previousHost }) } });
    } else {
      const { journal } = await openForReading(o);
      report = await verifyChain(hostChecked(journal.read(), o));
      await journal.close();
    }
    if (report.ok) {
      // Events waiting in the outbox are not in the journal: the history is not all verified while they wait.
      const waiting = pendingNote(await pendingOf(o, report.head));
      console.log(`${url}: hash chain verified, ${report.count} events${report.head ? `, head seq ${report.head.seq} ${report.head.hash}` : ''}${waiting === null ? '' : `; ${waiting}`}`);
      if (!(await verifyJournalCheckpoints(o, url))) process.exitCode = 1;
    } else {
      const b = report.firstBad;
      console.error(
        `${url}: chain BROKEN at seq ${b.seq}${b.id ? ` (event ${b.id})` : ''}${b.line ? `, line ${b.line}` : ''}: ${b.reason}; ${report.count} events before it verified`,
      );
      process.exitCode = 1;
    }
  },
);

registerAcknowledgeCommand(audit);

withFilters(withJournalOptions(audit.command('summary').description('per-tenant counts of the events that match: instances, nacks by reason, errors, security events')))
  .addOption(formatOption())
  .option('--host <host|*>', "JetStream: these hosts' events (comma-separated; '*': every host), a section per host")
  .action(async (_o: unknown, cmd: Command) => {
    const o = cmd.optsWithGlobals<JournalOptions & AuditFilter & { format: AuditFormat; host?: string }>();
    await (o.host !== undefined ? summaryHostsCommand({ ...o, host: o.host }) : summaryCommand(o));
  });

withJournalOptions(
  program
    .command('replay')
    .description("fold the journal into vFunD's state, print it, and re-run decide on every recorded command"),
)
  .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
  .option('--from-snapshot', "start at the journal's latest state snapshot instead of its first event")
  .action(replayCommand);

registerCheckpointCommands(audit);
registerPaperCommands(program);
registerTraceCommands(program);
registerBenchCompare(program);
registerBenchReport(program);
registerVmCommands(program);
registerNatsConfigCommand(program);
registerFleetCommands(program);
registerGpuCommands(program);
registerAdminCommands(program);
registerStatusCommands(program, (root) => fetchStatus(root));

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof VirtFunError) {
    console.error(`vfun: ${err.message}`);
  } else {
    console.error(err);
  }
  // A command that set its own non-zero code before failing (130: interrupted) exits with it.
  const code = typeof process.exitCode === 'number' && process.exitCode !== 0 ? process.exitCode : 1;
  process.exit(code);
});
