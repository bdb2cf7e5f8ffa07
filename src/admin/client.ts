/**
 * The client of vFunD's admin requests: `vfun admin …` and `vfun status` ask
 * the vFunD of a root through its admin socket (`socketTransport`), or
 * `vfun admin … --fleet` a host's `admin` endpoint over NATS
 * (nats-transport.ts). Requests are signed with the admin secret when one is
 * given (as vFunD requires when it has one, and always over NATS).
 */
import { randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';
import { resolve } from 'node:path';
import { AdminRefusedError, NoDaemonError, VirtFunError } from '../errors.js';
import { signBody } from '../control/protocol.js';
import type { HostStatus } from '../daemon/status.js';
import { readSecretFile } from './settings.js';
import { ADMIN_PROTOCOL_VERSION, adminSocketPath, type AdminArgs, type AdminOp, type AdminRequest, type AdminResponse } from './protocol.js';

export interface AdminRequestOptions {
  /** The admin secret (configured in vFunD's `admin` section); absent: from the file VFUN_ADMIN_SECRET_FILE names, else the request is not signed. */
  readonly secret?: string;
  /** How long to wait for the answer (default 60 s: a reload stops the services it releases). */
  readonly timeoutMs?: number;
}

/**
 * How a request line reaches a vFunD and its answer line comes back: the admin socket of a root
 * (`socketTransport`), or a host's `admin` endpoint in the fleet (nats-transport.ts).
 */
export type AdminTransport = (line: string, op: AdminOp, timeoutMs: number) => Promise<AdminResponse>;

/** The request for `op`, with a fresh nonce and the time now, signed when there is a secret. */
export function adminRequestOf(op: AdminOp, args: AdminArgs, secret: string | undefined, now = Date.now()): AdminRequest {
  const unsigned = { v: ADMIN_PROTOCOL_VERSION, op, args, nonce: randomBytes(16).toString('hex'), ts: now } as const;
  return secret === undefined ? unsigned : signBody(unsigned, secret);
}

/**
 * Send `op` through `transport` (signed with the secret of `opts` or VFUN_ADMIN_SECRET_FILE's, when
 * there is one); resolves to its result, AdminRefusedError when vFunD says no.
 */
export async function askAdmin(transport: AdminTransport, op: AdminOp, args: AdminArgs = {}, opts: AdminRequestOptions = {}): Promise<unknown> {
  const secret = opts.secret ?? (await secretFromEnvironment());
  const answer = await transport(JSON.stringify(adminRequestOf(op, args, secret)), op, opts.timeoutMs ?? 60_000);
  if (!answer.ok) throw new AdminRefusedError(answer.code, answer.detail);
  return answer.result;
}

/** The admin socket of the vFunD of `root`: NoDaemonError (code ENOENT or ECONNREFUSED) when no vFunD runs there. */
export function socketTransport(root: string): AdminTransport {
  const path = adminSocketPath(root);
  return (line, op, timeoutMs) =>
    new Promise<AdminResponse>((done, fail) => {
      const socket = createConnection(path);
      let buffer = '';
      const timer = setTimeout(() => {
        socket.destroy();
        fail(new VirtFunError('ADMIN', `vFunD did not answer ${op} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const finish = (f: () => void): void => {
        clearTimeout(timer);
        socket.destroy();
        f();
      };
      socket.setEncoding('utf8');
      socket.on('connect', () => socket.write(line + '\n'));
      socket.on('data', (d: string) => {
        buffer += d;
        const nl = buffer.indexOf('\n');
        if (nl < 0) return;
        try {
          const parsed = JSON.parse(buffer.slice(0, nl)) as AdminResponse;
          finish(() => done(parsed));
        } catch {
          finish(() => fail(new VirtFunError('ADMIN', 'vFunD answered something that is not JSON')));
        }
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        const gone = err.code === 'ENOENT' || err.code === 'ECONNREFUSED';
        finish(() => fail(gone ? new NoDaemonError(err.code as 'ENOENT' | 'ECONNREFUSED', resolve(root), path) : err));
      });
      socket.on('end', () => finish(() => fail(new VirtFunError('ADMIN', `vFunD closed the admin connection without answering ${op}`))));
    });
}

/**
 * Ask the vFunD of `root` for `op` through its admin socket; resolves to its result. NoDaemonError
 * (code ENOENT or ECONNREFUSED) when no vFunD runs there; AdminRefusedError when it says no.
 */
export function adminRequest(root: string, op: AdminOp, args: AdminArgs = {}, opts: AdminRequestOptions = {}): Promise<unknown> {
  return askAdmin(socketTransport(root), op, args, opts);
}

/** The environment variable naming the admin secret's file (as `--secret-file` does). */
export const ADMIN_SECRET_FILE_ENV = 'VFUN_ADMIN_SECRET_FILE';

/** The admin secret from the file VFUN_ADMIN_SECRET_FILE names, when it is set. */
async function secretFromEnvironment(): Promise<string | undefined> {
  const file = process.env[ADMIN_SECRET_FILE_ENV];
  return file === undefined || file === '' ? undefined : readSecretFile(file, ADMIN_SECRET_FILE_ENV);
}

/** What the vFunD of `root` says about itself now (`vfun status`). */
export async function fetchStatus(root: string, opts: AdminRequestOptions = {}): Promise<HostStatus> {
  return (await adminRequest(root, 'status', {}, opts)) as HostStatus;
}
