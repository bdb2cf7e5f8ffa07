/**
 * The C guest client (clients/c) built as one static binary for the
 * initramfs: a guest kernel with busybox and nothing else has no libc to
 * link against. Built with the host's cc, cached by a hash of its sources.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { VirtFunError } from '../errors.js';
import { packageRoot } from '../native/shm.js';

const exec = promisify(execFile);

/** Sources of `vfun-guest`, in clients/c. */
export const GUEST_SOURCES = [
  'vfun_guest.c',
  'vfun_guest_args.c',
  'vfun_guest_config.c',
  'vfun_guest_out.c',
  'vfun_guest_ref.c',
  'vfun_guest_phases.c',
  'vfun_guest_check.c',
  'vfun_guest_bench.c',
  'vfun_guest_paper.c',
  'vfun_guest_call.c',
  'vfun_guest_fds.c',
  'vfun_guest_selftest.c',
  'vfun.c',
  'vfun_ctl.c',
  'vfun_chan.c',
  'vfun_json.c',
  'vfun_sha256.c',
  'vfun_window.c',
  'vfun_handover.c',
] as const;
/** Headers of `vfun-guest`, in clients/c (part of the build's cache key). */
export const GUEST_HEADERS = [
  'vfun_guest.h',
  'vfun_guest_args.h',
  'vfun_guest_config.h',
  'vfun_guest_out.h',
  'vfun_guest_ref.h',
  'vfun_guest_phases.h',
  'vfun_guest_check.h',
  'vfun_guest_bench.h',
  'vfun_guest_paper.h',
  'vfun_guest_call.h',
  'vfun_guest_fds.h',
  'vfun_guest_selftest.h',
  'vfun.h',
  'vfun_ctl.h',
  'vfun_chan.h',
  'vfun_json.h',
  'vfun_sha256.h',
  'vfun_window.h',
  'vfun_handover.h',
  'vfun_err.h',
] as const;
const FLAGS = ['-std=c11', '-O2', '-Wall', '-Wextra', '-static'];

/** clients/c of this package. */
export function clientSourceDir(): string {
  const root = packageRoot();
  if (root === null) throw new VirtFunError('VM', 'cannot find the virtfun package root (for clients/c)');
  return join(root, 'clients', 'c');
}

/** Build (or reuse) the static guest binary in `cacheDir`; returns its path. */
export async function buildGuestBinary(opts: { cacheDir: string; cc?: string; log?: (line: string) => void }): Promise<string> {
  const dir = clientSourceDir();
  const hash = createHash('sha256').update(FLAGS.join(' '));
  for (const f of [...GUEST_SOURCES, ...GUEST_HEADERS]) {
    const p = join(dir, f);
    if (!existsSync(p)) throw new VirtFunError('VM', `guest client source ${p} is missing`);
    hash.update(f).update(await readFile(p));
  }
  const out = join(opts.cacheDir, `vfun-guest-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(out)) return out;
  await mkdir(opts.cacheDir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const cc = opts.cc ?? process.env.CC ?? 'cc';
  opts.log?.(`building the static guest client: ${cc} ${FLAGS.join(' ')} ${GUEST_SOURCES.join(' ')}`);
  try {
    await exec(cc, [...FLAGS, '-o', tmp, ...GUEST_SOURCES.map((f) => join(dir, f))]);
  } catch (err) {
    await rm(tmp, { force: true });
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new VirtFunError('VM', `no C compiler '${cc}' to build the guest client: apt-get install gcc libc6-dev (or set CC)`, { cause: err });
    throw new VirtFunError('VM', `building the guest client failed (a static build needs libc6-dev):\n${e.stderr ?? e.message}`, { cause: err });
  }
  await rename(tmp, out);
  return out;
}
