/**
 * Running guests in real QEMU virtual machines: a Debian kernel (kernel.ts),
 * its modules in load order (modules.ts), a busybox initramfs whose /init
 * reports boot and exit on the console (initramfs.ts), and QEMU itself with
 * an ivshmem window and virtio-serial ports, KVM or TCG: its command line
 * (qemu-args.ts), its console (qemu-console.ts), what the host offers
 * (host-tools.ts) and the supervised run (qemu.ts).
 */
export {
  DEFAULT_KERNEL_PACKAGE,
  bzImageRelease,
  cachedDebianKernel,
  debianKernel,
  kernelFromPath,
  pickImage,
  type DebianKernelOptions,
  type GuestKernel,
} from './kernel.js';
export { indexModules, moduleDepends, moduleName, readModinfo, readModuleFile, resolveModules, type ResolvedModule } from './modules.js';
export {
  BOOT_MARKER,
  DEFAULT_BUSYBOX,
  EXIT_MARKER,
  INSMOD_FAILED_MARKER,
  buildInitramfs,
  checkStaticBusybox,
  cpioNewc,
  cpioPath,
  initScript,
  withParents,
  type CpioEntry,
  type InitramfsFile,
  type InitramfsOptions,
} from './initramfs.js';
export { elfFields, elfInterpreter, type ElfFields } from './elf.js';
export { DEFAULT_APPEND, DEFAULT_MEMORY_MIB, qemuArgs, qemuOpt, type Accel, type VmNet, type VmPort, type VmSpec } from './qemu-args.js';
export { MAX_KEPT_LINES, ConsoleReader, cleanConsoleLine } from './qemu-console.js';
export { QEMU_BINARY, QEMU_INSTALL_HINT, findQemu, kvmUnusable } from './host-tools.js';
export {
  DEFAULT_BOOT_TIMEOUT_MS,
  DEFAULT_VM_TIMEOUT_MS,
  VmError,
  killAllVms,
  runVm,
  runningVms,
  type VmFailure,
  type VmRun,
  type VmRunOptions,
} from './qemu.js';
