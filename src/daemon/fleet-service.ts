/**
 * A running vFunD as an instance of the NATS service `vfun` (fleet.ts,
 * `@nats-io/services`): discoverable with `$SRV.PING|INFO|STATS.vfun`, with
 * its host, pid, root and version as metadata, and endpoints on subjects
 * of its own host: `status` (its HostStatus as JSON), `metrics` (a short
 * summary, fleet.ts `metricsOf`) and, when an admin secret is configured,
 * `admin` (the admin socket's signed requests: fleet-admin.ts).
 *
 * It runs on a connection it is given (the JetStream journal's, or one that
 * `vfun up --fleet <nats-url>` opened with the journal's credential
 * handling) and never closes it. A failure of the service (a subscription
 * the server's permissions refuse) is logged; vFunD carries on without it.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { Svcm, type Service, type ServiceMsg } from '@nats-io/services';
import { messageOf } from '../errors.js';
import { packageVersion } from '../util/version.js';
import { addAdminEndpoint, type FleetAdmin } from './fleet-admin.js';
import { FLEET_SERVICE, fleetGroup, metricsOf, type FleetMetadata } from './fleet.js';
import type { HostStatus } from './status.js';

export interface FleetServiceOptions {
  readonly connection: NatsConnection;
  readonly host: string;
  readonly root: string;
  readonly status: () => HostStatus;
  readonly log: (line: string) => void;
  /** vFunD's admin gate: the `admin` endpoint is added when its settings have a secret (fleet-admin.ts). */
  readonly admin?: FleetAdmin;
}

/** The registration of a vFunD in the fleet; `stop()` takes it off (idempotent). */
export interface FleetService {
  /** The instance id the services discovery gives it. */
  readonly id: string;
  stop(): Promise<void>;
}

/** Answers `msg` with `answer()` as JSON, or with a service error naming what failed. */
function answerJson(msg: ServiceMsg, answer: () => unknown): void {
  let body: string;
  try {
    body = JSON.stringify(answer());
  } catch (err) {
    msg.respondError(500, messageOf(err));
    return;
  }
  msg.respond(body);
}

/** Registers vFunD as an instance of the `vfun` service with its endpoints. */
export async function startFleetService(opts: FleetServiceOptions): Promise<FleetService> {
  const metadata: FleetMetadata = { host: opts.host, pid: String(process.pid), root: opts.root, version: packageVersion() };
  const svcm = new Svcm(opts.connection);
  const service: Service = await svcm.add({
    name: FLEET_SERVICE,
    version: packageVersion(),
    description: `vFunD of host ${opts.host}`,
    metadata: { ...metadata },
  });
  const group = service.addGroup(fleetGroup(opts.host));
  group.addEndpoint('status', { handler: (_err, msg) => answerJson(msg, opts.status), metadata: { answers: 'HostStatus (src/daemon/status.ts)' } });
  group.addEndpoint('metrics', { handler: (_err, msg) => answerJson(msg, () => metricsOf(opts.status())), metadata: { answers: 'FleetMetrics (src/daemon/fleet.ts)' } });
  const admin = opts.admin !== undefined && addAdminEndpoint(group, opts.admin, opts.log);
  let stopping = false;
  void service.stopped.then((err) => {
    if (err !== null && !stopping) opts.log(`fleet: the NATS service of host ${opts.host} stopped: ${messageOf(err)}; vFunD carries on, out of \`vfun fleet status\``);
  });
  const id = service.info().id;
  opts.log(`fleet: registered as NATS service ${FLEET_SERVICE} (instance ${id}), endpoints ${fleetGroup(opts.host)}.{status,metrics${admin ? ',admin' : ''}}${admin ? '' : ' (no admin endpoint: no admin secret)'}`);
  return {
    id,
    stop: async () => {
      if (stopping) return;
      stopping = true;
      if (!service.isStopped) await service.stop().catch(() => undefined);
    },
  };
}
