/**
 * The client of vFunD's admin socket: `vfun admin …` and `vfun status` ask
 * the vFunD of a root through it. Requests are signed with the admin secret
 * when one is given (as vFunD requires when it has one).
 */
import { randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';
import { resolve } from 'node:path';
import { AdminRefusedError, NoDaemonError, VirtFunError } from '../errors.js';
import { signBody } from '../control/protocol.js';
import type { HostStatus } from '../daemon/status.js';
import { readSecretFile } from './settings.js';
import { ADMIN_PROTOCOL_VERSION, adminSocketPath, type AdminArgs, type AdminOp, type AdminResponse } from './protocol.js';

export interface AdminRequestOptions {
  /** The admin secret (configured in vFunD's `admin` section); absent: from the file VFUN_ADMIN_SECRET_FILE names, else the request is not signed. */
  readonly secret?: string;
  /** How long to wait for the answer (default 60 s: a reload stops the services it releases). */
  readonly timeoutMs?: number;
}

/**
 * Ask the vFunD of `root` for `op`; resolves to its result. NoDaemonError (code ENOENT or
 * ECONNREFUSED) when no vFunD runs there; AdminRefusedError when it says no.
 */
export async function adminRequest(root: string, op: AdminOp, args: AdminArgs = {}, opts: AdminRequestOptions = {}): Promise<unknown> {
  const path = adminSocketPath(root);
  const secret = opts.secret ?? (await secretFromEnvironment());
  const unsigned = { v: ADMIN_PROTOCOL_VERSION, op, args, nonce: randomBytes(16).toString('hex'), ts: Date.now() };
  const request = secret === undefined ? unsigned : signBody(unsigned, secret);
  const answer = await new Promise<AdminResponse>((done, fail) => {
    const socket = createConnection(path);
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      fail(new VirtFunError('ADMIN', `vFunD did not answer ${op} within ${(opts.timeoutMs ?? 60_000) / 1000} s`));
    }, opts.timeoutMs ?? 60_000);
    const finish = (f: () => void): void => {
      clearTimeout(timer);
      socket.destroy();
      f();
    };
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify(request) + '\n'));
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
  if (!answer.ok) throw new AdminRefusedError(answer.code, answer.detail);
  return answer.result;
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
