/**
 * The zod schema of a control request (src/control/protocol.ts): what the control server
 * parses each request line with. Apart from the protocol's types and signing so that a guest,
 * which only writes requests, never loads zod.
 */
import { z } from 'zod';
import { NONCE, PROTOCOL_VERSION, type ControlRequest } from './protocol.js';

const common = {
  v: z.literal(PROTOCOL_VERSION),
  tenant: z.string().max(256),
  nonce: z.string().regex(NONCE, '16..64 lowercase hex digits'),
  ts: z.number().int().nonnegative(),
  mac: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits (HMAC-SHA256)'),
};

export const requestSchema = z.discriminatedUnion('op', [
  z.object({
    op: z.literal('negotiate'),
    ...common,
    app: z.string().max(256),
    fn: z.string().max(256),
    kind: z.enum(['hw', 'sw']),
    fallback: z.boolean().optional(),
  }),
  z.object({ op: z.literal('activate'), ...common, instance: z.string().max(256) }),
  z.object({ op: z.literal('release'), ...common, instance: z.string().max(256) }),
  /** The two sealed memfds of an active instance: the answer carries them (SCM_RIGHTS, docs/region-format.md §14). */
  z.object({ op: z.literal('region'), ...common, instance: z.string().max(256) }),
]);

/** True when A and B are the same type (each assignable to the other). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** The schema checks exactly the type ControlRequest declares: compiling fails when they drift apart. */
export type RequestSchemaMatchesType = Same<z.infer<typeof requestSchema>, ControlRequest> extends true ? true : never;
/** Compiles only while RequestSchemaMatchesType is true. */
export const REQUEST_SCHEMA_MATCHES: RequestSchemaMatchesType = true;
