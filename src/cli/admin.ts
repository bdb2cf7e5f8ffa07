/**
 * `vfun admin …`: steer the running vFunD of a root through its admin socket
 * (docs/operator-guide.md, "Steering a running host"): evict an instance,
 * drain the host or a tenant, disable or enable a tenant, reload the
 * configuration. The root comes from `--root` / VFUN_ROOT, the admin secret
 * (when vFunD has one) from `--secret-file` / VFUN_ADMIN_SECRET_FILE. With
 * `--fleet <nats-url> --host <H>` the same request goes to host H's `admin`
 * endpoint over NATS instead (docs/operator-guide.md, "A fleet of hosts"),
 * which takes only requests signed with the admin secret.
 */
import { Option, type Command } from 'commander';
import { adminRequest, ADMIN_SECRET_FILE_ENV, type AdminRequestOptions } from '../admin/client.js';
import { describeChanges } from '../admin/describe.js';
import type { AdminArgs, AdminOp } from '../admin/protocol.js';
import { readSecretFile } from '../admin/settings.js';
import type { ReloadResult } from '../daemon/steering.js';
import { AdminRefusedError, NoDaemonError, ValidationError, VirtFunError } from '../errors.js';
import { rootOption } from './journal-options.js';
import { say, warn } from './output.js';

interface AdminOptions {
  readonly root: string;
  readonly secretFile?: string;
  /** A NATS URL (as for the journal): ask the host's `admin` endpoint there instead of the root's socket. */
  readonly fleet?: string;
  /** The host to ask in the fleet (with `--fleet`). */
  readonly host?: string;
}

/** What an action answered: the events journaled and the instances released. */
interface ActionResult {
  readonly events: readonly string[];
  readonly released: readonly string[];
}

/** A subcommand with the root and the admin secret's file. */
function adminCommand(parent: Command, name: string, description: string): Command {
  return parent
    .command(name)
    .description(description)
    .addOption(rootOption('VirtFun data root of the vFunD to steer'))
    .addOption(new Option('--secret-file <file>', "the admin secret (when vFunD's configuration has one; always needed with --fleet)").env(ADMIN_SECRET_FILE_ENV))
    .addOption(new Option('--fleet <nats-url>', "ask over NATS, on the fleet's admin endpoint of --host (credentials as in a journal URL: an admin user)"))
    .addOption(new Option('--host <host>', 'the host to ask in the fleet (with --fleet)'));
}

/** Where the request goes: the root's admin socket, or a host's admin endpoint in the fleet; ValidationError when half of the latter is given. */
function sendOf(o: AdminOptions): (op: AdminOp, args: AdminArgs, opts: AdminRequestOptions) => Promise<unknown> {
  if (o.fleet === undefined && o.host === undefined) return (op, args, opts) => adminRequest(o.root, op, args, opts);
  if (o.fleet === undefined) throw new ValidationError('--host', 'names a host of the fleet: give the fleet too (--fleet <nats-url>)');
  if (o.host === undefined) throw new ValidationError('--fleet', 'give the host to ask too (--host <host>: vfun fleet status lists them)');
  const { fleet, host } = o;
  return async (op, args, opts) => {
    const { fleetAdminRequest } = await import('../admin/nats-transport.js');
    return fleetAdminRequest(fleet, host, op, args, opts);
  };
}

/** Ask, say the outcome; a refusal or a missing vFunD is said in one line, exit 1. */
async function ask(o: AdminOptions, op: AdminOp, args: AdminArgs, report: (result: unknown) => string): Promise<void> {
  try {
    const send = sendOf(o);
    const secret = o.secretFile === undefined ? undefined : await readSecretFile(o.secretFile, '--secret-file');
    const result = await send(op, args, secret === undefined ? {} : { secret });
    say(report(result) + (o.host === undefined ? '' : ` (host ${o.host})`));
  } catch (err) {
    if (!(err instanceof NoDaemonError || err instanceof AdminRefusedError || err instanceof VirtFunError)) throw err;
    warn(`vfun: ${err.message}`);
    process.exitCode = 1;
  }
}

const releasedNote = (r: ActionResult): string => (r.released.length > 0 ? `; released ${r.released.join(', ')}` : '');

/** Add `vfun admin …` to the command line. */
export function registerAdminCommands(program: Command): void {
  const admin = program.command('admin').description("steer the running vFunD of a root through its admin socket (<root>/admin/admin.sock), or a host of the fleet over NATS (--fleet, --host)");

  adminCommand(admin, 'evict', 'release a live instance now (reason evicted): its guest finds its region tombstoned')
    .argument('<instance>', 'the instance id (vfun status lists them)')
    .action((instance: string, o: AdminOptions) => ask(o, 'evict', { instance }, (r) => `evicted ${instance}${releasedNote(r as ActionResult)}`));

  const drain = (off: boolean) => (o: AdminOptions & { tenant?: string; off?: boolean }) => {
    const stop = off || o.off === true;
    const what = o.tenant === undefined ? 'the host' : `tenant ${o.tenant}`;
    return ask(o, stop ? 'undrain' : 'drain', o.tenant === undefined ? {} : { tenant: o.tenant }, () =>
      stop ? `${what} admits new negotiations again` : `${what} drains: new negotiations are refused (draining), live instances go on`,
    );
  };
  adminCommand(admin, 'drain', 'refuse new negotiations (nack draining) of everyone, or of one tenant; live instances go on')
    .option('--tenant <id>', 'drain this tenant only')
    .option('--off', 'end the drain (as undrain)')
    .action(drain(false));
  adminCommand(admin, 'undrain', "end a drain: of the host (and every tenant's), or of one tenant")
    .option('--tenant <id>', "end this tenant's drain only")
    .action(drain(true));

  const tenant = admin.command('tenant').description('disable or enable a tenant');
  adminCommand(tenant, 'disable', "refuse the tenant's negotiations (nack tenant-disabled) and release its live instances")
    .argument('<tenant>', 'the tenant id')
    .action((t: string, o: AdminOptions) => ask(o, 'tenant-disable', { tenant: t }, (r) => `tenant ${t} disabled${releasedNote(r as ActionResult)}`));
  adminCommand(tenant, 'enable', 'admit a disabled tenant again')
    .argument('<tenant>', 'the tenant id')
    .action((t: string, o: AdminOptions) => ask(o, 'tenant-enable', { tenant: t }, () => `tenant ${t} enabled`));

  adminCommand(admin, 'reload', 're-read the configuration file (as SIGHUP does): journaled as config.reloaded with what changed')
    .action((o: AdminOptions) =>
      ask(o, 'reload', {}, (r) => {
        const res = r as ReloadResult;
        return `configuration reloaded: ${describeChanges(res.changes)}${releasedNote({ events: [], released: res.released })}`;
      }),
    );
}
