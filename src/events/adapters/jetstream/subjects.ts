/**
 * Subjects and stream names of the JetStream journal (docs/jetstream.md,
 * "Streams and subjects"): control events on `vfun.evt.<host>.<tenant>.<app>.<fn>`
 * in one stream per host (`VFUN_EVT_<host>`), trace batches on
 * `vfun.trace.<host>.<tenant>.<app>.<fn>` in a shared stream (`VFUN_TRACE`).
 */
import { hostname } from 'node:os';
import { NAME_MAX, NAME_PATTERN } from '../../../util/names.js';
import { nativeSha256Hex as sha256Hex } from '../native-hash.js';

export const EVENT_SUBJECT_PREFIX = 'vfun.evt';
export const TRACE_SUBJECT_PREFIX = 'vfun.trace';
export const DEFAULT_TRACE_STREAM = 'VFUN_TRACE';
/** The NATS service every vFunD of a fleet registers as (src/daemon/fleet.ts), and the prefix of its endpoints' subjects, `vfun.svc.<host>.<endpoint>`. */
export const FLEET_SERVICE = 'vfun';
export const FLEET_SUBJECT_PREFIX = 'vfun.svc';

/** What a stream name may be: letters, digits, '-', '_'. */
export const STREAM_NAME = /^[A-Za-z0-9_-]{1,200}$/;

/**
 * A subject token for a tenant/app/fn (or host) value: `_` for null (host-wide
 * events), the value itself when it is a valid name (util/names.ts: letters,
 * digits, '-', '_', starting with a letter or digit, at most 63 characters),
 * else `~` + 24 hex digits of the SHA-256 of its JSON (names refused by vFunD
 * are journaled too, and may hold anything). `~` never starts a valid name, so
 * the three forms cannot collide.
 */
export function subjectToken(value: string | null): string {
  if (value === null) return '_';
  if (value.length <= NAME_MAX && NAME_PATTERN.test(value)) return value;
  return '~' + sha256Hex(JSON.stringify(value)).slice(0, 24);
}

const tokenCache = new Map<string, string>();
function cachedToken(value: string | null): string {
  if (value === null) return '_';
  let t = tokenCache.get(value);
  if (t === undefined) {
    t = subjectToken(value);
    if (tokenCache.size > 10_000) tokenCache.clear();
    tokenCache.set(value, t);
  }
  return t;
}

/** `vfun.evt.<host>.<tenant>.<app>.<fn>` */
export function eventSubject(host: string, scope: { readonly tenant: string | null; readonly app: string | null; readonly fn: string | null }): string {
  return `${EVENT_SUBJECT_PREFIX}.${cachedToken(host)}.${cachedToken(scope.tenant)}.${cachedToken(scope.app)}.${cachedToken(scope.fn)}`;
}

/** `vfun.trace.<host>.<tenant>.<app>.<fn>` */
export function traceSubject(host: string, scope: { readonly tenant?: string | null; readonly app?: string | null; readonly fn?: string | null }): string {
  return `${TRACE_SUBJECT_PREFIX}.${cachedToken(host)}.${cachedToken(scope.tenant ?? null)}.${cachedToken(scope.app ?? null)}.${cachedToken(scope.fn ?? null)}`;
}

/** The default control-event stream of a host: `VFUN_EVT_<host>`. */
export function defaultEventStream(host: string): string {
  return `VFUN_EVT_${host}`;
}

/** The machine's short host name, made a valid name (the default `host`). */
export function defaultHost(): string {
  const short = (hostname().split('.')[0] ?? '').replace(/[^A-Za-z0-9_-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, NAME_MAX);
  return short === '' ? 'vfund' : short;
}
