#!/usr/bin/env node
/**
 * Builds the native addon vfun_shm (native/vfun_shm.c, binding.gyp) with
 * node-gyp. Run by `npm install` (the "install" script) and by
 * `npm run build:native`.
 *
 * The addon is optional: it backs the cross-process (mmap + futex) data
 * plane. If it cannot be built this script prints a WARNING saying so and
 * exits 0, so `npm install` still succeeds and the in-process
 * SharedArrayBuffer backend keeps working. At run time src/native/shm.ts
 * reports the same thing when the mmap backend is asked for.
 *
 * Environment:
 *   VIRTFUN_SKIP_NATIVE=1      do not build (prints a note, exits 0)
 *   VIRTFUN_NATIVE_REQUIRED=1  exit 1 instead of 0 when the build fails (CI)
 *
 * node-gyp is looked up in this order:
 *   1. $npm_config_node_gyp (set by npm for lifecycle scripts: npm's bundled node-gyp)
 *   2. `node-gyp` on PATH (npm puts a shim for its bundled copy there)
 *   3. node-gyp installed in this package or next to npm (…/npm/node_modules/node-gyp)
 *   4. `npm exec --no -- node-gyp` (never downloads: --no refuses to install)
 * The first one that runs decides; a compile failure is not retried with
 * another copy.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const addonPath = join(root, 'build', 'Release', 'vfun_shm.node');
const required = process.env.VIRTFUN_NATIVE_REQUIRED === '1';

function log(msg) {
  process.stderr.write(`[vfun_shm] ${msg}\n`);
}

function warnAndExit(what, details = []) {
  const lines = [
    '',
    '==================================================================',
    'WARNING: the native addon vfun_shm (native/vfun_shm.c) was NOT built.',
    `  What failed: ${what}`,
    ...details.map((d) => `  ${d}`),
    '  Consequence: the cross-process shared-memory backend (mmap MAP_SHARED',
    '  + futex, client and service in two OS processes) is unavailable.',
    '  The in-process SharedArrayBuffer backend still works.',
    '  To retry after fixing the cause (a C compiler, make and python3 are',
    '  needed, plus the Node headers):',
    '      npm run build:native',
    '==================================================================',
    '',
  ];
  process.stderr.write(lines.join('\n'));
  process.exit(required ? 1 : 0);
}

if (process.env.VIRTFUN_SKIP_NATIVE === '1') {
  log('VIRTFUN_SKIP_NATIVE=1: not building the native addon; the cross-process mmap backend will be unavailable (the in-process SharedArrayBuffer backend still works).');
  process.exit(0);
}

if (process.platform !== 'linux') {
  log(`skipping the native addon on ${process.platform}: it needs Linux (mmap MAP_SHARED + futex). The cross-process mmap backend is unavailable; the in-process SharedArrayBuffer backend still works.`);
  process.exit(0);
}

if (!existsSync(join(root, 'binding.gyp')) || !existsSync(join(root, 'native', 'vfun_shm.c'))) {
  warnAndExit('binding.gyp or native/vfun_shm.c is missing from the package', [`Looked in ${root}`]);
}

/** Arguments for node-gyp: rebuild, plus --nodedir when npm did not give one and local headers exist. */
function gypArgs() {
  const args = ['rebuild'];
  if (!process.env.npm_config_nodedir) {
    // Distribution/tarball installs ship the headers next to the binary
    // (<prefix>/include/node); using them avoids a download.
    const prefix = resolve(dirname(process.execPath), '..');
    if (existsSync(join(prefix, 'include', 'node', 'node_api.h')) && existsSync(join(prefix, 'include', 'node', 'common.gypi'))) {
      args.push(`--nodedir=${prefix}`);
    }
  }
  return args;
}

/** Candidate ways to run node-gyp, in order; each is { label, cmd, args } or null. */
function candidates(args) {
  const list = [];
  const seen = new Set();
  const addScript = (label, script) => {
    if (!script || seen.has(script) || !existsSync(script)) return;
    seen.add(script);
    list.push({ label, cmd: process.execPath, args: [script, ...args] });
  };
  addScript('$npm_config_node_gyp', process.env.npm_config_node_gyp);
  list.push({ label: 'node-gyp on PATH', cmd: 'node-gyp', args, pathLookup: true });
  try {
    addScript('node-gyp from this package', createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not a dependency of this package
  }
  const npmCli = process.env.npm_execpath;
  if (npmCli) addScript("npm's bundled node-gyp", resolve(dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  for (const lib of ['lib/node_modules', 'node_modules']) {
    addScript("npm's bundled node-gyp", resolve(dirname(process.execPath), '..', lib, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  list.push({ label: 'npm exec --no -- node-gyp', cmd: 'npm', args: ['exec', '--no', '--', 'node-gyp', ...args], last: true });
  return list;
}

const args = gypArgs();
const tried = [];
let built = false;
let ran = false;
for (const c of candidates(args)) {
  log(`building with ${c.label}: ${c.cmd === process.execPath ? 'node' : c.cmd} ${c.args.join(' ')}`);
  const r = spawnSync(c.cmd, c.args, { cwd: root, stdio: 'inherit', env: process.env });
  if (r.error) {
    tried.push(`${c.label}: ${r.error.code === 'ENOENT' ? 'not found' : r.error.message}`);
    continue;
  }
  const status = r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`;
  if (r.status === 0) {
    built = true;
    break;
  }
  tried.push(`${c.label}: ${status}`);
  if (c.pathLookup && r.status === 127) continue; // shell shim whose target is missing
  ran = true;
  break;
}

if (!built) {
  warnAndExit(ran ? 'node-gyp rebuild failed (see the compiler/node-gyp output above)' : 'no usable node-gyp was found', [
    'Attempts:',
    ...tried.map((t) => `  - ${t}`),
  ]);
}

// A build that does not load is as good as none: check in a separate process.
const check = spawnSync(
  process.execPath,
  ['-e', `const a = require(${JSON.stringify(addonPath)}); if (typeof a.futexWait !== 'function' || a.abiVersion !== 2) process.exit(3);`],
  { encoding: 'utf8' },
);
if (check.status !== 0) {
  warnAndExit(`the built addon ${addonPath} does not load`, [
    ...(check.stderr || `exit status ${check.status}`).trim().split('\n').slice(0, 6),
  ]);
}

log(`built ${addonPath}: the cross-process mmap + futex backend is available`);
