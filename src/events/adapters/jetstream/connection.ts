/**
 * A NATS connection opened from a `nats://` URL with the journal's own
 * parsing, credentials and connection options (options.ts, auth.ts), for the
 * users of NATS that are not the journal itself: the fleet service of a vFunD
 * whose journal is elsewhere, `vfun fleet status`, and `vfun audit --host`.
 * The URL's journal parameters (stream, host, …) are accepted and ignored by
 * those users; `passwordFile=` and `nkeySeed=` work as for the journal.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { connectError, credentialsOf } from './auth.js';
import { connectOptions, parseJetStreamUrl, resolveOptions, type ResolvedOptions } from './options.js';

/** An open connection and the resolved options of the URL it came from. */
export interface UrlConnection {
  readonly nc: NatsConnection;
  readonly options: ResolvedOptions;
}

/**
 * Connects to the servers of `url` with its credentials. `name`: the client
 * name the server shows; `reconnect: false` for a command that runs once
 * (it fails instead of waiting for a server that went away).
 */
export async function connectUrl(url: string, opts: { readonly name: string; readonly reconnect?: boolean; readonly timeoutMs?: number }): Promise<UrlConnection> {
  const options = resolveOptions({ ...parseJetStreamUrl(url), readOnly: true, ...(opts.timeoutMs !== undefined && { connectTimeoutMs: opts.timeoutMs }) });
  const credentials = await credentialsOf(options.auth);
  const base = connectOptions(options, credentials);
  try {
    const nc = await connect({ ...base, name: opts.name, ...(opts.reconnect === false && { reconnect: false, maxReconnectAttempts: 0 }) });
    return { nc, options };
  } catch (err) {
    throw connectError(options, err);
  }
}
