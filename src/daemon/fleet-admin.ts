/**
 * The fleet's `admin` endpoint of a vFunD, `vfun.svc.<host>.admin`
 * (docs/operator-guide.md, "A fleet of hosts"): the same signed requests as
 * the admin socket (src/admin/protocol.ts), through the same gate
 * (src/admin/gate.ts: shape, signature, time and nonce in the socket's
 * window) to the same handler (`Steering.handle`), answered with the same
 * response line.
 *
 * NATS has no SO_PEERCRED: nothing tells vFunD who published a request (its
 * headers are the sender's to write). So the endpoint exists only when an
 * admin secret is configured, every request must be signed with it (the
 * gate's `always` policy: a reload that removes the secret leaves the
 * endpoint refusing everything, `credential`), and the identity journaled is
 * `{ via: 'nats', subject, nonce }`: the subject it came on and the nonce the
 * signature covers. Who may publish there at all is the NATS server's
 * permissions' business (`fleetPermissionsOf`: only an admin user).
 */
import type { ServiceGroup, ServiceMsg } from '@nats-io/services';
import type { AdminGate } from '../admin/gate.js';
import { MAX_ADMIN_LINE, type AdminResponse } from '../admin/protocol.js';
import type { AdminSettings } from '../admin/settings.js';
import type { AdminIdentity } from '../events/catalogue.js';
import type { FleetEndpoint } from './fleet.js';

/** What the fleet's `admin` endpoint needs of vFunD's steering. */
export interface FleetAdmin {
  /** The gate of vFunD's admin requests (the admin socket's: one nonce window). */
  readonly gate: AdminGate;
  /** The admin settings now (their secret decides whether the endpoint is added). */
  readonly settings: () => AdminSettings;
}

/** The endpoint's name in a host's group. */
export const ADMIN_ENDPOINT: FleetEndpoint = 'admin';

/** The identity journaled for a request that came on `subject` with `nonce` (pure). */
export function natsIdentity(subject: string, nonce: string): AdminIdentity {
  return { via: 'nats', subject, nonce };
}

/** The answer to one message of the endpoint. */
export async function answerAdminMessage(msg: Pick<ServiceMsg, 'subject' | 'data' | 'string'>, admin: FleetAdmin, log: (line: string) => void): Promise<AdminResponse> {
  const refused = (code: string, detail: string): void => log(`fleet admin: refused a request on ${msg.subject}: ${code}: ${detail}`);
  if (msg.data.length > MAX_ADMIN_LINE) {
    const detail = `request longer than ${MAX_ADMIN_LINE} bytes`;
    refused('malformed', detail);
    return { ok: false, code: 'malformed', detail };
  }
  return admin.gate.answer(msg.string(), { policy: 'always', identity: (req) => natsIdentity(msg.subject, req.nonce), refused });
}

/**
 * Adds the `admin` endpoint to a host's group when an admin secret is configured; says whether it did.
 * Without one it is not added: a request to it gets no responder.
 */
export function addAdminEndpoint(group: ServiceGroup, admin: FleetAdmin, log: (line: string) => void): boolean {
  if (admin.settings().secret === null) return false;
  group.addEndpoint(ADMIN_ENDPOINT, {
    handler: (_err, msg) => {
      void answerAdminMessage(msg, admin, log).then(
        (r) => msg.respond(JSON.stringify(r)),
        () => undefined,
      );
    },
    metadata: { answers: 'AdminResponse (src/admin/protocol.ts); requests signed with the admin secret' },
  });
  return true;
}
