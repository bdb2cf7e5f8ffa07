/**
 * Errors of the simulated device. All are `VirtFunError`s with code `DRIVER`
 * (a driver fault for the service), plus a stable `deviceCode` saying what
 * happened and the `slot` concerned. A refused argument (bad input size, bad
 * output buffer) is a `DriverInputError` from src/drivers/driver.ts instead.
 */
import { VirtFunError } from '../src/errors.js';

/** What went wrong on the simulated device: the stable code of a `SimDeviceError`, one per subclass. */
export type DeviceErrorCode =
  | 'SLOT_RANGE'
  | 'SLOT_BUSY'
  | 'NO_FREE_SLOT'
  | 'UNKNOWN_FUNCTION'
  | 'LOAD_FAILED'
  | 'NOT_LOADED'
  | 'STALE_HANDLE'
  | 'TIMEOUT'
  | 'DEVICE_RESET'
  | 'RELEASED'
  | 'CLOSED'
  | 'BAD_DEADLINE';

/**
 * Base class of the simulated device's errors: a `VirtFunError` with code `DRIVER` (a driver fault for the
 * service), the `deviceCode` saying what happened, and the `slot` concerned (null when no single slot is).
 */
export class SimDeviceError extends VirtFunError {
  override readonly name: string = 'SimDeviceError';
  readonly deviceCode: DeviceErrorCode;
  readonly slot: number | null;
  constructor(deviceCode: DeviceErrorCode, slot: number | null, message: string, options?: { cause?: unknown }) {
    super('DRIVER', message, options);
    this.deviceCode = deviceCode;
    this.slot = slot;
  }
}

/** A slot number outside 0..slots-1. */
export class SlotRangeError extends SimDeviceError {
  override readonly name = 'SlotRangeError';
  constructor(slot: number, slots: number) {
    super('SLOT_RANGE', null, `slot ${slot} does not exist (the device has slots 0..${slots - 1})`);
  }
}

/** The slot is held (loading, loaded, or busy with calls) by another handle. */
export class SlotBusyError extends SimDeviceError {
  override readonly name = 'SlotBusyError';
  constructor(slot: number, message = `slot ${slot} is held by another instance`) {
    super('SLOT_BUSY', slot, message);
  }
}

/** `load('auto', ...)` found every slot held: capacity is exhausted. */
export class NoFreeSlotError extends SimDeviceError {
  override readonly name = 'NoFreeSlotError';
  constructor(slots: number) {
    super('NO_FREE_SLOT', null, `no free slot: all ${slots} slots are held`);
  }
}

/** The profile has no such function. */
export class UnknownFunctionError extends SimDeviceError {
  override readonly name = 'UnknownFunctionError';
  constructor(fn: string, known: readonly string[]) {
    super('UNKNOWN_FUNCTION', null, `function '${fn}' is not in the device profile; known: ${known.join(', ')}`);
  }
}

/** Reconfiguration failed (injected fault): the bitstream did not load. */
export class LoadFailedError extends SimDeviceError {
  override readonly name = 'LoadFailedError';
  constructor(slot: number, fn: string) {
    super('LOAD_FAILED', slot, `loading the bitstream of '${fn}' into slot ${slot} failed`);
  }
}

/** A call on a slot with no bitstream (never loaded, still loading, or lost in a device reset). */
export class NotLoadedError extends SimDeviceError {
  override readonly name = 'NotLoadedError';
  constructor(slot: number, state: string) {
    super('NOT_LOADED', slot, `slot ${slot} has no bitstream loaded (it is ${state})`);
  }
}

/** The handle no longer owns its slot (released, or the load failed). */
export class StaleHandleError extends SimDeviceError {
  override readonly name = 'StaleHandleError';
  constructor(slot: number, handle: string) {
    super('STALE_HANDLE', slot, `handle ${handle} no longer holds slot ${slot}`);
  }
}

/** The call did not complete before its deadline (a hang, or simply too slow); the kernel was aborted. */
export class DeviceTimeoutError extends SimDeviceError {
  override readonly name = 'DeviceTimeoutError';
  readonly deadline: number;
  constructor(slot: number, callId: string, deadline: number) {
    super('TIMEOUT', slot, `call ${callId} on slot ${slot} passed its deadline (t=${deadline} ns)`);
    this.deadline = deadline;
  }
}

/** The device reset: every slot lost its bitstream and in-flight work failed. */
export class DeviceResetError extends SimDeviceError {
  override readonly name = 'DeviceResetError';
  constructor(slot: number | null, what: string) {
    super('DEVICE_RESET', slot, `device reset: ${what} failed`);
  }
}

/** The slot was released while the work was pending. */
export class SlotReleasedError extends SimDeviceError {
  override readonly name = 'SlotReleasedError';
  constructor(slot: number, what: string) {
    super('RELEASED', slot, `slot ${slot} was released: ${what} failed`);
  }
}

/** The device was closed. */
export class DeviceClosedError extends SimDeviceError {
  override readonly name = 'DeviceClosedError';
  constructor(slot: number | null = null) {
    super('CLOSED', slot, 'the device is closed');
  }
}

/** A deadline that is not a positive finite number of microseconds. */
export class BadDeadlineError extends SimDeviceError {
  override readonly name = 'BadDeadlineError';
  constructor(value: unknown) {
    super('BAD_DEADLINE', null, `deadlineMicros must be a positive finite number, got ${String(value)}`);
  }
}
