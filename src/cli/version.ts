/**
 * `vfun --version`: the package's version, the Node.js running it, and
 * whether the native addon loaded (without it only the in-process backend
 * works, and vFunD cannot take a root: npm install builds it).
 */
import type { Command } from 'commander';
import { loadShm, shmUnavailableReason } from '../native/shm.js';
import { packageVersion } from '../util/version.js';

/** What `vfun --version` prints (pure): `vfun 0.1.0 (node v20.11.1; native addon loaded, ABI 4)`. */
export function versionLine(version: string, node: string, addon: { readonly abi: number } | { readonly missing: string }): string {
  const native = 'abi' in addon ? `native addon loaded, ABI ${addon.abi}` : `native addon NOT loaded: ${addon.missing}`;
  return `vfun ${version} (node ${node}; ${native})`;
}

/** Add `--version` (and `-V`) to the command. */
export function registerVersion(program: Command): void {
  const shm = (): { abi: number } | { missing: string } => {
    const s = loadShm();
    return s !== null ? { abi: s.abiVersion } : { missing: shmUnavailableReason() || 'unknown reason' };
  };
  program.option('-V, --version', 'the version of vfun, of Node.js, and whether the native addon loaded').on('option:version', () => {
    console.log(versionLine(packageVersion(), process.version, shm()));
    process.exit(0);
  });
}
