/**
 * The QEMU command line of a guest: kernel + initramfs, an optional
 * ivshmem-plain window backed by a host file, virtio-serial ports whose host
 * ends are existing Unix socket listeners, an optional virtio-net device on
 * QEMU's user-mode network, the serial console on stdout, and nothing else
 * attached. Pure: validates the spec and builds the arguments.
 */
import { ValidationError } from '../errors.js';

/** The accelerator QEMU runs the guest under. */
export type Accel = 'kvm' | 'tcg';

/** A virtio-serial port of the guest, wired to a Unix socket of the host. */
export interface VmPort {
  /** virtio-serial port name (the guest sees it in /sys/class/virtio-ports/<dev>/name). */
  readonly name: string;
  /** Host end: a Unix socket that is already listening; QEMU connects to it. */
  readonly socketPath: string;
}

/**
 * A network device of the guest: a virtio-net NIC on QEMU's user-mode network (slirp), where the
 * guest is 10.0.2.15/24 and 10.0.2.2 is the host's loopback (src/vm/user-net.ts).
 */
export interface VmNet {
  readonly mode: 'user';
}

/** What to boot and what to attach. */
export interface VmSpec {
  /** The kernel image (bzImage). */
  readonly kernel: string;
  /** The gzip'd cpio initramfs. */
  readonly initrd: string;
  /** Guest memory in MiB (default 256). */
  readonly memoryMiB?: number;
  /** Virtual CPUs (default 1). */
  readonly cpus?: number;
  /** Kernel command line (default DEFAULT_APPEND). */
  readonly append?: string;
  /** Shared window: a host file mapped as the BAR2 of an ivshmem-plain PCI device (1af4:1110). */
  readonly window?: { readonly path: string; readonly bytes: number };
  /** virtio-serial ports. */
  readonly ports: readonly VmPort[];
  /** A virtio-net NIC (default none: the guest has no network). */
  readonly net?: VmNet;
}

export const DEFAULT_APPEND = 'console=ttyS0 quiet panic=-1';
export const DEFAULT_MEMORY_MIB = 256;
const PORT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** A value inside a QEMU `-opt key=value,...` list: commas are doubled. */
export function qemuOpt(value: string): string {
  return value.replace(/,/g, ',,');
}

/** The QEMU command line (without the binary) for `spec` under `accel`. Validates the spec. */
export function qemuArgs(spec: VmSpec, accel: Accel): string[] {
  const memory = spec.memoryMiB ?? DEFAULT_MEMORY_MIB;
  const cpus = spec.cpus ?? 1;
  if (!Number.isInteger(memory) || memory < 32 || memory > 1 << 20) throw new ValidationError('memoryMiB', `${memory} is not an integer in 32..${1 << 20}`);
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 64) throw new ValidationError('cpus', `${cpus} is not an integer in 1..64`);
  if (spec.kernel === '') throw new ValidationError('kernel', 'is empty');
  if (spec.initrd === '') throw new ValidationError('initrd', 'is empty');
  const append = spec.append ?? DEFAULT_APPEND;
  if (append.includes('\n') || append.includes('\0')) throw new ValidationError('append', 'must be one line');

  const args = ['-accel', accel];
  if (accel === 'kvm') args.push('-cpu', 'host');
  args.push(
    '-m', String(memory),
    '-smp', String(cpus),
    '-nodefaults',
    '-no-user-config',
    '-display', 'none',
    '-serial', 'stdio',
    '-no-reboot',
    '-kernel', spec.kernel,
    '-initrd', spec.initrd,
    '-append', append,
  );
  if (spec.net === undefined) args.push('-nic', 'none');
  else if (spec.net.mode === 'user') args.push('-netdev', 'user,id=vfunnet', '-device', 'virtio-net-pci,netdev=vfunnet');
  else throw new ValidationError('net.mode', `'${String((spec.net as { mode: unknown }).mode)}' is not 'user'`);
  if (spec.window !== undefined) {
    const { path, bytes } = spec.window;
    if (!Number.isInteger(bytes) || bytes < 4096 || bytes > 2 ** 40 || !Number.isInteger(Math.log2(bytes))) {
      throw new ValidationError('window.bytes', `${bytes} must be a power of two from 4096 (ivshmem BAR size)`);
    }
    if (path === '') throw new ValidationError('window.path', 'is empty');
    args.push(
      '-object', `memory-backend-file,id=vfunwin,share=on,mem-path=${qemuOpt(path)},size=${bytes}`,
      '-device', 'ivshmem-plain,memdev=vfunwin',
    );
  }
  if (spec.ports.length > 0) {
    const names = new Set<string>();
    args.push('-device', 'virtio-serial-pci,id=vfunser');
    spec.ports.forEach((p, i) => {
      if (!PORT_NAME.test(p.name)) throw new ValidationError(`ports[${i}].name`, `'${p.name}' must be 1-63 of [A-Za-z0-9._-], starting with a letter or digit`);
      if (names.has(p.name)) throw new ValidationError(`ports[${i}].name`, `'${p.name}' is used twice`);
      names.add(p.name);
      if (p.socketPath === '') throw new ValidationError(`ports[${i}].socketPath`, 'is empty');
      args.push(
        '-chardev', `socket,id=vfunport${i},path=${qemuOpt(p.socketPath)},reconnect=1`,
        '-device', `virtserialport,bus=vfunser.0,nr=${i + 1},chardev=vfunport${i},name=${p.name}`,
      );
    });
  }
  return args;
}
