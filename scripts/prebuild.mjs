#!/usr/bin/env node
/**
 * Builds the prebuilt native addons the package ships, prebuilds/linux-<arch>/vfun_shm.napi.node,
 * for each `--arch <arch>` (default: this machine's): `npm pack` / `npm publish` (the "prepack"
 * script) builds linux-x64 and linux-arm64. The addon uses N-API only (NAPI_VERSION in binding.gyp), so this one binary serves every
 * Node version the package supports; the install script then compiles nothing where it loads.
 *
 * It compiles in a scratch copy of the sources (binding.gyp, the folders of its sources and the
 * install script), never in this checkout's build/: tests and programs using build/Release keep
 * their addon while a package is made. The compile is the install script's (build-native.mjs):
 * node-gyp against local Node headers (npm's nodedir, or the running Node's own include/node), so
 * no header download is needed where the Node in use ships its headers. Fails (exit 1) when the
 * addon cannot be built or the result does not load with the sources' ABI version.
 *
 * Another architecture than this machine's is cross-compiled with the GNU cross compiler of that
 * architecture (arm64 on x64: `aarch64-linux-gnu-gcc`, Debian's gcc-aarch64-linux-gnu with
 * libc6-dev-arm64-cross) through node-gyp's --arch; such a binary cannot load here, so the check
 * is that it is a shared object for that machine (ELF e_machine) and defines the addon's N-API
 * entry point. test/package/prebuilt-arm64.e2e.spec.ts loads it under qemu-user with an arm64 Node.
 *
 * Prints the path of each binary on stdout; node-gyp's output goes to stderr.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
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

/** Cross compilers (GNU triplets) by Node's architecture name, and their ELF e_machine. */
const CROSS = {
  x64: { triplet: 'x86_64-linux-gnu', machine: 0x3e },
  arm64: { triplet: 'aarch64-linux-gnu', machine: 0xb7 },
};

/** The architectures asked for with --arch (default: this machine's). */
function archsFromArgs(argv) {
  const archs = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--arch' && argv[i + 1] !== undefined) archs.push(argv[++i]);
    else fail(`unknown argument ${argv[i]} (usage: prebuild.mjs [--arch x64|arm64]...)`);
  }
  for (const a of archs) if (!(a in CROSS)) fail(`--arch ${a}: not one of ${Object.keys(CROSS).join(', ')}`);
  return archs.length > 0 ? [...new Set(archs)] : [process.arch];
}

/** Why `file` is not a shared object for ELF machine `machine` defining napi_register_module_v1, or null. */
function crossFault(file, machine) {
  const b = readFileSync(file);
  if (b.length < 20 || b.readUInt32BE(0) !== 0x7f454c46) return 'not an ELF file';
  if (b[4] !== 2 || b[5] !== 1) return 'not a 64-bit little-endian ELF file';
  if (b.readUInt16LE(16) !== 3) return 'not a shared object';
  if (b.readUInt16LE(18) !== machine) return `ELF machine 0x${b.readUInt16LE(18).toString(16)}, expected 0x${machine.toString(16)}`;
  if (!b.includes('napi_register_module_v1')) return 'it does not define napi_register_module_v1';
  return null;
}

/** Builds the addon for `arch` in a scratch copy and installs it under prebuilds/; its path. */
function prebuild(arch) {
  const cross = arch !== process.arch;
  const scratch = mkdtempSync(join(tmpdir(), 'vfun-prebuild-'));
  try {
    cpSync(join(root, 'binding.gyp'), join(scratch, 'binding.gyp'));
    for (const dir of new Set(gypSourceFiles(root).map((f) => dirname(f)))) cpSync(join(root, dir), join(scratch, dir), { recursive: true });
    for (const f of ['build-native.mjs', 'native-addon.mjs']) cpSync(join(root, 'scripts', f), join(scratch, 'scripts', f));
    const env = { ...process.env, VIRTFUN_NATIVE_REQUIRED: '1', npm_config_build_from_source: 'true' };
    delete env.VIRTFUN_SKIP_NATIVE;
    delete env.VIRTFUN_SHM_ADDON;
    delete env.VIRTFUN_NATIVE_CROSS;
    if (cross) {
      const cc = `${CROSS[arch].triplet}-gcc`;
      if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).status !== 0) {
        fail(`linux-${arch}: the cross compiler ${cc} is not installed (Debian: apt-get install gcc-${CROSS[arch].triplet} libc6-dev-${arch}-cross)`);
      }
      Object.assign(env, { CC: cc, LINK: cc, AR: `${CROSS[arch].triplet}-ar`, npm_config_arch: arch, VIRTFUN_NATIVE_CROSS: arch });
    }
    const r = spawnSync(process.execPath, [join(scratch, 'scripts', 'build-native.mjs')], { env, stdio: ['ignore', 2, 2] });
    if (r.status !== 0) fail(`linux-${arch}: building the addon failed (${r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`}); see the output above`);

    const built = builtAddonPath(scratch);
    const abi = sourceAbiVersion(root);
    if (cross) {
      const fault = crossFault(built, CROSS[arch].machine);
      if (fault !== null) fail(`linux-${arch}: the built addon is wrong: ${fault}`);
    } else {
      const loads = addonLoads(built, abi);
      if (!loads.ok) fail(`the built addon does not load: ${loads.why}`);
    }
    const dest = prebuiltAddonPath(root, 'linux', arch);
    mkdirSync(dirname(dest), { recursive: true });
    const partial = `${dest}.${process.pid}.partial`;
    cpSync(built, partial);
    renameSync(partial, dest);
    process.stderr.write(`[prebuild] ${dest} (N-API, ABI ${abi}) for linux-${arch}${cross ? ' (cross-compiled)' : ''}\n`);
    return dest;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

for (const arch of archsFromArgs(process.argv.slice(2))) process.stdout.write(`${prebuild(arch)}\n`);
