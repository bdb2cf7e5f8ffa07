/**
 * vFunD's admin socket, `<root>/admin/admin.sock`: one JSON line per request
 * and per answer, like a tenant's control channel (src/control/protocol.ts),
 * signed the same way (HMAC-SHA256 of the canonical JSON under the admin
 * secret, a nonce and a time) when an admin secret is configured.
 */
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { NONCE } from '../control/protocol.js';

export const ADMIN_PROTOCOL_VERSION = 1;
/** The socket's name in vFunD's admin directory. */
export const ADMIN_SOCKET = 'admin.sock';
/** Longest request line accepted, in bytes. */
export const MAX_ADMIN_LINE = 4096;

/** The admin socket of the vFunD of `root`. */
export function adminSocketPath(root: string): string {
  return join(resolve(root), 'admin', ADMIN_SOCKET);
}

/** What an operator may ask. */
export const ADMIN_OPS = ['status', 'evict', 'drain', 'undrain', 'tenant-disable', 'tenant-enable', 'reload'] as const;
export type AdminOp = (typeof ADMIN_OPS)[number];

const name = z.string().min(1).max(256);

export const adminRequestSchema = z
  .object({
    v: z.literal(ADMIN_PROTOCOL_VERSION),
    op: z.enum(ADMIN_OPS),
    /** `instance` for evict; `tenant` for tenant-disable/enable, and optionally drain/undrain. */
    args: z.object({ instance: name.optional(), tenant: name.optional() }).strict(),
    nonce: z.string().regex(NONCE, '16..64 lowercase hex digits'),
    ts: z.number().int().nonnegative(),
    /** HMAC-SHA256 under the admin secret; required when one is configured. */
    mac: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits (HMAC-SHA256)').optional(),
  })
  .strict();

export type AdminRequest = z.infer<typeof adminRequestSchema>;
export type AdminArgs = AdminRequest['args'];

/** Why the admin socket said no. */
export type AdminErrorCode =
  | 'refused' // the peer process is not root, vFunD's user or a member of the admin group
  | 'credential' // no signature, or one that does not match the admin secret
  | 'replayed' // a nonce already used, or a time outside the window
  | 'malformed' // not JSON, or not a request
  | 'unknown-instance' // no live instance by that id
  | 'unknown-tenant' // no tenant by that id in the configuration
  | 'unchanged' // nothing to do: already drained, disabled, enabled
  | 'config' // the configuration file is not valid: nothing changed
  | 'failed'; // vFunD could not carry it out (its journal, …)

/** One answer line; `nonce` echoes the request's when it had one. */
export type AdminResponse = ({ readonly ok: true; readonly op: AdminOp; readonly result: unknown } | { readonly ok: false; readonly code: AdminErrorCode; readonly detail: string }) & {
  readonly nonce?: string;
};
