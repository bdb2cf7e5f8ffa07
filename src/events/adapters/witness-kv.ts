/**
 * A JetStream key-value witness (`--witness nats://host:port[,host:port…][?bucket=…]`):
 * every checkpoint is put under the key `<origin-safe>` (src/events/witness.ts) of a bucket
 * (default `vfun_checkpoints`, history 64), so the bucket keeps
 * the last 64 checkpoints of each host. Credentials, when the server needs
 * them, go in the URL: `nats://user:password@host:port`.
 */
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ValidationError } from '../../errors.js';
import { originSafe, type Witness } from '../witness.js';

/** The bucket a nats:// witness uses unless its URL says `?bucket=`. */
export const DEFAULT_WITNESS_BUCKET = 'vfun_checkpoints';
/** Checkpoints the bucket keeps per key. */
export const WITNESS_HISTORY = 64;

interface KvTarget {
  readonly servers: string[];
  readonly user?: string;
  readonly pass?: string;
  readonly bucket: string;
}

/** Parses a witness URL; ValidationError naming what is wrong. */
export function parseKvWitnessUrl(url: string): KvTarget {
  const m = /^nats:\/\/(?:([^:@/]+)(?::([^@/]*))?@)?([^?/]+)\/?(?:\?(.*))?$/.exec(url);
  if (m === null) throw new ValidationError('--witness', `'${url}' is not nats://[user:password@]host:port[,host:port…][?bucket=…]`);
  const [, user, pass, hosts, query] = m;
  const servers = hosts!.split(',').filter((s) => s !== '');
  const params = new URLSearchParams(query ?? '');
  for (const key of params.keys()) if (key !== 'bucket') throw new ValidationError('--witness', `'${url}': unknown parameter '${key}' (known: bucket)`);
  const bucket = params.get('bucket') ?? DEFAULT_WITNESS_BUCKET;
  if (!/^[A-Za-z0-9_-]+$/.test(bucket)) throw new ValidationError('--witness', `'${url}': bucket must be letters, digits, _ or -`);
  return {
    servers,
    bucket,
    ...(user !== undefined && { user: decodeURIComponent(user) }),
    ...(pass !== undefined && { pass: decodeURIComponent(pass) }),
  };
}

/** A witness in a JetStream key-value bucket. Connects at first use. */
export function kvWitness(url: string): Witness {
  const target = parseKvWitnessUrl(url);
  let nc: NatsConnection | null = null;
  let bucket: Promise<KV> | null = null;
  const shown = `nats://${target.servers.join(',')}?bucket=${target.bucket}`;
  const kv = (): Promise<KV> =>
    (bucket ??= (async () => {
      nc = await connect({
        servers: target.servers,
        name: 'vfun-witness',
        timeout: 5000,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        ...(target.user !== undefined && { user: target.user }),
        ...(target.pass !== undefined && { pass: target.pass }),
      });
      return new Kvm(nc).create(target.bucket, { history: WITNESS_HISTORY });
    })().catch((err: unknown) => {
      bucket = null; // try again next time
      throw err;
    }));
  return {
    url: shown,
    async put(origin, _size, note) {
      await (await kv()).put(originSafe(origin), note);
    },
    async notes() {
      const it = await (await kv()).history();
      const out: string[] = [];
      for await (const e of it) if (e.operation === 'PUT') out.push(e.string());
      return out;
    },
    async close() {
      const c = nc as NatsConnection | null;
      nc = null;
      bucket = null;
      if (c !== null) await c.close().catch(() => undefined);
    },
  };
}
