#!/usr/bin/env node
/**
 * Builds the native addon vfun_shm (the C sources in native/ that binding.gyp
 * lists) with node-gyp. Run by `npm install` (the "install" script), by
 * `npm rebuild virtfun` in a project that depends on the package, and by
 * `npm run build:native`.
 *
 * The package ships the addon prebuilt (prebuilds/<platform>-<arch>/, made by
 * scripts/prebuild.mjs at `npm pack`; it uses N-API only, so one binary
 * serves every Node version). When the prebuilt binary for this machine loads
 * and has the ABI the sources define, nothing is compiled: no compiler is
 * needed. `npm_config_build_from_source=true` (`npm rebuild virtfun
 * --build-from-source`) compiles anyway; src/native/shm.ts then prefers the
 * build of one's own (build/Release) to the prebuilt binary.
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
 *   npm_config_build_from_source=true  compile even where the prebuilt binary loads
 *   --from-source                      the same (what `npm run build:native` passes)
 *   VIRTFUN_NATIVE_CROSS=<arch>  a cross build (scripts/prebuild.mjs sets it with the compiler):
 *                              the result is not loaded here
 *
 * node-gyp is looked up in this order:
 *   1. $npm_config_node_gyp (set by npm for lifecycle scripts: npm's bundled node-gyp)
 *   2. `node-gyp` on PATH (npm puts a shim for its bundled copy there)
 *   3. node-gyp installed in this package or next to npm (…/npm/node_modules/node-gyp)
 *   4. `npm exec --no -- node-gyp` (never downloads: --no refuses to install)
 * The first one that runs decides; a compile failure is not retried with
 * another copy.
 *
 * Headers: npm's `nodedir` (npm_config_nodedir), unless it holds another major
 * version than the running Node and the running Node ships its own headers
 * (then those); else the running Node's own headers; else node-gyp's default
 * (a download). See nodeDir() below.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonLoads, gypSourceFiles, prebuiltAddonPath, sourceAbiVersion } from './native-addon.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const addonPath = join(root, 'build', 'Release', 'vfun_shm.node');
const required = process.env.VIRTFUN_NATIVE_REQUIRED === '1';

/** How to retry here: `npm rebuild virtfun` where the package is installed in a project, `npm run build:native` in its checkout. */
const rebuildCommand = /[\\/]node_modules[\\/]/.test(root) ? 'npm rebuild virtfun' : 'npm run build:native';

function log(msg) {
  process.stderr.write(`[vfun_shm] ${msg}\n`);
}

function warnAndExit(what, details = []) {
  const lines = [
    '',
    '==================================================================',
    'WARNING: the native addon vfun_shm (native/*.c) was NOT built.',
    `  What failed: ${what}`,
    ...details.map((d) => `  ${d}`),
    '  Consequence: the cross-process shared-memory backend (mmap MAP_SHARED',
    '  + futex, client and service in two OS processes) is unavailable.',
    '  The in-process SharedArrayBuffer backend still works.',
    '  To retry after fixing the cause (a C compiler, make and python3 are',
    '  needed, plus the Node headers):',
    `      ${rebuildCommand}`,
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

if (!existsSync(join(root, 'binding.gyp'))) {
  warnAndExit('binding.gyp is missing from the package', [`Looked in ${root}`]);
}
const sources = gypSourceFiles(root);
const missing = sources.filter((s) => !existsSync(join(root, s)));
if (sources.length === 0 || missing.length > 0) {
  warnAndExit(sources.length === 0 ? 'binding.gyp lists no sources' : `native sources are missing from the package: ${missing.join(', ')}`, [
    `Looked in ${root}`,
  ]);
}

// `npm run build:native` (a checkout: the developer changed the C sources) always compiles.
const fromSource = process.env.npm_config_build_from_source === 'true' || process.argv.includes('--from-source');
const prebuilt = prebuiltAddonPath(root);
if (!fromSource && existsSync(prebuilt)) {
  const abi = sourceAbiVersion(root);
  const loads = addonLoads(prebuilt, abi);
  if (loads.ok) {
    log(`using the prebuilt ${prebuilt} (N-API, ABI ${abi}): nothing to compile`);
    process.exit(0);
  }
  log(`the prebuilt ${prebuilt} does not load here (${loads.why}): compiling from the sources`);
}

/** The major version of the Node headers under `dir` (<dir>/include/node/node_version.h), or null. */
function headersMajor(dir) {
  try {
    const m = /#define\s+NODE_MAJOR_VERSION\s+(\d+)/.exec(readFileSync(join(dir, 'include', 'node', 'node_version.h'), 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Which Node headers to build against, as the directory for node-gyp's --nodedir (or null: let
 * node-gyp find or download them). npm's `nodedir` config (npm_config_nodedir) decides, unless it
 * holds the headers of another major version than the Node running this script (a user config
 * `nodedir=/usr` written for the system's Node, while another Node runs npm): then the running
 * Node's own headers (<prefix>/include/node, as distribution tarballs ship them) are used. The
 * result is passed as npm_config_nodedir too, because node-gyp lets that variable override its
 * --nodedir argument.
 */
function nodeDir() {
  const running = process.versions.node;
  const prefix = resolve(dirname(process.execPath), '..');
  const own = existsSync(join(prefix, 'include', 'node', 'node_api.h')) && existsSync(join(prefix, 'include', 'node', 'common.gypi'));
  const configured = process.env.npm_config_nodedir;
  if (configured) {
    const major = headersMajor(configured);
    if (major !== null && String(major) !== running.split('.')[0] && own) {
      log(`npm's nodedir=${configured} holds the headers of Node ${major}, but this is Node ${running}: building against ${prefix} instead`);
      return prefix;
    }
    log(`building for Node ${running} against the headers in ${configured} (npm's nodedir${major === null ? '' : `, Node ${major}`})`);
    return configured;
  }
  // Distribution/tarball installs ship the headers next to the binary; using them avoids a download.
  if (own) {
    log(`building for Node ${running} against its own headers in ${prefix}`);
    return prefix;
  }
  return null;
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

const dir = nodeDir();
const args = dir === null ? ['rebuild'] : ['rebuild', `--nodedir=${dir}`];
const gypEnv = dir === null ? process.env : { ...process.env, npm_config_nodedir: dir };
const tried = [];
let built = false;
let ran = false;
for (const c of candidates(args)) {
  log(`building with ${c.label}: ${c.cmd === process.execPath ? 'node' : c.cmd} ${c.args.join(' ')}`);
  const r = spawnSync(c.cmd, c.args, { cwd: root, stdio: 'inherit', env: gypEnv });
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

// A cross build (scripts/prebuild.mjs --arch, VIRTFUN_NATIVE_CROSS=<arch>) cannot load here: its caller checks it.
if (process.env.VIRTFUN_NATIVE_CROSS) {
  log(`built ${addonPath} for linux-${process.env.VIRTFUN_NATIVE_CROSS} (a cross build: not loaded here)`);
  process.exit(0);
}

// A build that does not load (or reports another ABI than the sources define) is as good as none: check in a separate process.
const check = addonLoads(addonPath, sourceAbiVersion(root));
if (!check.ok) warnAndExit(`the built addon ${addonPath} does not load`, check.why.trim().split('\n').slice(0, 6));

log(`built ${addonPath}: the cross-process mmap + futex backend is available`);
