/**
 * The journal's NATS credentials (docs/jetstream.md, "Authentication and
 * permissions"): a user and password (from the URL or a password file) or an
 * nkey seed file, turned into connection options; and the errors of a refused
 * connection, which name the user but never a password or a seed.
 */
import { readFile } from 'node:fs/promises';
import { AuthorizationError, nkeyAuthenticator, type NodeConnectionOptions } from '@nats-io/transport-node';
import { VirtFunError } from '../../../errors.js';
import type { AuthSpec, ResolvedOptions } from './options.js';
import { shownServer } from './options.js';
import { errorText } from './support.js';

/** The first line of a secret file, trimmed; the error names the file, never its content. */
async function secretLine(file: string, what: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new VirtFunError('CONFIG', `cannot read the ${what} file ${file}: ${(err as NodeJS.ErrnoException).code ?? errorText(err)}`, { cause: err });
  }
  const line = (text.split('\n')[0] ?? '').trim();
  if (line === '') throw new VirtFunError('CONFIG', `the ${what} file ${file} is empty`);
  return line;
}

/** Connection options for `auth` (files read now). */
export async function credentialsOf(auth: AuthSpec): Promise<Pick<NodeConnectionOptions, 'user' | 'pass' | 'authenticator'>> {
  switch (auth.kind) {
    case 'none':
      return {};
    case 'password':
      return { user: auth.user, pass: auth.pass };
    case 'passwordFile':
      return { user: auth.user, pass: await secretLine(auth.file, 'password') };
    case 'nkeySeedFile': {
      const seed = await secretLine(auth.file, 'nkey seed');
      if (!seed.startsWith('SU')) throw new VirtFunError('CONFIG', `the nkey seed file ${auth.file} does not hold a user seed (SU…)`);
      return { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) };
    }
  }
}

/** Who the journal authenticates as, for messages. */
export function whoOf(auth: AuthSpec): string {
  switch (auth.kind) {
    case 'none':
      return 'without credentials';
    case 'password':
    case 'passwordFile':
      return `as user ${auth.user}`;
    case 'nkeySeedFile':
      return `with the nkey seed in ${auth.file}`;
  }
}

/** The error for a failed connect: refused credentials are named as such. */
export function connectError(o: ResolvedOptions, err: unknown): VirtFunError {
  const where = o.servers.map(shownServer).join(',');
  const refused = err instanceof AuthorizationError || /authorization/i.test(errorText(err));
  const reason = refused ? `authentication refused (${whoOf(o.auth)})` : `${errorText(err)} (${whoOf(o.auth)})`;
  return new VirtFunError('CONFIG', `cannot reach JetStream at ${where}: ${reason}`, { cause: err });
}
