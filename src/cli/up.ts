/**
 * `vfun up`: vFunD as a daemon (src/daemon/), as an operator runs it: the
 * command's options, the signals it keeps or ignores, and what it says. The
 * daemon itself starts and stops in src/daemon/start.ts.
 *
 * Its log is on stderr: JSON lines (pino), or readable lines on a terminal
 * (`--log-format`). On stdout it prints, as it always has, its start-up
 * summary and `ready` (what scripts wait for), unless stdout and stderr are
 * the same terminal, where the readable log already says it all.
 */
import { Option, type Command } from 'commander';
import { startDaemon, type Daemon } from '../daemon/start.js';
import { createLogger, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../daemon/log.js';
import { startFailureRecords } from '../daemon/start-failure.js';
import { describeChanges, oneLine } from '../admin/describe.js';
import { loadShm } from '../native/shm.js';
import { journalUrl, withJournalOptions, type JournalOptions } from './journal-options.js';
import { onBrokenOutput, say, warn } from './output.js';
import { messageOf } from '../errors.js';
import { fstatSync } from 'node:fs';
import { resolve } from 'node:path';
import { isPathSpecifier, resolveModuleUrl } from '../drivers/module-import.js';
import { fileURLToPath } from 'node:url';
import { collect } from './checkpoint-commands.js';
import { integerAtLeast, numberAtLeast } from '../util/arguments.js';
import { DEFAULT_CHECKPOINT_EVERY, DEFAULT_CHECKPOINT_INTERVAL_MS } from '../events/checkpointer.js';
import { DEFAULT_SNAPSHOT_EVERY } from '../actors/vfund.js';
import { metricsAddressArgument } from './metrics-option.js';
import type { MetricsAddress } from '../daemon/metrics.js';

/** Add `vfun up --config <file>` to the command line. */
export function registerUpCommand(program: Command): void {
  withJournalOptions(program.command('up').description('run vFunD as a daemon: one control socket per tenant, until SIGTERM'))
    .requiredOption('--config <file>', 'JSON configuration: tenants (id, secret, maxInstances), functions (kinds: hw/sw slots, driver), regionCapacity')
    .option('--driver-module <path|package>', 'a module of drivers of your own, added to the configuration\'s driverModules (relative to the working directory; repeatable; docs/writing-a-driver.md)', collect, [])
    .option('--witness <path|nats-url>', 'also put every checkpoint there: a directory, a file, or a NATS key-value bucket (repeatable)', collect, [])
    .option('--checkpoint-every <events>', 'journal a signed checkpoint after this many events', integerAtLeast(1), DEFAULT_CHECKPOINT_EVERY)
    .option('--checkpoint-interval <seconds>', 'and after this many seconds when events are not yet covered (0: only by count and at stop)', numberAtLeast(0), DEFAULT_CHECKPOINT_INTERVAL_MS / 1000)
    .option('--fleet <nats-url>', 'register in the fleet on this NATS (default: on the journal\'s, when it is nats://); see `vfun fleet status`')
    .option('--snapshot-every <events>', 'journal a snapshot of vFunD\'s state after this many events, for fast start-up (0: never)', integerAtLeast(0), DEFAULT_SNAPSHOT_EVERY)
    .option('--metrics <host:port>', 'serve Prometheus metrics at /metrics, plus /healthz and /readyz, on this address (e.g. 127.0.0.1:9464; default: off)', metricsAddressArgument)
    .addOption(new Option('--log-level <level>', 'the least level logged on stderr').choices(LOG_LEVELS).default('info'))
    .addOption(new Option('--log-format <format>', 'stderr log: JSON lines, or readable lines (default: pretty on a terminal, json otherwise)').choices(LOG_FORMATS))
    .action(async (o: JournalOptions & { config: string; driverModule: string[]; witness: string[]; checkpointEvery: number; checkpointInterval: number; snapshotEvery: number; metrics?: MetricsAddress; fleet?: string; logLevel: LogLevel; logFormat?: LogFormat }) => {
      // A daemon's stdout or stderr going away (a closed pipe) silences its log, never the daemon.
      onBrokenOutput('carry-on');
      const logger = createLogger({ level: o.logLevel, format: o.logFormat ?? (process.stderr.isTTY ? 'pretty' : 'json'), write: warn });
      const console = sameTerminal() ? undefined : say;
      // What vFunD always printed on stdout, and a record of it on stderr.
      const log = (level: 'info' | 'warn', msg: string, fields: Record<string, unknown> = {}) => {
        logger[level](fields, msg);
        console?.(msg);
      };
      // Signals whose default would kill vFunD on the spot (no release, files left behind): never.
      // SIGHUP reloads the configuration file (as `vfun admin reload`), once vFunD is up.
      let daemonUp: Daemon | null = null;
      process.on('SIGHUP', () => {
        if (daemonUp === null) return log('warn', 'SIGHUP received while vFunD starts: it already reads the configuration; nothing to reload yet', { event: 'signal', signal: 'SIGHUP' });
        log('info', 'SIGHUP received: reloading the configuration', { event: 'signal', signal: 'SIGHUP' });
        daemonUp.reload({ via: 'signal', signal: 'SIGHUP' }).then(
          (r) => log('info', `configuration reloaded: ${describeChanges(r.changes)}${r.released.length > 0 ? `; released ${r.released.join(', ')}` : ''}`, { event: 'config.reloaded', released: r.released }),
          (err: unknown) => log('warn', `configuration reload refused, nothing changed: ${oneLine(messageOf(err))}`, { event: 'config.reload-refused' }),
        );
      });
      process.on('SIGUSR2', () => log('warn', 'SIGUSR2 received: vFunD does not use it; it keeps serving (SIGTERM or SIGINT stops it)', { event: 'signal', signal: 'SIGUSR2' }));
      // Not dumpable: a process of vFunD's user (a tenant without an OS user of its own) can neither
      // ptrace vFunD nor read its memory or descriptors through /proc.
      loadShm()?.sandboxSelf({ nonDumpable: true });
      let daemon: Daemon;
      try {
        daemon = await startDaemon({ configPath: o.config, driverModules: o.driverModule.map(fromWorkingDirectory), journal: journalUrl(o), root: o.root, log: logger, ...(console !== undefined && { console }), checkpoint: { witnesses: o.witness, every: o.checkpointEvery, intervalMs: o.checkpointInterval * 1000 }, snapshotEvery: o.snapshotEvery, ...(o.metrics !== undefined && { metrics: o.metrics }), ...(o.fleet !== undefined && { fleet: o.fleet }) });
      } catch (err) {
        // One structured line (its code and message); the stack only at debug level.
        for (const r of startFailureRecords(err)) logger[r.level](r.fields, r.msg);
        process.exit(1);
      }
      daemonUp = daemon;
      const shutdown = (signal: string) => {
        log('info', `${signal}: releasing every instance`, { event: 'vfund.stopping', signal });
        if (daemon.journalAvailable?.() === false) {
          log('warn', `the journal cannot write: stopping waits until it can, so that every release is journaled; ${signal} again stops at once (the next start then releases what was held, reason recovery)`, { event: 'vfund.stopping', waitsForJournal: true });
        }
        daemon.stop(signal).then(
          () => {
            log('info', 'vFunD stopped', { event: 'vfund.down', signal });
            process.exit(0);
          },
          (err: unknown) => {
            logger.error({ event: 'vfund.stop-failed', err: { code: (err as { code?: unknown }).code ?? null, message: messageOf(err) } }, `vfun: shutdown failed: ${messageOf(err)}`);
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
      log('info', 'ready', { event: 'vfund.ready', pid: process.pid });
    });
}

/** stdout and stderr are one terminal (an operator's shell): the readable log on stderr is enough. */
function sameTerminal(): boolean {
  if (!process.stdout.isTTY || !process.stderr.isTTY) return false;
  try {
    const [a, b] = [fstatSync(1), fstatSync(2)];
    return a.rdev === b.rdev && a.ino === b.ino;
  } catch {
    return false;
  }
}

/**
 * A `--driver-module` as the configuration takes it: a path made absolute from the working directory; a
 * package resolved from the working directory to its file when it can be (else left for the load step to name).
 */
function fromWorkingDirectory(specifier: string): string {
  if (isPathSpecifier(specifier)) return resolve(specifier);
  try {
    return fileURLToPath(resolveModuleUrl(specifier, process.cwd()));
  } catch {
    return specifier;
  }
}
