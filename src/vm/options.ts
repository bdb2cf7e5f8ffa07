/**
 * The VM options that `vfun vm run` and `vfun bench paper --vm` share, on a
 * commander command, and their conversion (checked, naming the option and the
 * limit) into the options of runGuestVm: the kernel and its modules, the
 * cache, the accelerator, memory and the deadlines.
 */
import { Option, type Command } from 'commander';
import { ValidationError } from '../errors.js';
import { defaultCacheDir, type Accel, type VmRunOptions } from './run.js';

/** The shared options as commander parses them. */
export interface VmCliOptions {
  kernel?: string;
  modules?: string;
  cache: string;
  accel: Accel;
  memory?: string;
  timeout?: string;
  bootTimeout: string;
}

function positive(field: string, v: string, max: number): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) throw new ValidationError(field, `'${v}' must be a number in (0, ${max}]`);
  return n;
}

function integer(field: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw new ValidationError(field, `'${v}' must be an integer in ${min}..${max}`);
  return n;
}

/** Add --kernel, --modules, --cache, --accel, --memory, --timeout and --boot-timeout to `cmd` (`timeout`: the default of --timeout in seconds, or none). */
export function addVmOptions(cmd: Command, d: { memory: string; timeout?: string }): Command {
  cmd
    .option('--kernel <vmlinuz>', "a kernel to boot (default: Debian's linux-image-cloud-amd64, fetched with apt-get download)")
    .option('--modules <dir>', 'the lib/modules/<release> directory of --kernel (virtio_pci, virtio_console, virtio_net)')
    .option('--cache <dir>', 'where the kernel and the guest binary are kept', defaultCacheDir())
    .addOption(new Option('--accel <accel>', 'KVM, TCG (software emulation), or KVM falling back to TCG').choices(['auto', 'kvm', 'tcg']).default('auto'))
    .option('--memory <MiB>', `guest memory (default ${d.memory})`);
  if (d.timeout !== undefined) cmd.option('--timeout <s>', 'kill the VM after this many seconds', d.timeout);
  else cmd.option('--timeout <s>', 'kill the VM after this many seconds');
  return cmd.option('--boot-timeout <s>', 'with --accel auto: fall back to TCG when KVM has not booted by then', '20');
}

/** The shared options as runGuestVm takes them; ValidationError naming the option for a bad value. */
export function vmOptionsFrom(o: VmCliOptions): Pick<VmRunOptions, 'kernel' | 'modulesDir' | 'cacheDir' | 'accel' | 'memoryMiB' | 'timeoutMs' | 'bootTimeoutMs'> {
  return {
    ...(o.kernel !== undefined && { kernel: o.kernel }),
    ...(o.modules !== undefined && { modulesDir: o.modules }),
    cacheDir: o.cache,
    accel: o.accel,
    ...(o.memory !== undefined && { memoryMiB: integer('--memory', o.memory, 64, 65536) }),
    ...(o.timeout !== undefined && { timeoutMs: positive('--timeout', o.timeout, 86400) * 1000 }),
    bootTimeoutMs: positive('--boot-timeout', o.bootTimeout, 3600) * 1000,
  };
}
