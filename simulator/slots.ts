/**
 * The slot table of a simulated device: what each slot holds (its state,
 * holder, function, pending load, queued and running calls), and the pure
 * reads and lookups over it. Only the device's mailbox changes a slot, so
 * these functions never see one half-updated.
 */
import type { TimerHandle } from './clock.js';
import { NoFreeSlotError, SlotBusyError, SlotRangeError, StaleHandleError } from './errors.js';
import type { CallResult, DeviceCapacity, SlotHandle, SlotInfo, SlotRef, SlotState } from './device-types.js';

/** A bitstream being written into a slot: settles its `load`/`reload` promise when its timer fires. */
export interface PendingLoad {
  readonly handle: SlotHandle;
  /** A reload of a held slot (a failure leaves it `unloaded`, not free). */
  readonly reload: boolean;
  readonly timer: TimerHandle;
  /** A load-failure fault fired: the load rejects when its time is up. */
  readonly failed: boolean;
  readonly resolve: (h: SlotHandle) => void;
  readonly reject: (e: unknown) => void;
}

/** An accepted call: its result is already computed (`scratch`), only its time is simulated. */
export interface CallJob {
  readonly id: string;
  readonly slot: number;
  readonly fn: string;
  readonly inBytes: number;
  /** Bytes of the result in `scratch`. */
  readonly bytes: number;
  /** Work of the call in the kernel's unit (bytes or items). */
  readonly work: number;
  readonly scratch: Uint8Array;
  /** The caller's buffer, written when the call completes. */
  readonly output: Uint8Array;
  readonly acceptedAt: number;
  readonly deadline: number;
  /** Device time it started on the slot; -1 while queued. */
  startedAt: number;
  deadlineTimer: TimerHandle | null;
  doneTimer: TimerHandle | null;
  /** A wrong-result fault fired: bits of the output are flipped on completion. */
  wrong: boolean;
  readonly resolve: (r: CallResult) => void;
  readonly reject: (e: unknown) => void;
}

/** One reconfigurable slot. */
export interface Slot {
  readonly index: number;
  state: SlotState;
  holder: SlotHandle | null;
  fn: string | null;
  load: PendingLoad | null;
  queue: CallJob[];
  running: CallJob | null;
}

/** `n` free slots, numbered 0..n-1. */
export function createSlots(n: number): Slot[] {
  return Array.from({ length: n }, (_, index) => ({
    index,
    state: 'free' as SlotState,
    holder: null,
    fn: null,
    load: null,
    queue: [],
    running: null,
  }));
}

/** Forget everything the slot held (the caller has settled its load and calls). */
export function freeSlot(s: Slot): void {
  s.state = 'free';
  s.holder = null;
  s.fn = null;
  s.load = null;
  s.queue = [];
  s.running = null;
}

/** The slot numbered `slot`; throws SlotRangeError for a number outside the table. */
export function slotAt(slots: readonly Slot[], slot: number): Slot {
  const s = Number.isInteger(slot) ? slots[slot] : undefined;
  if (s === undefined) throw new SlotRangeError(slot, slots.length);
  return s;
}

/** The slot a reference names; a handle must still hold it (StaleHandleError otherwise). */
export function resolveRef(slots: readonly Slot[], ref: SlotRef): Slot {
  if (typeof ref === 'number') return slotAt(slots, ref);
  const s = slotAt(slots, ref.slot);
  if (s.holder?.id !== ref.id) throw new StaleHandleError(ref.slot, ref.id);
  return s;
}

/** The slot a load may take: the lowest free one for `'auto'`, else the one named, which must be free. */
export function pickSlot(slots: readonly Slot[], slot: number | 'auto'): Slot {
  if (slot === 'auto') {
    const free = slots.find((x) => x.state === 'free');
    if (free === undefined) throw new NoFreeSlotError(slots.length);
    return free;
  }
  const s = slotAt(slots, slot);
  if (s.state !== 'free') throw new SlotBusyError(s.index);
  return s;
}

/** Indices of the slots nobody holds. */
export function freeSlotIndices(slots: readonly Slot[]): number[] {
  return slots.filter((s) => s.state === 'free').map((s) => s.index);
}

/** Slots, free slots and what is loaded where. */
export function capacityOf(slots: readonly Slot[]): DeviceCapacity {
  return {
    slots: slots.length,
    free: slots.filter((s) => s.state === 'free').length,
    loaded: slots.map((s) => (s.state === 'ready' ? s.fn : null)),
  };
}

/** A plain-data view of one slot. */
export function slotInfo(s: Slot): SlotInfo {
  return {
    slot: s.index,
    state: s.state,
    fn: s.fn,
    holder: s.holder?.id ?? null,
    queued: s.queue.length,
    running: s.running?.id ?? null,
  };
}
