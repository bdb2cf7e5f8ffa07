/**
 * Options of the JetStream journal: what `JetStreamJournal.open()` takes, the
 * same options from a `nats://` journal URL (parseJetStreamUrl), their
 * defaults and checks (resolveOptions), and the state the journal reports to
 * vFunD's policy.
 */
import type { NatsConnection, NodeConnectionOptions } from '@nats-io/transport-node';
import { ValidationError, VirtFunError } from '../../../errors.js';
import { NAME_MAX, NAME_PATTERN } from '../../../util/names.js';
import { DEFAULT_ACK_STREAM } from './server-config.js';
import { DEFAULT_TRACE_STREAM, STREAM_NAME, defaultEventStream, defaultHost } from './subjects.js';
import type { TraceSinkOptions } from './trace-sink.js';

export interface JetStreamJournalOptions {
  /** Server URLs (`nats://host:port` or `host:port`). Ignored when `connection` is given. Default nats://127.0.0.1:4222. */
  readonly servers?: string | readonly string[];
  /** Use this connection instead of opening one (close() then leaves it open). */
  readonly connection?: NatsConnection;
  /** This vFunD host: owner of the chain and a token of every subject. Must be a valid name. Default: the short host name. */
  readonly host?: string;
  /** Control-event stream (one per host). Default `VFUN_EVT_<host>`. */
  readonly stream?: string;
  /** Trace stream (shared by hosts). Default `VFUN_TRACE`. */
  readonly traceStream?: string;
  /** Stream of operators' acknowledgements of damaged messages (shared by hosts). Default `VFUN_ACK`. */
  readonly ackStream?: string;
  /** Replicas of both streams when this journal creates them (1, 3 or 5). Default 1. */
  readonly replicas?: number;
  /** Trace stream `max_age` when this journal creates it. Default 24 h. */
  readonly traceMaxAgeMs?: number;
  /** Local outbox file for events JetStream cannot take yet. Default: none (appends wait for JetStream). */
  readonly outbox?: string | null;
  /** Policy: refuse new work while JetStream is unreachable (see `available()`). Default true. */
  readonly failClosed?: boolean;
  /** How long to wait for a publish acknowledgement before treating JetStream as unreachable. Default 2000 ms. */
  readonly ackTimeoutMs?: number;
  /** First delay before re-trying JetStream after a failure (doubles up to 2 s). Default 100 ms. */
  readonly retryMs?: number;
  /** Most envelopes published and not yet acknowledged at once. Default 4096. */
  readonly maxInFlight?: number;
  /** Connect timeout when opening. Default 5000 ms. */
  readonly connectTimeoutMs?: number;
  /** Never create streams nor write: for audit and replay. */
  readonly readOnly?: boolean;
  /**
   * A writer refuses a stream whose last event was written by another host than
   * `host` (host-check.ts; a journal belongs to one host). `openJournal` turns it
   * on for writers. Default false.
   */
  readonly checkHost?: boolean;
  /** Options of `traces`. */
  readonly trace?: TraceSinkOptions;
  /** NATS user name (with `pass` or `passwordFile`; a URL's `user:pass@`). Never shown in errors with its password. */
  readonly user?: string;
  /** NATS password of `user`. Prefer `passwordFile`: a URL on a command line is visible to other local users. */
  readonly pass?: string;
  /** A file holding the password of `user` (its first line), e.g. written 0600 by `vfun nats-config`. */
  readonly passwordFile?: string;
  /** A file holding an nkey seed (`SU…`): authenticates with that key instead of a password. */
  readonly nkeySeedFile?: string;
}

/** What vFunD needs to know to apply its policy. */
export interface JetStreamJournalState {
  /** JetStream takes publishes: connected, nothing waiting in the outbox, no failure. */
  readonly reachable: boolean;
  /** New negotiations may be accepted: `reachable`, or `failClosed` is off (and no failure). */
  readonly available: boolean;
  readonly failClosed: boolean;
  /** Envelopes accepted and not yet acknowledged by JetStream. */
  readonly pending: number;
  /** Envelopes in the outbox file. */
  readonly outboxed: number;
  /** The sticky failure that fenced this journal (ConcurrencyError: another writer), or null. */
  readonly failure: Error | null;
  /** The last transport error seen while unreachable, for logs. */
  readonly lastError: string | null;
}

export type JetStreamJournalListener = (state: JetStreamJournalState) => void;

/** The options with their defaults, checked. */
export interface ResolvedOptions {
  readonly host: string;
  readonly stream: string;
  readonly traceStream: string;
  readonly ackStream: string;
  readonly replicas: number;
  readonly servers: readonly string[];
  readonly ackTimeoutMs: number;
  readonly readOnly: boolean;
  readonly failClosed: boolean;
  readonly retryMs: number;
  readonly maxInFlight: number;
  readonly connectTimeoutMs: number;
  readonly traceMaxAgeMs: number;
  /** The outbox file, or null (none given, or read-only). */
  readonly outbox: string | null;
  readonly trace: TraceSinkOptions;
  /** The journal's URL: its servers and `stream`, `traceStream`, `host` (never a password). */
  readonly url: string;
  /** How to authenticate, without the secrets of files (read when connecting). */
  readonly auth: AuthSpec;
}

