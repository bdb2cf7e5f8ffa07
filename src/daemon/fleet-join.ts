/**
 * Whether and how a starting vFunD joins its fleet (fleet.ts): with a
 * JetStream journal it registers on the journal's own connection (same
 * servers, same credentials); with `fleet` (`vfun up --fleet <nats-url>`) on
 * a connection of its own to that URL, whatever its journal is (the URL wins
 * over the journal's connection). A file or memory journal without `fleet`
 * joins nothing. NATS is loaded only when it joins.
 *
 * Joining is not part of vFunD's duty: when it fails, that is logged and
 * vFunD serves without it.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Journal } from '../events/journal.js';
import { messageOf } from '../errors.js';
import type { FleetAdmin } from './fleet-admin.js';
import type { HostStatus } from './status.js';

export interface JoinFleetOptions {
  readonly journal: Journal;
  /** A NATS URL to register on instead of the journal's connection. */
  readonly fleet?: string;
  readonly host: string;
  readonly root: string;
  readonly status: () => HostStatus;
  readonly log: (line: string) => void;
  /** vFunD's admin gate, for the `admin` endpoint (fleet-admin.ts). */
  readonly admin?: FleetAdmin;
}

/** A vFunD in its fleet: `leave()` takes its service off and closes what joining opened. */
export interface FleetMembership {
  leave(): Promise<void>;
}

/** The journal's NATS connection, when it is a JetStream journal. */
function connectionOf(journal: Journal): NatsConnection | null {
  const c = (journal as { readonly connection?: unknown }).connection;
  return journal.url.startsWith('nats://') && typeof c === 'object' && c !== null ? (c as NatsConnection) : null;
}

/** Joins the fleet when there is one to join (see above); null otherwise or when joining failed (logged). */
export async function joinFleet(opts: JoinFleetOptions): Promise<FleetMembership | null> {
  const shared = opts.fleet === undefined ? connectionOf(opts.journal) : null;
  if (opts.fleet === undefined && shared === null) return null;
  let own: NatsConnection | null = null;
  try {
    if (shared === null) {
      const { connectUrl } = await import('../events/adapters/jetstream/connection.js');
      own = (await connectUrl(opts.fleet!, { name: `vfund-fleet-${opts.host}` })).nc;
    }
    const { startFleetService } = await import('./fleet-service.js');
    const service = await startFleetService({ connection: (shared ?? own)!, host: opts.host, root: opts.root, status: opts.status, log: opts.log, ...(opts.admin !== undefined && { admin: opts.admin }) });
    return {
      leave: async () => {
        await service.stop();
        await own?.drain().catch(() => undefined);
      },
    };
  } catch (err) {
    opts.log(`fleet: not registered as a NATS service (${messageOf(err)}); vFunD serves without it`);
    await own?.close().catch(() => undefined);
    return null;
  }
}
