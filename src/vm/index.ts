/**
 * Running guests in real QEMU virtual machines: a Debian kernel (kernel.ts),
 * its modules in load order (modules.ts), a busybox initramfs whose /init
 * reports boot and exit on the console (initramfs.ts), and QEMU itself with
 * an ivshmem window and virtio-serial ports, KVM or TCG (qemu.ts).
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
export {
  DEFAULT_APPEND,
  DEFAULT_BOOT_TIMEOUT_MS,
  DEFAULT_MEMORY_MIB,
  DEFAULT_VM_TIMEOUT_MS,
  MAX_KEPT_LINES,
  QEMU_BINARY,
  VmError,
  cleanConsoleLine,
  qemuArgs,
  qemuOpt,
  runVm,
  type Accel,
  type VmFailure,
  type VmPort,
  type VmRun,
  type VmRunOptions,
  type VmSpec,
} from './qemu.js';
