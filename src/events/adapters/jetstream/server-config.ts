/**
 * A nats-server configuration for the JetStream journal with authentication
 * and per-user permissions (docs/jetstream.md, "Authentication and
 * permissions"). Pure: it returns text; `vfun nats-config` (src/cli) writes it
 * and the secrets, and the tests run nats-server with it.
 *
 * Three roles, one account (`VFUN`, JetStream enabled):
 *   vfund    `vfund-<host>`: publishes its own host's event and trace subjects and
 *            the JetStream API calls the journal needs (stream info, create when
 *            missing, message get, its reading consumers), never a stream update,
 *            delete, purge or message delete, nor an acknowledgement.
 *   auditor  reads: stream info and names, message get, consumers to read.
 *   admin    everything (creates and updates streams, acknowledges damage).
 * And the fleet's (fleetPermissionsOf): a vFunD serves the `vfun` NATS
 * service, an auditor asks it.
 */
import { DEFAULT_TRACE_STREAM, EVENT_SUBJECT_PREFIX, FLEET_SERVICE, FLEET_SUBJECT_PREFIX, TRACE_SUBJECT_PREFIX, defaultEventStream } from './subjects.js';

/** The stream of damage acknowledgements (damage.ts), shared by hosts. */
export const DEFAULT_ACK_STREAM = 'VFUN_ACK';
/** Acknowledgements of a host's damaged messages are published on `vfun.ack.<host>`. */
export const ACK_SUBJECT_PREFIX = 'vfun.ack';

/** How a user proves who it is: a password (in the config) or an nkey (only its public key is in the config). */
export type UserCredential = { readonly kind: 'password'; readonly password: string } | { readonly kind: 'nkey'; readonly publicKey: string };

export type NatsUser =
  | { readonly role: 'vfund'; readonly host: string; readonly stream?: string; readonly traceStream?: string; readonly credential: UserCredential }
  | { readonly role: 'auditor'; readonly name: string; readonly credential: UserCredential }
  | { readonly role: 'admin'; readonly name: string; readonly credential: UserCredential };

export interface NatsServerConfigSpec {
  readonly users: readonly NatsUser[];
  /** `listen: host:port` (omit to give `-a/-p` on the command line). */
  readonly listen?: string;
  /** `jetstream { store_dir }` (omit to give `-sd` on the command line; JetStream is enabled either way). */
  readonly storeDir?: string;
  readonly serverName?: string;
  /** Damage acknowledgements stream (default VFUN_ACK). */
  readonly ackStream?: string;
}

/** Publish and subscribe allow/deny lists of one user. */
export interface Permissions {
  readonly publish: { readonly allow: readonly string[]; readonly deny: readonly string[] };
  readonly subscribe: { readonly allow: readonly string[]; readonly deny: readonly string[] };
}

/** The stream-changing API calls no one but an admin may make. */
export const STREAM_CHANGES = ['$JS.API.STREAM.UPDATE.>', '$JS.API.STREAM.DELETE.>', '$JS.API.STREAM.PURGE.>', '$JS.API.STREAM.MSG.DELETE.>'] as const;

/** The user name of a host's vFunD: `vfund-<host>`. */
export function vfundUserName(host: string): string {
  return `vfund-${host}`;
}

/** Reading a stream through ephemeral pull consumers (the journal's reader). */
function readApi(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
    `$JS.API.CONSUMER.DELETE.${stream}.*`,
  ];
}

/** What a user may publish and subscribe to. Pure. */
export function permissionsOf(user: NatsUser, ackStream = DEFAULT_ACK_STREAM): Permissions {
  const inbox = { allow: ['_INBOX.>'], deny: [] };
  switch (user.role) {
    case 'vfund': {
      const stream = user.stream ?? defaultEventStream(user.host);
      const trace = user.traceStream ?? DEFAULT_TRACE_STREAM;
      return {
        publish: {
          allow: [
            `${EVENT_SUBJECT_PREFIX}.${user.host}.>`,
            `${TRACE_SUBJECT_PREFIX}.${user.host}.>`,
            '$JS.API.INFO',
            `$JS.API.STREAM.CREATE.${stream}`,
            `$JS.API.STREAM.CREATE.${trace}`,
            `$JS.API.STREAM.INFO.${trace}`,
            ...readApi(stream),
            ...readApi(ackStream),
          ],
          deny: [...STREAM_CHANGES, `${ACK_SUBJECT_PREFIX}.>`],
        },
        subscribe: inbox,
      };
    }
    case 'auditor':
      return {
        publish: {
          allow: ['$JS.API.INFO', '$JS.API.STREAM.NAMES', '$JS.API.STREAM.LIST', ...readApi('*')],
          deny: [...STREAM_CHANGES, '$JS.API.STREAM.CREATE.>', `${EVENT_SUBJECT_PREFIX}.>`, `${TRACE_SUBJECT_PREFIX}.>`, `${ACK_SUBJECT_PREFIX}.>`],
        },
        subscribe: inbox,
      };
    case 'admin':
      return { publish: { allow: ['>'], deny: [] }, subscribe: { allow: ['>'], deny: [] } };
  }
}

