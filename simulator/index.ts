/**
 * The device simulator (docs/simulator.md): a reconfigurable accelerator with
 * N slots, on a virtual clock (tests) or in real time (demos, benchmarks).
 */
export {
  type SimClock,
  type TimerHandle,
  type RealClockOptions,
  VirtualClock,
  RealClock,
  TimerQueue,
  envelopeClock,
  NS_PER_US,
  NS_PER_MS,
  NS_PER_S,
} from './clock.js';
export { type Rng, Xoshiro128, createRng } from './rng.js';
export {
  type DeviceProfile,
  type FunctionProfile,
  type FaultProbabilities,
  type JitterSpec,
  type JitterKind,
  parseProfile,
  loadProfile,
  loadProfileSync,
  profileNames,
  functionProfile,
  figurePaths,
  sourceFor,
} from './profile.js';
export {
  type KernelName,
  type KernelSpec,
  type WorkUnit,
  type ProfileKernel,
  type TwinKernelName,
  KERNEL_NAMES,
  kernelSpec,
  kernelUnit,
  kernelMeta,
  isSimKernel,
  profileKernelNames,
} from './kernels.js';
export { type CallCost, callCost, loadCostNs, drawJitterNs, ceilNs } from './model.js';
export { type FaultKind, type FaultSpec } from './faults.js';
export {
  type SimDeviceOptions,
  type SlotState,
  type SlotHandle,
  type SlotRef,
  type CallOptions,
  type CallResult,
  type DeviceCapacity,
  type SlotInfo,
  type DeviceEvent,
  type DeviceEventKind,
  type DeviceListener,
  type EventDetail,
  SimDevice,
  createDevice,
} from './device.js';
export {
  type DeviceErrorCode,
  SimDeviceError,
  SlotRangeError,
  SlotBusyError,
  NoFreeSlotError,
  UnknownFunctionError,
  LoadFailedError,
  NotLoadedError,
  StaleHandleError,
  DeviceTimeoutError,
  DeviceResetError,
  SlotReleasedError,
  DeviceClosedError,
  BadDeadlineError,
} from './errors.js';
export {
  type SimulatedFpgaDriverOptions,
  type RealtimeDeviceOptions,
  SimulatedFpgaDriver,
  createRealtimeDevice,
} from './hw-driver.js';
export { simulatorDrivers, deviceDriverName } from './drivers.js';
