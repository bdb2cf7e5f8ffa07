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
 * - A package with a `minVersion` installed in an older version counts as missing. One with a
 *   `backportsSuite` (mesa-vulkan-drivers: bookworm-backports) comes from that suite on the
 *   Debian release it backports (read from /etc/os-release), whose own version is too old:
 *   this adds /etc/apt/sources.list.d/virtfun-<suite>.sources (deb822, deb.debian.org, signed by
 *   debian-archive-keyring) when it is not there and installs with `apt-get install -t <suite>`.
 *   Everything it does is said on stderr: the sources file, the packages and their versions.
 *   With nothing to do it says so in one line on stderr (system-packages-report.mjs): the packages
 *   and versions it found for --group and --check, a count for the pretest.
 *
 * Options: --check        install nothing, only say what is missing (exit 1 if anything is).
 *          --group <g>    only the packages of group g (`gpu`: `npm run setup:gpu`).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { presentLine } from './system-packages-report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const all = JSON.parse(readFileSync(join(here, 'system-packages.json'), 'utf8')).packages;
const checkOnly = process.argv.includes('--check');
const groupAt = process.argv.indexOf('--group');
const group = groupAt < 0 ? null : process.argv[groupAt + 1];
if (group !== null && !all.some((p) => p.group === group)) {
  console.error(`--group ${group ?? ''}: no such group (groups: ${[...new Set(all.map((p) => p.group).filter(Boolean))].join(', ')})`);
  process.exit(2);
}
const packages = group === null ? all : all.filter((p) => p.group === group);

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

/** The installed version of a Debian package, or null. */
function installedVersion(name) {
  try {
    const out = execFileSync('dpkg-query', ['-W', '-f=${Status}\t${Version}', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const [status, version] = out.split('\t');
    return status?.endsWith(' installed') && version ? version : null;
  } catch {
    return null;
  }
}

/** dpkg's order of versions: a >= b. */
function versionAtLeast(a, b) {
  try {
    execFileSync('dpkg', ['--compare-versions', a, 'ge', b], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The release this machine runs (VERSION_CODENAME of /etc/os-release), or null. */
function codename() {
  try {
    return /^VERSION_CODENAME=["']?([^"'\n]*)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] || null;
  } catch {
    return null;
  }
}

/** The suite `p` must come from on this machine (its backportsSuite on the release it backports), or null. */
function suiteOf(p) {
  const s = p.backportsSuite;
  return s && s.replace(/-backports$/, '') === codename() ? s : null;
}

const sourcesFile = (suite) => `/etc/apt/sources.list.d/virtfun-${suite}.sources`;
const sourcesText = (suite) =>
  `# Added by VirtFun's scripts/ensure-system-packages.mjs for ${packages.filter((p) => p.backportsSuite === suite).map((p) => p.package).join(', ')}\n` +
  `Types: deb\nURIs: http://deb.debian.org/debian\nSuites: ${suite}\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`;

/** Whether everything `p` provides is here (in a recent enough version). */
function present(p) {
  if (p.minVersion) {
    const v = installedVersion(p.package);
    if (v === null || !versionAtLeast(v, p.minVersion)) return false;
  }
  if (p.staticElf) return p.staticElf.some(isStaticElf);
  return (p.programs ?? []).every((prog) => which(prog) !== null) && (p.files ?? []).every(exists);
}

const missing = (from) => packages.filter((p) => p.from === from && !present(p));
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const aptInstall = (names) => `apt-get install --no-install-recommends ${names.join(' ')}`;
let failed = false;

// 1. What the project installs: from the default suite, or from a backports suite (see the header).
const describe = (p) => {
  const v = installedVersion(p.package);
  return `${p.package}${v === null ? '' : ` ${v}`}${p.minVersion ? ` (needs >= ${p.minVersion})` : ''}`;
};
let need = missing('pretest');
const neededAny = need.length > 0;
if (need.length > 0 && !checkOnly && isRoot && which('apt-get')) {
  const bySuite = need.reduce((m, p) => m.set(suiteOf(p), [...(m.get(suiteOf(p)) ?? []), p]), new Map());
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    for (const suite of bySuite.keys()) {
      if (suite === null || existsSync(sourcesFile(suite))) continue;
      writeFileSync(sourcesFile(suite), sourcesText(suite));
      console.error(`added ${sourcesFile(suite)} (deb822: http://deb.debian.org/debian ${suite} main, Signed-By /usr/share/keyrings/debian-archive-keyring.gpg)`);
    }
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    for (const [suite, ps] of bySuite) {
      const names = ps.map((p) => p.package);
      const target = suite === null ? [] : ['-t', suite];
      console.error(`${ps.map(describe).join(', ')}: missing, installing (apt-get install --no-install-recommends ${[...target, ...names].join(' ')})`);
      execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...target, ...names], { stdio: 'inherit', env });
      console.error(`installed: ${names.map((n) => `${n} ${installedVersion(n) ?? '(not installed)'}`).join(', ')}`);
    }
  } catch {
    // said below
  }
  need = missing('pretest');
}
if (need.length > 0) {
  failed = true;
  const why = need.map((p) => `  ${describe(p)}: ${p.why}`);
  const plain = need.filter((p) => suiteOf(p) === null).map((p) => p.package);
  const suites = [...new Set(need.map(suiteOf).filter((s) => s !== null))];
  const commands = [
    ...suites.flatMap((suite) => [
      `sudo tee ${sourcesFile(suite)} <<'EOF'\n${sourcesText(suite).trimEnd()}\nEOF`,
      'sudo apt-get update',
      `sudo apt-get install --no-install-recommends -t ${suite} ${need.filter((p) => suiteOf(p) === suite).map((p) => p.package).join(' ')}`,
    ]),
    ...(plain.length > 0 ? [`sudo ${aptInstall(plain)}`] : []),
  ];
  const what = group === null ? 'The integration and end-to-end tests need' : `Group ${group} needs`;
  console.error(`${what} ${need.map((p) => p.package).join(', ')}:\n${why.join('\n')}\nRun:\n\n    ${commands.join('\n    ')}\n`);
}

// 2. What the project expects to find (it installs none of these; not checked for a --group).
const absent = group === null ? [...missing('machine'), ...missing('debian')] : [];
if (absent.length > 0) {
  failed = true;
  const lines = absent.map((p) => `  ${p.package} (${p.from === 'machine' ? 'comes with the machine; node-gyp needs the C toolchain' : 'part of every Debian system'}): ${p.why}`);
  console.error(`Missing from this machine, and not installed by the project:\n${lines.join('\n')}\nRun:\n\n    sudo ${aptInstall(absent.map((p) => p.package))}\n`);
}

// 3. Nothing to do: say what was found.
if (!failed && !neededAny) {
  const checked = packages.filter((p) => p.from === 'pretest' || (group === null && (p.from === 'machine' || p.from === 'debian')));
  const found = checked.map((p) => ({ package: p.package, version: installedVersion(p.package), ...(p.minVersion && { minVersion: p.minVersion }) }));
  console.error(presentLine(found, { group, check: checkOnly }));
}

process.exit(failed ? 1 : 0);
