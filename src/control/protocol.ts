/**
 * The control channel: our stand-in for the paper's hypercall. A guest asks
 * vFunD to negotiate, activate and release through one Unix socket per
 * tenant, placed inside that tenant's own tree, so the channel itself says
 * who is calling. Each request is one JSON line, signed with HMAC-SHA256
 * under the tenant's secret (the secret never travels), and carries a nonce
 * and a time so a replayed request is refused. Answers are one JSON line each.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalJson } from '../events/canonical.js';
import type { ComputationStats, Kind, NackReason } from '../domain/types.js';

/** Version of the control protocol every request carries (`v`); a request of another version is refused. */
export const PROTOCOL_VERSION = 1;
/** Longest request line accepted, in bytes. */
export const MAX_LINE = 16 * 1024;
/** A request's time must be within this many ms of the server's clock. */
export const DEFAULT_WINDOW_MS = 30_000;

/** A request nonce: 16..64 lowercase hex digits. */
export const NONCE = /^[0-9a-f]{16,64}$/;

interface RequestCommon {
  v: typeof PROTOCOL_VERSION;
  tenant: string;
  nonce: string;
  ts: number;
  mac: string;
}

/**
 * A signed request line, as vFunD accepts it (the zod schema that checks one is
 * `requestSchema`, src/control/request-schema.ts: only the server loads zod, so a guest
 * importing `virtfun` does not).
 */
export type ControlRequest =
  | (RequestCommon & { op: 'negotiate'; app: string; fn: string; kind: 'hw' | 'sw'; fallback?: boolean | undefined })
  | (RequestCommon & { op: 'activate'; instance: string })
  | (RequestCommon & { op: 'release'; instance: string })
  | (RequestCommon & { op: 'region'; instance: string });

/** Where an instance's areas are in its VM's window (docs/region-format.md §13). */
export interface WindowPlacement {
  readonly slot: number;
  readonly dataoutOffset: number;
  readonly datainOffset: number;
}
export type UnsignedRequest = ControlRequest extends infer R ? (R extends ControlRequest ? Omit<R, 'mac'> : never) : never;

/** One answer line. Every answer also carries `nonce`: the request's, when it had a well-formed one. */
export type ControlResponse = (
  | { readonly ok: true; readonly op: 'negotiate'; readonly instance: string; readonly kind: Kind }
  | {
      readonly ok: true;
      readonly op: 'activate';
      readonly instance: string;
      readonly capacity: number;
      /**
       * Sealed memory (a guest process on the host: ask for its descriptors
       * with op `region`), or a slot of the tenant's ivshmem window (a guest
       * in a VM). Never a host path.
       */
      readonly region: { readonly memfd: true } | { readonly window: WindowPlacement };
    }
  /** Sent with the instance's two descriptors, dataout then datain, as SCM_RIGHTS on its first byte. */
  | { readonly ok: true; readonly op: 'region'; readonly instance: string; readonly capacity: number }
  | { readonly ok: true; readonly op: 'release'; readonly stats: ComputationStats }
  | { readonly ok: false; readonly reason: NackReason; readonly detail: string }
) & { readonly nonce?: string };

/**
 * `text` with every absolute host path replaced by `<host path>`: what a
 * tenant is told never shows the host's layout. A path is a `/` that starts a
 * token (after a space, a quote, a parenthesis, `=` or `:`) followed by path
 * characters; `sha256/hw` or `1/2` are not paths.
 */
export function redactHostPaths(text: string): string {
  return text.replace(/(^|[\s'"`(=:,\[])\/[^\s'"`),\]]*/g, '$1<host path>');
}

/** HMAC-SHA256 (hex) of the canonical JSON of everything but `mac`, keyed by the tenant's secret. */
export function macOf(request: UnsignedRequest | ControlRequest, secret: string): string {
  return macOfBody(request, secret);
}

/** `request` with its `mac`: HMAC-SHA256 under the tenant's `secret` of the request's canonical JSON. */
export function sign(request: UnsignedRequest, secret: string): ControlRequest {
  return signBody(request, secret) as ControlRequest;
}

export function macMatches(request: ControlRequest, secret: string): boolean {
  return bodyMacMatches(request, secret);
}

/** HMAC-SHA256 (hex) of the canonical JSON of any request (every field but `mac`): tenants' and the admin socket's requests alike. */
export function macOfBody(request: object, secret: string): string {
  const { mac: _ignored, ...body } = request as { mac?: unknown };
  return createHmac('sha256', secret).update(canonicalJson(body)).digest('hex');
}

/** `request` with its `mac`. */
export function signBody<T extends object>(request: T, secret: string): T & { readonly mac: string } {
  return { ...request, mac: macOfBody(request, secret) };
}

/** Does the request's `mac` match (constant time)? */
export function bodyMacMatches(request: { readonly mac: string }, secret: string): boolean {
  const want = Buffer.from(macOfBody(request, secret), 'hex');
  const got = Buffer.from(request.mac, 'hex');
  return want.length === got.length && timingSafeEqual(want, got);
}

/**
 * The replay guard of a signed channel: a request's time must be within the
 * window of the server's clock, and its nonce unused within twice the window
 * (when it would be refused for its time anyway). Remembers nonces only that long.
 */
export class NonceWindow {
  private readonly seen = new Map<string, number>(); // nonce -> expiry (ms)
  constructor(readonly windowMs: number = DEFAULT_WINDOW_MS) {}

  /** Why the request is refused as a replay (and nothing is remembered), or null (and its nonce is now used). */
  check(nonce: string, ts: number, now: number): string | null {
    const windowMs = this.windowMs;
    if (Math.abs(now - ts) > windowMs) {
      return `request time is ${Math.round((now - ts) / 1000)} s from vFunD's clock, outside ±${windowMs / 1000} s`;
    }
    for (const [n, exp] of this.seen) if (exp < now) this.seen.delete(n);
    if (this.seen.has(nonce)) return `nonce ${nonce} already used within the last ${(2 * windowMs) / 1000} s`;
    this.seen.set(nonce, ts + 2 * windowMs);
    return null;
  }
}
