#!/usr/bin/env node
/**
 * Builds the prebuilt native addon the package ships, prebuilds/<platform>-<arch>/vfun_shm.napi.node,
 * for the machine running it (linux-x64 here). Run by `npm pack` / `npm publish` (the "prepack"
 * script). The addon uses N-API only (NAPI_VERSION in binding.gyp), so this one binary serves every
 * Node version the package supports; the install script then compiles nothing where it loads.
 *
 * It compiles in a scratch copy of the sources (binding.gyp, the folders of its sources and the
 * install script), never in this checkout's build/: tests and programs using build/Release keep
 * their addon while a package is made. The compile is the install script's (build-native.mjs):
 * node-gyp against local Node headers (npm's nodedir, or the running Node's own include/node), so
 * no header download is needed where the Node in use ships its headers. Fails (exit 1) when the
 * addon cannot be built or the result does not load with the sources' ABI version.
 *
 * Prints the path of the binary on stdout; node-gyp's output goes to stderr.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonLoads, builtAddonPath, gypSourceFiles, prebuiltAddonPath, sourceAbiVersion } from './native-addon.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function fail(msg) {
  process.stderr.write(`[prebuild] ${msg}\n`);
  process.exit(1);
}

if (process.platform !== 'linux') fail(`the addon is Linux-only: a package is made on Linux (this is ${process.platform})`);

const scratch = mkdtempSync(join(tmpdir(), 'vfun-prebuild-'));
try {
  cpSync(join(root, 'binding.gyp'), join(scratch, 'binding.gyp'));
  for (const dir of new Set(gypSourceFiles(root).map((f) => dirname(f)))) cpSync(join(root, dir), join(scratch, dir), { recursive: true });
  for (const f of ['build-native.mjs', 'native-addon.mjs']) cpSync(join(root, 'scripts', f), join(scratch, 'scripts', f));
  const env = { ...process.env, VIRTFUN_NATIVE_REQUIRED: '1', npm_config_build_from_source: 'true' };
  delete env.VIRTFUN_SKIP_NATIVE;
  delete env.VIRTFUN_SHM_ADDON;
  const r = spawnSync(process.execPath, [join(scratch, 'scripts', 'build-native.mjs')], { env, stdio: ['ignore', 2, 2] });
  if (r.status !== 0) fail(`building the addon failed (${r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`}); see the output above`);

  const built = builtAddonPath(scratch);
  const abi = sourceAbiVersion(root);
  const loads = addonLoads(built, abi);
  if (!loads.ok) fail(`the built addon does not load: ${loads.why}`);
  const dest = prebuiltAddonPath(root);
  mkdirSync(dirname(dest), { recursive: true });
  const partial = `${dest}.${process.pid}.partial`;
  cpSync(built, partial);
  renameSync(partial, dest);
  process.stderr.write(`[prebuild] ${dest} (N-API, ABI ${abi}) for ${process.platform}-${process.arch}\n`);
  process.stdout.write(`${dest}\n`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
