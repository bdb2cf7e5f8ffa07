/**
 * Asking a fleet (fleet.ts) how it is: every instance of the NATS service
 * `vfun` that answers the services discovery (`$SRV.INFO.vfun`) within the
 * timeout is asked for its `status` endpoint; a host that answers neither in
 * time is not in the answer (it is gone, or unreachable: the same thing to
 * an operator looking at the fleet).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { Svcm, type ServiceInfo } from '@nats-io/services';
import { messageOf } from '../errors.js';
import { FLEET_SERVICE } from './fleet.js';
import type { HostStatus } from './status.js';

/** An instance that was discovered but whose status could not be had. */
export interface FleetFailure {
  readonly host: string;
  readonly id: string;
  readonly error: string;
}

export interface FleetAnswer {
  /** The status of every host that answered, by host name then pid. */
  readonly statuses: readonly HostStatus[];
  /** Instances discovered whose `status` did not answer in time or answered an error. */
  readonly failures: readonly FleetFailure[];
}

/** The instances of the `vfun` service that answer discovery within `timeoutMs`. */
export async function discoverInstances(nc: NatsConnection, timeoutMs: number): Promise<ServiceInfo[]> {
  const client = new Svcm(nc).client({ strategy: 'timer', maxWait: timeoutMs });
  const out: ServiceInfo[] = [];
  for await (const info of await client.info(FLEET_SERVICE)) out.push(info);
  return out;
}

/** Every host of the fleet on `nc`: discovery, then each instance's `status`, each within `timeoutMs`. */
export async function fleetStatus(nc: NatsConnection, timeoutMs: number): Promise<FleetAnswer> {
  const instances = await discoverInstances(nc, timeoutMs);
  const statuses: HostStatus[] = [];
  const failures: FleetFailure[] = [];
  await Promise.all(
    instances.map(async (info) => {
      const host = info.metadata?.['host'] ?? '?';
      const subject = info.endpoints.find((e) => e.name === 'status')?.subject;
      if (subject === undefined) {
        failures.push({ host, id: info.id, error: 'no status endpoint' });
        return;
      }
      try {
        const reply = await nc.request(subject, '', { timeout: timeoutMs });
        const error = reply.headers?.get('Nats-Service-Error');
        if (error !== undefined && error !== '') throw new Error(error);
        statuses.push(reply.json<HostStatus>());
      } catch (err) {
        failures.push({ host, id: info.id, error: messageOf(err) });
      }
    }),
  );
  statuses.sort((a, b) => a.host.localeCompare(b.host) || a.pid - b.pid);
  failures.sort((a, b) => a.host.localeCompare(b.host));
  return { statuses, failures };
}
