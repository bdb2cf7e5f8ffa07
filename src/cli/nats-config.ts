/**
 * `vfun nats-config`: a nats-server configuration for the JetStream journal
 * with authentication and per-user permissions (server-config.ts), and each
 * user's secret in a file of its own (0600, in a 0700 directory; an existing
 * secret is kept, so running it again gives the same users). The config holds
 * passwords in clear (`--auth password`) or only public keys (`--auth nkey`).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nkeys } from '@nats-io/transport-node';
import { Option, type Command } from 'commander';
import { natsServerConfig, userLabel, type NatsUser, type UserCredential } from '../events/adapters/jetstream/server-config.js';
import { NAME_MAX, NAME_PATTERN } from '../util/names.js';
import { VirtFunError } from '../errors.js';

interface NatsConfigOptions {
  readonly host: string[];
  readonly auditor: string;
  readonly admin: string;
  readonly auth: 'password' | 'nkey';
  readonly secrets: string;
  readonly listen?: string;
  readonly storeDir?: string;
  readonly out?: string;
}

async function existing(file: string): Promise<string | null> {
  try {
    return (await readFile(file, 'utf8')).split('\n')[0]?.trim() || null;
  } catch {
    return null;
  }
}

/** The user's credential, from its secret file or new (then written 0600). */
async function credentialOf(dir: string, name: string, auth: 'password' | 'nkey'): Promise<UserCredential> {
  if (auth === 'password') {
    const file = join(dir, `${name}.password`);
    const password = (await existing(file)) ?? randomBytes(24).toString('base64url');
    await writeFile(file, `${password}\n`, { mode: 0o600 });
    return { kind: 'password', password };
  }
  const file = join(dir, `${name}.nk`);
  const seed = (await existing(file)) ?? new TextDecoder().decode(nkeys.createUser().getSeed());
  await writeFile(file, `${seed}\n`, { mode: 0o600 });
  return { kind: 'nkey', publicKey: nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey() };
}

/** Add `vfun nats-config` to the command line. */
export function registerNatsConfigCommand(program: Command): void {
  program
    .command('nats-config')
    .description('print a nats-server config for the JetStream journal: users vfund-<host> (own subjects, no stream changes), an auditor (read only), an admin')
    .requiredOption('--host <host...>', "vFunD hosts (each gets user vfund-<host>, allowed its own host's subjects and stream only)")
    .requiredOption('--secrets <dir>', 'directory for the users\' secrets (<user>.password or <user>.nk, 0600); existing ones are kept')
    .option('--auditor <name>', 'read-only user', 'auditor')
    .option('--admin <name>', 'user that may create and update streams and acknowledge damage', 'admin')
    .addOption(new Option('--auth <kind>', 'password (in the config, 0600) or nkey (only public keys in the config)').choices(['password', 'nkey']).default('password'))
    .option('--listen <host:port>', 'listen address written into the config')
    .option('--store-dir <dir>', 'JetStream store directory written into the config')
    .option('-o, --out <file>', 'write the config to this file (0600) instead of standard output')
    .action(async (o: NatsConfigOptions) => {
      for (const name of [...o.host, o.auditor, o.admin]) {
        if (name.length > NAME_MAX || !NAME_PATTERN.test(name)) throw new VirtFunError('CONFIG', `'${name}' is not a valid name (letters, digits, '-', '_')`);
      }
      await mkdir(o.secrets, { recursive: true, mode: 0o700 });
      await chmod(o.secrets, 0o700);
      const users: NatsUser[] = [];
      for (const host of o.host) users.push({ role: 'vfund', host, credential: await credentialOf(o.secrets, `vfund-${host}`, o.auth) });
      users.push({ role: 'auditor', name: o.auditor, credential: await credentialOf(o.secrets, o.auditor, o.auth) });
      users.push({ role: 'admin', name: o.admin, credential: await credentialOf(o.secrets, o.admin, o.auth) });
      const text = natsServerConfig({ users, ...(o.listen !== undefined && { listen: o.listen }), ...(o.storeDir !== undefined && { storeDir: o.storeDir }) });
      if (o.out !== undefined) {
        await writeFile(o.out, text, { mode: 0o600 });
        await chmod(o.out, 0o600);
        console.error(`wrote ${o.out} (0600) for ${users.map(userLabel).join(', ')}; secrets in ${o.secrets}`);
      } else {
        process.stdout.write(text);
      }
    });
}
