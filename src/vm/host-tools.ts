/**
 * What the host offers for running QEMU: the QEMU binary on PATH, whether
 * KVM can be used, and util-linux `setpriv` (to give QEMU a parent-death
 * signal). Reads the filesystem only; starts nothing.
 */
import { constants as fsc } from 'node:fs';
import { access, open, readFile } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';

export const QEMU_BINARY = 'qemu-system-x86_64';
/** How to get QEMU, for the message of a missing one. */
export const QEMU_INSTALL_HINT = 'install it with `apt-get install --no-install-recommends qemu-system-x86` (or run `node scripts/ensure-system-packages.mjs` in a checkout)';

const executable = (path: string): Promise<boolean> => access(path, fsc.X_OK).then(() => true, () => false);

/** The path of the executable `name` (a path, or looked up on PATH), or undefined when there is none. */
export async function findQemu(name: string = QEMU_BINARY): Promise<string | undefined> {
  const candidates = isAbsolute(name) || name.includes('/') ? [name] : (process.env.PATH ?? '/usr/bin:/bin').split(delimiter).filter((d) => d !== '').map((d) => join(d, name));
  for (const c of candidates) {
    if (await executable(c)) return c;
  }
  return undefined;
}

/** Why `device` cannot be used for KVM, or undefined when it opens read-write. */
export async function kvmUnusable(device: string): Promise<string | undefined> {
  try {
    const fh = await open(device, 'r+');
    await fh.close();
  } catch (err) {
    return `${device} cannot be opened (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  // A /dev/kvm on a CPU that advertises no hardware virtualisation (seen in sandboxed VMs) lets
  // QEMU start, but the guest stops during kernel decompression: do not wait out the boot timeout.
  if (device === '/dev/kvm') {
    const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => null);
    if (cpuinfo !== null && !/^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo)) {
      return '/dev/kvm exists but the CPU advertises neither vmx nor svm in /proc/cpuinfo (no hardware virtualisation: a KVM guest would hang early)';
    }
  }
  return undefined;
}

let setprivPath: string | null | undefined;
/** util-linux setpriv, to give QEMU a parent-death signal (so it dies even if this process is SIGKILLed); null when absent. */
export async function setpriv(): Promise<string | null> {
  if (setprivPath === undefined) {
    setprivPath = null;
    for (const p of ['/usr/bin/setpriv', '/bin/setpriv']) {
      if (await executable(p)) {
        setprivPath = p;
        break;
      }
    }
  }
  return setprivPath;
}
