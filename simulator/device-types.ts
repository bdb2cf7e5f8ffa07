/**
 * Public data types of the simulated device: slot handles and states, call
 * results, capacity, and the events of its timeline (plain data, so a
 * timeline compares with deep equality and journals as JSON).
 */
import type { KernelName } from './kernels.js';

/** `free`: nobody holds it; `loading`: a bitstream is being written; `ready`: loaded; `unloaded`: held, bitstream lost in a reset. */
export type SlotState = 'free' | 'loading' | 'ready' | 'unloaded';

/** Proof of holding a slot: what `load` returns and `call`/`reload`/`release` take. */
export interface SlotHandle {
  /** Unique per load (`h1`, `h2`, ...). */
  readonly id: string;
  readonly slot: number;
  readonly fn: string;
  readonly kernel: KernelName;
}

/** A slot is named by its handle (checked: it must still hold the slot) or by number (no holder check). */
export type SlotRef = SlotHandle | number;

/** Options of one `SimDevice.call`. */
export interface CallOptions {
  /** Time allowed from acceptance (queueing included) to completion, in µs of device time. */
  readonly deadlineMicros?: number;
}

/** What a completed call reports: its id, slot and function, the bytes it wrote, and its device times. */
export interface CallResult {
  readonly callId: string;
  readonly slot: number;
  readonly fn: string;
  /** Bytes written into the output buffer. */
  readonly bytes: number;
  /** Device times, ns: accepted (queued), started on the slot, completed. */
  readonly acceptedAt: number;
  readonly startedAt: number;
  readonly endedAt: number;
}

/** What `SimDevice.capacity()` reports: the slots, how many are free, and which function each holds. */
export interface DeviceCapacity {
  readonly slots: number;
  /** Slots nobody holds: what vFunD may still hand out. */
  readonly free: number;
  /** The function whose bitstream is loaded in each slot, or null. */
  readonly loaded: readonly (string | null)[];
}

/** The state of one slot as `SimDevice.inspect` reports it: its phase, function, holder, queue and running call. */
export interface SlotInfo {
  readonly slot: number;
  readonly state: SlotState;
  /** Function being loaded, loaded, or (when `unloaded`) to reload; null when free. */
  readonly fn: string | null;
  /** Id of the holding handle, or null. */
  readonly holder: string | null;
  readonly queued: number;
  /** Id of the running call, or null. */
  readonly running: string | null;
}

/**
 * What happened in a `DeviceEvent`: a load's start, end or failure, a release, a call's steps or error, a refusal, an injected fault, a reset, the device closing.
 */
export type DeviceEventKind =
  | 'load-start'
  | 'load-done'
  | 'load-failed'
  | 'release'
  | 'call-accepted'
  | 'call-start'
  | 'call-done'
  | 'call-error'
  | 'rejected'
  | 'fault'
  | 'reset'
  | 'closed';

/**
 * Free-form facts of a `DeviceEvent` (call id, bytes, error code…), kept to JSON scalars so a timeline compares and journals as plain data.
 */
export type EventDetail = Readonly<Record<string, string | number | boolean | null>>;

/** One entry of the device timeline (plain data: deep-equal comparable, journal-ready). */
export interface DeviceEvent {
  /** 1-based position in the device's event sequence. */
  readonly seq: number;
  /** Device time, ns. */
  readonly t: number;
  readonly kind: DeviceEventKind;
  readonly slot: number | null;
  readonly fn: string | null;
  readonly detail: EventDetail;
}

/** Called synchronously with each event the device appends to its timeline (see `SimDevice.onEvent`). */
export type DeviceListener = (event: DeviceEvent) => void;
