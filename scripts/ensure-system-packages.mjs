#!/usr/bin/env node
/**
 * Before the tests that need system packages (`npm test`, `npm run test:int`, `npm run test:e2e`;
 * never `npm run test:unit`): every program the tests start must be on this machine.
 * scripts/system-packages.json is the one list of them.
 *
 * - Packages marked `pretest` (nats-server, qemu-system-x86, busybox-static) are installed with
 *   apt-get when missing and we can (root with apt-get); otherwise this stops with the one command
 *   to run.
 * - Packages marked `machine` (the C toolchain node-gyp needs at `npm install`) and `debian` (part
 *   of every Debian system) are never installed here: a missing one stops this with the command
 *   that installs it.
 * - `fetched` packages (the guest kernel) are downloaded by the tests that need them.
 *
 * Options: --check  install nothing, only say what is missing (exit 1 if anything is).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync, readSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const { packages } = JSON.parse(readFileSync(join(here, 'system-packages.json'), 'utf8'));
const checkOnly = process.argv.includes('--check');

/** The program's path: on PATH, or in the sbin/bin directories a non-root PATH may leave out. */
function which(program) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, program), constants.X_OK);
      return join(dir, program);
    } catch {
      // next
    }
  }
  return null;
}

function exists(path) {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** An ELF file without a PT_INTERP program header (statically linked). */
function isStaticElf(path) {
  let b;
  try {
    const fd = openSync(path, 'r');
    b = Buffer.alloc(4096);
    readSync(fd, b, 0, b.length, 0);
    closeSync(fd);
  } catch {
    return false;
  }
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) return false; // ELF64 little-endian
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (o + 4 > b.length) return false;
    if (b.readUInt32LE(o) === 3) return false; // PT_INTERP: dynamically linked
  }
  return true;
}

/** Whether everything `p` provides is here. */
function present(p) {
  if (p.staticElf) return p.staticElf.some(isStaticElf);
  return (p.programs ?? []).every((prog) => which(prog) !== null) && (p.files ?? []).every(exists);
}

const missing = (from) => packages.filter((p) => p.from === from && !present(p));
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const aptInstall = (names) => `apt-get install --no-install-recommends ${names.join(' ')}`;
let failed = false;

// 1. What the project installs.
let need = missing('pretest').map((p) => p.package);
if (need.length > 0 && !checkOnly && isRoot && which('apt-get')) {
  console.error(`${need.join(', ')} missing: installing from Debian packages (${aptInstall(need)})`);
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...need], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch {
    // said below
  }
  need = missing('pretest').map((p) => p.package);
}
if (need.length > 0) {
  failed = true;
  const why = packages.filter((p) => need.includes(p.package)).map((p) => `  ${p.package}: ${p.why}`);
  console.error(`The integration and end-to-end tests need ${need.join(', ')}:\n${why.join('\n')}\nRun:\n\n    sudo ${aptInstall(need)}\n`);
}

// 2. What the project expects to find (it installs none of these).
const absent = [...missing('machine'), ...missing('debian')];
if (absent.length > 0) {
  failed = true;
  const lines = absent.map((p) => `  ${p.package} (${p.from === 'machine' ? 'comes with the machine; node-gyp needs the C toolchain' : 'part of every Debian system'}): ${p.why}`);
  console.error(`Missing from this machine, and not installed by the project:\n${lines.join('\n')}\nRun:\n\n    sudo ${aptInstall(absent.map((p) => p.package))}\n`);
}

process.exit(failed ? 1 : 0);