/** How the journal authenticates to NATS. */
export type AuthSpec =
  | { readonly kind: 'none' }
  | { readonly kind: 'password'; readonly user: string; readonly pass: string }
  | { readonly kind: 'passwordFile'; readonly user: string; readonly file: string }
  | { readonly kind: 'nkeySeedFile'; readonly file: string };

/** The authentication the options ask for; ValidationError when they contradict each other. */
export function authSpecOf(options: JetStreamJournalOptions): AuthSpec {
  const { user, pass, passwordFile, nkeySeedFile } = options;
  if (nkeySeedFile !== undefined) {
    if (pass !== undefined || passwordFile !== undefined) throw new ValidationError('nkeySeedFile', 'cannot be combined with a password');
    return { kind: 'nkeySeedFile', file: nkeySeedFile };
  }
  if (pass !== undefined && passwordFile !== undefined) throw new ValidationError('passwordFile', 'cannot be combined with a password in the URL');
  if ((pass !== undefined || passwordFile !== undefined) && (user === undefined || user === '')) {
    throw new ValidationError('user', 'a password needs a user name (nats://<user>@host:port)');
  }
  if (user !== undefined && pass === undefined && passwordFile === undefined) {
    throw new ValidationError('pass', `user ${user} has no password (nats://${user}:<password>@… or ?passwordFile=<file>)`);
  }
  if (user !== undefined && pass !== undefined) return { kind: 'password', user, pass };
  if (user !== undefined && passwordFile !== undefined) return { kind: 'passwordFile', user, file: passwordFile };
  return { kind: 'none' };
}

/** A server as errors may show it: `host:port`, without `nats://` nor a user or password. */
export function shownServer(server: string): string {
  return server.replace(/^nats:\/\//, '').replace(/^[^@/]*@/, '');
}

/** Applies the defaults and checks names and replicas; throws ValidationError naming the option. */
export function resolveOptions(options: JetStreamJournalOptions): ResolvedOptions {
  const host = options.host ?? defaultHost();
  if (host.length > NAME_MAX || !NAME_PATTERN.test(host)) {
    throw new ValidationError('host', `'${host}' is not a valid name (letters, digits, '-', '_'; 1..${NAME_MAX} characters)`);
  }
  const stream = options.stream ?? defaultEventStream(host);
  const traceStream = options.traceStream ?? DEFAULT_TRACE_STREAM;
  const ackStream = options.ackStream ?? DEFAULT_ACK_STREAM;
  for (const [field, name] of [['stream', stream], ['traceStream', traceStream], ['ackStream', ackStream]] as const) {
    if (!STREAM_NAME.test(name)) throw new ValidationError(field, `'${name}' is not a valid stream name (letters, digits, '-', '_')`);
  }
  if (stream === traceStream) throw new ValidationError('traceStream', 'must differ from stream');
  const replicas = options.replicas ?? 1;
  if (![1, 2, 3, 4, 5].includes(replicas)) throw new ValidationError('replicas', `expected 1..5, got ${replicas}`);
  const servers = options.servers === undefined ? ['nats://127.0.0.1:4222'] : typeof options.servers === 'string' ? [options.servers] : [...options.servers];
  const readOnly = options.readOnly === true;
  const query = new URLSearchParams({ stream, traceStream, host });
  return {
    host,
    stream,
    traceStream,
    ackStream,
    replicas,
    servers,
    ackTimeoutMs: options.ackTimeoutMs ?? 2000,
    readOnly,
    failClosed: options.failClosed ?? true,
    retryMs: options.retryMs ?? 100,
    maxInFlight: options.maxInFlight ?? 4096,
    connectTimeoutMs: options.connectTimeoutMs ?? 5000,
    traceMaxAgeMs: options.traceMaxAgeMs ?? 24 * 3600_000,
    outbox: options.outbox === undefined || options.outbox === null || readOnly ? null : options.outbox,
    trace: options.trace ?? {},
    auth: authSpecOf(options),
    url: `nats://${servers.map(shownServer).join(',')}?${query.toString()}`,
  };
}

/**
 * How the journal connects when it opens its own connection: reconnecting
 * forever, every 250 ms; `credentials` are what `auth` names, read by the caller.
 */
export function connectOptions(o: ResolvedOptions, credentials: Pick<NodeConnectionOptions, 'user' | 'pass' | 'authenticator'> = {}): NodeConnectionOptions {
  return {
    ...credentials,
    servers: [...o.servers],
    name: `vfund-journal-${o.host}`,
    noAsyncTraces: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    timeout: o.connectTimeoutMs,
    pingInterval: 5000,
    maxPingOut: 3,
  };
}

/** Query parameters a `nats://` journal URL may carry, and the option each sets. */
const URL_PARAMS = ['stream', 'traceStream', 'ackStream', 'host', 'replicas', 'outbox', 'failClosed', 'ackTimeoutMs', 'passwordFile', 'nkeySeed'] as const;

/**
 * Splits `user[:password]@` off a URL authority (percent-decoded). The
 * password never appears in an error: `shown` is the authority as errors may print it.
 */
function splitUserInfo(authority: string, url: string): { user?: string; pass?: string; hosts: string; shown: string } {
  const at = authority.lastIndexOf('@');
  if (at === -1) return { hosts: authority, shown: url };
  const info = authority.slice(0, at);
  const hosts = authority.slice(at + 1);
  const colon = info.indexOf(':');
  const decode = (s: string, what: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new VirtFunError('JOURNAL_URL', `journal URL nats://${hosts}: the ${what} is not percent-encoded correctly`);
    }
  };
  const user = decode(colon === -1 ? info : info.slice(0, colon), 'user name');
  const shown = url.replace(authority, `${encodeURIComponent(user)}${colon === -1 ? '' : ':***'}@${hosts}`);
  if (user === '') throw new VirtFunError('JOURNAL_URL', `journal URL '${shown}' has an empty user name`);
  return colon === -1 ? { user, hosts, shown } : { user, pass: decode(info.slice(colon + 1), 'password'), hosts, shown };
}

