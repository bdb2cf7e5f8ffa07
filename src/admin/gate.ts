/**
 * The checks every admin request passes, whatever carried it (the admin
 * socket, server.ts; the fleet's NATS `admin` endpoint,
 * src/daemon/fleet-admin.ts): its shape, its signature under the admin
 * secret, its time and nonce (one window for every transport: a request
 * seen on one is a replay on the other), then the handler with who asked.
 *
 * How a signature is required depends on the transport: the socket has
 * already checked its peer (SO_PEERCRED), so without an admin secret the
 * peer check alone authorises (`when-configured`); over NATS nothing but the
 * signature says who may ask (`always`: no secret, no action).
 */
import type { AdminIdentity } from '../events/catalogue.js';
import type { Clock } from '../events/envelope.js';
import { messageOf } from '../errors.js';
import { bodyMacMatches, DEFAULT_WINDOW_MS, NONCE, NonceWindow } from '../control/protocol.js';
import { adminRequestSchema, type AdminArgs, type AdminErrorCode, type AdminOp, type AdminRequest, type AdminResponse } from './protocol.js';
import type { AdminSettings } from './settings.js';

/** The answer to one authorised request, without its nonce. */
export type AdminOutcome = { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly code: AdminErrorCode; readonly detail: string };

/** Carries out an authorised request (src/daemon/steering.ts `Steering.handle`). */
export type AdminHandler = (op: AdminOp, args: AdminArgs, by: AdminIdentity) => Promise<AdminOutcome>;

/** When a request must be signed: only when an admin secret is configured (the socket), or always (NATS). */
export type SignaturePolicy = 'when-configured' | 'always';

export interface AdminGateOptions {
  /** The admin secret now (a reload may change it). */
  readonly settings: () => AdminSettings;
  readonly handler: AdminHandler;
  readonly clock: Clock;
  readonly windowMs?: number;
}

/** How one transport asks the gate: who asks (from the request that passed), and where refusals are said. */
export interface GateCall {
  readonly policy: SignaturePolicy;
  readonly identity: (request: AdminRequest) => AdminIdentity;
  readonly refused: (code: AdminErrorCode, detail: string) => void;
}

/** Why `req` is not signed as `policy` wants under `secret`, or null when it is (pure). */
export function signatureRefusal(req: AdminRequest, secret: string | null, policy: SignaturePolicy): string | null {
  if (secret === null) return policy === 'always' ? 'this vFunD has no admin secret: it takes no admin request over NATS' : null;
  if (req.mac === undefined) return 'the request is not signed, and this vFunD has an admin secret';
  return bodyMacMatches({ ...req, mac: req.mac }, secret) ? null : 'signature does not match the admin secret';
}

/** The admin requests' gate of one vFunD (one nonce window for all its transports). */
export class AdminGate {
  private readonly nonces: NonceWindow;
  constructor(private readonly opts: AdminGateOptions) {
    this.nonces = new NonceWindow(opts.windowMs ?? DEFAULT_WINDOW_MS);
  }

  /** The answer to one request line (the nonce echoed when the request had a well-formed one). */
  async answer(line: string, call: GateCall): Promise<AdminResponse> {
    const refuse = (code: AdminErrorCode, detail: string): AdminResponse => {
      call.refused(code, detail);
      return { ok: false, code, detail };
    };
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      return refuse('malformed', 'request is not valid JSON');
    }
    const n = (raw as { nonce?: unknown } | null)?.nonce;
    const nonce = typeof n === 'string' && NONCE.test(n) ? { nonce: n } : {};
    const parsed = adminRequestSchema.safeParse(raw);
    if (!parsed.success) return { ...refuse('malformed', parsed.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; ')), ...nonce };
    const req = parsed.data;
    const unsigned = signatureRefusal(req, this.opts.settings().secret, call.policy);
    if (unsigned !== null) return { ...refuse('credential', unsigned), ...nonce };
    const replayed = this.nonces.check(req.nonce, req.ts, this.opts.clock.now());
    if (replayed !== null) return { ...refuse('replayed', replayed), ...nonce };
    try {
      const out = await this.opts.handler(req.op, req.args, call.identity(req));
      return out.ok ? { ok: true, op: req.op, result: out.result, ...nonce } : { ...out, ...nonce };
    } catch (err) {
      return { ok: false, code: 'failed', detail: messageOf(err), ...nonce };
    }
  }
}
