/**
 * `vfun fleet status --fleet <nats-url>`: every vFunD registered on that NATS
 * (src/daemon/fleet.ts), one row per host, or `--json` (each host's
 * HostStatus). Hosts that do not answer within `--timeout` are not shown;
 * `--expect h1,h2` names those of them that did not answer and exits 1.
 * `vfun status --fleet <nats-url>` is the same command (fleetStatusCommand).
 */
import type { Command } from 'commander';
import { ValidationError } from '../errors.js';
import { fleetRowOf, missingHosts, type FleetRow } from '../daemon/fleet.js';
import type { HostStatus } from '../daemon/status.js';
import { integerAtLeast } from '../util/arguments.js';
import { humanDuration } from './human.js';

/** What `vfun fleet status` takes. */
export interface FleetStatusOptions {
  /** A NATS URL as for the journal (credentials, `passwordFile=`, `nkeySeed=`; its journal parameters are ignored). */
  readonly fleet: string;
  readonly json?: boolean;
  /** How long discovery and each host's answer may take, in ms. */
  readonly timeout?: number;
  /** Hosts that must answer: comma-separated (repeatable). */
  readonly expect?: string | readonly string[];
}

/** Default wait for the fleet's answers. */
export const DEFAULT_FLEET_TIMEOUT_MS = 2000;

const HEADS = ['host', 'pid', 'version', 'uptime', 'instances', 'calls', 'errors', 'head', 'journal', 'checkpoint'] as const;
/** Columns aligned to the right (numbers). */
const RIGHT = new Set<string>(['pid', 'instances', 'calls', 'errors', 'head']);

/** The cells of one row, in HEADS order. */
function cellsOf(r: FleetRow): string[] {
  return [
    r.host,
    String(r.pid),
    r.version,
    humanDuration(r.uptimeMs),
    String(r.instances),
    String(r.calls),
    String(r.errors),
    r.head === null ? '-' : String(r.head),
    r.available ? 'ok' : 'UNAVAILABLE',
    r.checkpointAgeMs === null ? 'none' : `${humanDuration(r.checkpointAgeMs)} ago`,
  ];
}

/** The fleet as a table, one host per row, columns as wide as their widest value (pure). */
export function renderFleet(rows: readonly FleetRow[]): string {
  const table = [[...HEADS], ...rows.map(cellsOf)];
  const widths = HEADS.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (RIGHT.has(HEADS[i]!) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${table.map(line).join('\n')}\n${rows.length} host${rows.length === 1 ? '' : 's'}\n`;
}

/** The hosts of `--expect` (comma-separated, repeatable), checked as names. */
export function expectedHosts(expect: FleetStatusOptions['expect']): string[] {
  if (expect === undefined) return [];
  const hosts = (typeof expect === 'string' ? [expect] : expect).flatMap((e) => e.split(',')).map((h) => h.trim()).filter((h) => h !== '');
  if (hosts.length === 0) throw new ValidationError('--expect', 'name at least one host (--expect node-1,node-2)');
  return [...new Set(hosts)];
}

/** What the command prints and its exit code, from the statuses that answered (pure). */
export function fleetReport(statuses: readonly HostStatus[], o: { readonly json?: boolean; readonly expected: readonly string[] }, now: number): { out: string; err: string; exitCode: number } {
  const missing = missingHosts(o.expected, statuses.map((s) => s.host));
  const out = o.json === true ? `${JSON.stringify({ hosts: statuses, missing }, null, 2)}\n` : renderFleet(statuses.map((s) => fleetRowOf(s, now)));
  const err = missing.length === 0 ? '' : `missing: ${missing.join(', ')} (expected, did not answer)\n`;
  return { out, err, exitCode: missing.length === 0 ? 0 : 1 };
}

/** `vfun fleet status` (and `vfun status --fleet`): connects, asks the fleet, prints, sets the exit code. */
export async function fleetStatusCommand(o: FleetStatusOptions): Promise<void> {
  const expected = expectedHosts(o.expect);
  const timeout = o.timeout ?? DEFAULT_FLEET_TIMEOUT_MS;
  // Loaded on demand: commands on a file journal never load the NATS client.
  const { connectUrl } = await import('../events/adapters/jetstream/connection.js');
  const { fleetStatus } = await import('../daemon/fleet-client.js');
  const { nc } = await connectUrl(o.fleet, { name: 'vfun-fleet-status', reconnect: false, timeoutMs: Math.max(timeout, 2000) });
  try {
    const answer = await fleetStatus(nc, timeout);
    const report = fleetReport(answer.statuses, { ...(o.json !== undefined && { json: o.json }), expected }, Date.now());
    process.stdout.write(report.out);
    for (const f of answer.failures) process.stderr.write(`host ${f.host} (instance ${f.id}) was discovered but its status did not come: ${f.error}\n`);
    if (report.err !== '') process.stderr.write(report.err);
    if (report.exitCode !== 0) process.exitCode = report.exitCode;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** `vfun fleet status`. (`vfun status --fleet` calls fleetStatusCommand.) */
export function registerFleetCommands(program: Command): void {
  const fleet = program.command('fleet').description('the vFunDs registered on a NATS (each host with a JetStream journal, or `vfun up --fleet`)');
  fleet
    .command('status')
    .description('one row per host that answers: pid, version, uptime, instances, calls, errors, journal head and state, last checkpoint')
    .requiredOption('--fleet <nats-url>', 'the NATS the vFunDs register on (credentials as in a journal URL: user@, passwordFile=, nkeySeed=)')
    .option('--json', "each host's full status as JSON")
    .option('--timeout <ms>', 'how long discovery and each host may take to answer', integerAtLeast(1), DEFAULT_FLEET_TIMEOUT_MS)
    .option('--expect <hosts>', 'hosts that must answer (comma-separated, repeatable): the missing ones are named and the exit code is 1', (v: string, prev: string[] = []) => [...prev, v])
    .action(fleetStatusCommand);
}