/**
 * Parses `nats://[user[:password]@]host:port[,host:port…][?stream=…&traceStream=…&host=…&replicas=…&outbox=…&failClosed=…&ackTimeoutMs=…&passwordFile=…&nkeySeed=…]`
 * into journal options. Throws VirtFunError('JOURNAL_URL') naming what is
 * wrong; a password is never part of its message.
 */
export function parseJetStreamUrl(url: string): JetStreamJournalOptions & { servers: string[] } {
  if (!url.startsWith('nats://')) throw new VirtFunError('JOURNAL_URL', `journal URL '${url.replace(/\/\/[^@/?]*@/, '//***@')}' does not start with nats://`);
  const rest0 = url.slice('nats://'.length);
  const q0 = rest0.indexOf('?');
  const userInfo = splitUserInfo(q0 === -1 ? rest0 : rest0.slice(0, q0), url);
  url = userInfo.shown;
  const rest = userInfo.hosts + (q0 === -1 ? '' : rest0.slice(q0));
  const q = rest.indexOf('?');
  const authority = q === -1 ? rest : rest.slice(0, q);
  const servers = authority
    .replace(/\/+$/, '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (servers.length === 0) throw new VirtFunError('JOURNAL_URL', `journal URL '${url}' names no server`);
  for (const s of servers) {
    if (!/^[A-Za-z0-9.\-_[\]:]+$/.test(s)) throw new VirtFunError('JOURNAL_URL', `journal URL '${url}': '${s}' is not host:port`);
  }
  const params = new URLSearchParams(q === -1 ? '' : rest.slice(q + 1));
  const out: { -readonly [K in keyof JetStreamJournalOptions]: JetStreamJournalOptions[K] } = {};
  for (const [key, value] of params) {
    if (!(URL_PARAMS as readonly string[]).includes(key)) {
      throw new VirtFunError('JOURNAL_URL', `journal URL '${url}': unknown parameter '${key}' (known: ${URL_PARAMS.join(', ')})`);
    }
    const int = (): number => {
      const n = Number(value);
      if (!Number.isSafeInteger(n) || n < 1) throw new VirtFunError('JOURNAL_URL', `journal URL '${url}': ${key} must be a positive integer`);
      return n;
    };
    switch (key as (typeof URL_PARAMS)[number]) {
      case 'stream':
        out.stream = value;
        break;
      case 'traceStream':
        out.traceStream = value;
        break;
      case 'ackStream':
        out.ackStream = value;
        break;
      case 'host':
        out.host = value;
        break;
      case 'replicas':
        out.replicas = int();
        break;
      case 'outbox':
        out.outbox = value;
        break;
      case 'ackTimeoutMs':
        out.ackTimeoutMs = int();
        break;
      case 'passwordFile':
        out.passwordFile = value;
        break;
      case 'nkeySeed':
        out.nkeySeedFile = value;
        break;
      case 'failClosed':
        if (value !== 'true' && value !== 'false') throw new VirtFunError('JOURNAL_URL', `journal URL '${url}': failClosed must be true or false`);
        out.failClosed = value === 'true';
        break;
    }
  }
  if (userInfo.user !== undefined) out.user = userInfo.user;
  if (userInfo.pass !== undefined) out.pass = userInfo.pass;
  return { ...out, servers: servers.map((s) => `nats://${s}`) };
}
