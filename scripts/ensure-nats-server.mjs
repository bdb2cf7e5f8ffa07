#!/usr/bin/env node
// Before the tests: the JetStream tests need Debian's nats-server. Install it when missing and we
// can (root with apt-get); otherwise stop with the one command to run.
import { execFileSync, spawnSync } from 'node:child_process';

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
if (has('nats-server')) process.exit(0);
const root = typeof process.getuid === 'function' && process.getuid() === 0;
if (root && has('apt-get')) {
  console.error('nats-server is missing: installing it from Debian packages (apt-get install nats-server)');
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '-qq', 'nats-server'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    process.exit(0);
  } catch {
    // fall through to the message
  }
}
console.error('The JetStream tests need nats-server. Run:\n\n    sudo apt-get install nats-server\n');
process.exit(1);