/** Every host's `admin` endpoint (src/daemon/fleet-admin.ts): only an admin user may publish there. */
export const FLEET_ADMIN_SUBJECTS = `${FLEET_SUBJECT_PREFIX}.*.admin`;

/**
 * What a user may do in the fleet (src/daemon/fleet.ts), besides the journal
 * (permissionsOf). Pure.
 *   vfund    serves the `vfun` service: subscribes to the services discovery
 *            (`$SRV.PING|INFO|STATS`, of any service, of `vfun`, of its instance)
 *            and its own host's endpoints `vfun.svc.<host>.>`; answers them
 *            (`allowResponses`: a reply to a request it received, nothing else).
 *            Publishing to any host's `admin` endpoint is denied.
 *   auditor  asks: publishes the discovery of `vfun` and every host's
 *            `status` and `metrics` (`vfun fleet status`); never `admin`.
 *   admin    may already do everything; the fleet's part of it, said
 *            explicitly: every host's `admin` endpoint (`vfun admin … --fleet`),
 *            the only subjects the other roles are denied here.
 */
export function fleetPermissionsOf(user: NatsUser): Permissions & { readonly allowResponses: boolean } {
  const none = { allow: [], deny: [] };
  const noAdmin = { allow: [], deny: [FLEET_ADMIN_SUBJECTS] };
  switch (user.role) {
    case 'vfund':
      return {
        publish: noAdmin,
        subscribe: { allow: ['$SRV.PING', '$SRV.INFO', '$SRV.STATS', `$SRV.*.${FLEET_SERVICE}`, `$SRV.*.${FLEET_SERVICE}.*`, `${FLEET_SUBJECT_PREFIX}.${user.host}.>`], deny: [] },
        allowResponses: true,
      };
    case 'auditor':
      return {
        publish: { allow: [`$SRV.*.${FLEET_SERVICE}`, `$SRV.*.${FLEET_SERVICE}.*`, `${FLEET_SUBJECT_PREFIX}.*.status`, `${FLEET_SUBJECT_PREFIX}.*.metrics`], deny: [FLEET_ADMIN_SUBJECTS] },
        subscribe: none,
        allowResponses: false,
      };
    case 'admin':
      return { publish: { allow: [FLEET_ADMIN_SUBJECTS], deny: [] }, subscribe: none, allowResponses: false };
  }
}

/** The name a user connects with (nkey users connect with their key; this is for comments and errors). */
export function userLabel(user: NatsUser): string {
  return user.role === 'vfund' ? vfundUserName(user.host) : user.name;
}

const q = (s: string): string => JSON.stringify(s);
const list = (xs: readonly string[]): string => `[${xs.map(q).join(', ')}]`;

/**
 * The nats-server configuration (2.9 syntax): JetStream enabled, one account
 * `VFUN` holding every user with its permissions, no anonymous access.
 * Passwords appear in it in clear: write it 0600 (nkey users: only public keys).
 */
export function natsServerConfig(spec: NatsServerConfigSpec): string {
  const ack = spec.ackStream ?? DEFAULT_ACK_STREAM;
  const lines: string[] = ['# VirtFun JetStream journal: generated by `vfun nats-config` (docs/jetstream.md)'];
  if (spec.serverName !== undefined) lines.push(`server_name: ${q(spec.serverName)}`);
  if (spec.listen !== undefined) lines.push(`listen: ${q(spec.listen)}`);
  lines.push(spec.storeDir !== undefined ? `jetstream { store_dir: ${q(spec.storeDir)} }` : 'jetstream: enabled');
  lines.push('accounts {', '  VFUN {', '    jetstream: enabled', '    users: [');
  for (const user of spec.users) {
    const p = permissionsOf(user, ack);
    const fleet = fleetPermissionsOf(user);
    const pub = [...p.publish.allow, ...fleet.publish.allow];
    const deny = [...p.publish.deny, ...fleet.publish.deny];
    const sub = [...p.subscribe.allow, ...fleet.subscribe.allow];
    const who = user.credential.kind === 'password' ? `user: ${q(userLabel(user))}, password: ${q(user.credential.password)}` : `nkey: ${q(user.credential.publicKey)}`;
    lines.push(
      `      # ${user.role} ${userLabel(user)}`,
      `      { ${who}, permissions: {`,
      `          publish: { allow: ${list(pub)}${deny.length > 0 ? `, deny: ${list(deny)}` : ''} }`,
      `          subscribe: { allow: ${list(sub)} }`,
      ...(fleet.allowResponses ? ['          allow_responses: true'] : []),
      '      } }',
    );
  }
  lines.push('    ]', '  }', '}', '');
  return lines.join('\n');
}
