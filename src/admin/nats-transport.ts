/**
 * Admin requests over NATS (`vfun admin … --fleet <nats-url> --host <H>`):
 * the same signed request line as on the admin socket, sent to the host's
 * `admin` endpoint of the fleet, `vfun.svc.<H>.admin` (src/daemon/fleet-admin.ts),
 * whose reply is the same answer line. NATS is loaded only here.
 */
import { NoRespondersError, RequestError, type NatsConnection } from '@nats-io/transport-node';
import { NoAdminEndpointError, ValidationError, VirtFunError, messageOf } from '../errors.js';
import { NAME_MAX, NAME_PATTERN } from '../util/names.js';
import { fleetSubject } from '../daemon/fleet.js';
import { askAdmin, type AdminRequestOptions, type AdminTransport } from './client.js';
import type { AdminArgs, AdminOp, AdminResponse } from './protocol.js';

/** Is `err` nats.js's "no responders" (directly, or as the cause of a RequestError)? */
function noResponders(err: unknown): boolean {
  return err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders());
}

/** ValidationError unless `host` is one host's name. */
function checkHost(host: string): void {
  if (host.length > NAME_MAX || !NAME_PATTERN.test(host)) throw new ValidationError('--host', `'${host}' is not a host name (letters, digits, '_' and '-'; one host, no wildcard)`);
}

/**
 * The `admin` endpoint of `host` on `nc`: NoAdminEndpointError when nothing serves it. `host` must be
 * one host's name (ValidationError otherwise): a wildcard would reach every host matching it.
 */
export function natsTransport(nc: NatsConnection, host: string): AdminTransport {
  checkHost(host);
  const subject = fleetSubject(host, 'admin');
  return async (line, op, timeoutMs) => {
    let reply;
    try {
      reply = await nc.request(subject, line, { timeout: timeoutMs });
    } catch (err) {
      if (noResponders(err)) throw new NoAdminEndpointError(host, subject);
      throw new VirtFunError('ADMIN', `${op} on ${subject}: ${messageOf(err)}`, { cause: err });
    }
    try {
      return reply.json<AdminResponse>();
    } catch {
      throw new VirtFunError('ADMIN', `${subject} answered something that is not JSON`);
    }
  };
}

/** Ask the vFunD of `host` in the fleet on `url` (a NATS URL as for the journal) for `op`, then disconnect. */
export async function fleetAdminRequest(url: string, host: string, op: AdminOp, args: AdminArgs = {}, opts: AdminRequestOptions = {}): Promise<unknown> {
  checkHost(host);
  const { connectUrl } = await import('../events/adapters/jetstream/connection.js');
  const { nc } = await connectUrl(url, { name: 'vfun-admin', reconnect: false });
  try {
    return await askAdmin(natsTransport(nc, host), op, args, opts);
  } finally {
    await nc.close().catch(() => undefined);
  }
}
