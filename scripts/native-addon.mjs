/**
 * Where the native addon vfun_shm lives in the package and how to tell that a binary of it
 * loads, for the install script (build-native.mjs) and the prebuild step (prebuild.mjs). The
 * loader (src/native/shm.ts, shmAddonCandidates) tries the same two files: build/Release/ (a
 * build of one's own), then prebuilds/<platform>-<arch>/ (shipped in the package).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** The addon's name: binding.gyp's target_name. */
export const ADDON_NAME = 'vfun_shm';

/** The prebuilt binary for a platform and architecture, under the package root `root`. */
export function prebuiltAddonPath(root, platform = process.platform, arch = process.arch) {
  return join(root, 'prebuilds', `${platform}-${arch}`, `${ADDON_NAME}.napi.node`);
}

/** The build of one's own, where node-gyp puts it. */
export function builtAddonPath(root) {
  return join(root, 'build', 'Release', `${ADDON_NAME}.node`);
}

/** The source files binding.gyp lists (its "sources" array), relative to the package root. */
export function gypSourceFiles(root) {
  const m = /"sources"\s*:\s*\[([^\]]*)\]/.exec(readFileSync(join(root, 'binding.gyp'), 'utf8'));
  return m ? [...m[1].matchAll(/"([^"]+)"/g)].map((x) => x[1]) : [];
}

/**
 * The ABI version the sources define (`#define VFUN_SHM_ABI_VERSION <n>` in a .c or .h file of
 * the folders of the sources binding.gyp lists), which a binary must report as `abiVersion`;
 * null when none defines it.
 */
export function sourceAbiVersion(root) {
  const dirs = [...new Set(gypSourceFiles(root).map((f) => join(root, dirname(f))))];
  const files = dirs.flatMap((d) => (existsSync(d) ? readdirSync(d).filter((f) => /\.[ch]$/.test(f)).sort().map((f) => join(d, f)) : []));
  for (const file of files) {
    let text;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const m = /#define\s+VFUN_SHM_ABI_VERSION\s+(\d+)/.exec(text);
    if (m) return Number(m[1]);
  }
  return null;
}

/**
 * Whether the binary at `file` loads in a separate process (a crash there cannot take this one
 * down) with the expected functions and `abiVersion` `abi` (any, when null): { ok } or { ok:
 * false, why }.
 */
export function addonLoads(file, abi) {
  const check = `const a = require(${JSON.stringify(resolve(file))});
if (typeof a.futexWait !== 'function' || typeof a.open !== 'function') { console.error('it does not export the expected functions'); process.exit(3); }
if (${abi === null ? 'false' : `a.abiVersion !== ${abi}`}) { console.error('abiVersion ' + a.abiVersion + ', expected ${abi}'); process.exit(3); }`;
  const r = spawnSync(process.execPath, ['-e', check], { encoding: 'utf8' });
  if (r.status === 0) return { ok: true };
  const lines = (r.stderr || '').split('\n').map((l) => l.trim());
  const why = r.status === 3 ? lines.find((l) => l !== '') : lines.find((l) => /^\w*Error\b/.test(l));
  return { ok: false, why: why ?? (r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`) };
}
