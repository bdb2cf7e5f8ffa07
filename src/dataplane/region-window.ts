/**
 * The window backend of a region (docs/region-format.md §13): an instance's
 * dataout and datain are two page-aligned ranges of its VM's ivshmem window,
 * a host file QEMU maps into the guest. vFunD's `WindowHost` owns the file,
 * hands out slots and keeps the instance table; each side maps the whole
 * window and takes views over its slot.
 *
 * A futex does not cross a VM boundary, so waits on a window poll (§13.2):
 * `pollingWaitOps` sleeps in short slices and looks at the word again.
 */
import { rm } from 'node:fs/promises';
import { closeSync, constants, fstatSync, lstatSync, openSync, statSync, writeSync } from 'node:fs';
import { mmapWaitOps, requireShm, type ShmAddon } from '../native/shm.js';
import { VirtFunError } from '../errors.js';
import { areaBytes, IN } from './layout.js';
import { areaViews, checkHeader, initRegion, type ChannelAreas } from './region.js';
import { TOMBSTONE, type MappedRegion, type RegionRole } from './region-files.js';
import type { WaitOps } from './wait.js';
import {
  checkWindowHeader,
  findEntry,
  initWindow,
  publishEntry,
  retractEntry,
  slotAreaBytes,
  slotOffsets,
  type WindowEntry,
  type WindowPlan,
} from './window.js';

/** An instance's region inside a window: what the service maps, and (without the path) what the guest is told. */
export interface WindowRegion {
  readonly capacity: number;
  /** The window as this side sees it: the backing file on the host, `resource2` of the PCI device in a guest. */
  readonly windowPath: string;
  readonly windowBytes: number;
  readonly slot: number;
  readonly dataoutOffset: number;
  readonly datainOffset: number;
}

export function isWindowRegion(r: unknown): r is WindowRegion {
  return typeof r === 'object' && r !== null && 'windowPath' in r && 'dataoutOffset' in r;
}

/**
 * Write the tombstone into a window slot's datain (pwrite into the window
 * file, no mapping): the state word CLOSED, so the guest in the VM learns at
 * its next look that no answer will come.
 */
export function writeWindowTombstone(region: WindowRegion): void {
  let fd: number;
  try {
    fd = openSync(region.windowPath, constants.O_WRONLY | constants.O_NOFOLLOW);
  } catch {
    return;
  }
  try {
    const at = region.datainOffset + IN.state;
    if (fstatSync(fd).size < at + 4) return; // shrunk by someone: leave it
    writeSync(fd, TOMBSTONE, 0, 4, at);
  } catch {
    // nothing to tell a window that cannot be written
  } finally {
    closeSync(fd);
  }
}

/** Sleep between two looks at a window word (µs) while the peer was active recently: the price of no cross-VM wake-up. */
export const DEFAULT_POLL_MICROS = 100;
/** How long the service keeps looking every DEFAULT_POLL_MICROS before it backs off (ms). */
export const POLL_HOLD_MS = 5;
/**
 * Hybrid spin budget of a window's service (µs), instead of DEFAULT_SPIN_MICROS: a guest under
 * emulation often takes 50–400 µs between an answer and its next request, and with no wake-up
 * across the VM every miss costs a poll sleep. Measured (TCG, 20000 calls, 3 runs each): p99
 * 3–8 µs with 400, about 300 µs with 50 (docs/benchmarks.md).
 */
export const WINDOW_SPIN_MICROS = 400;
/** Longest sleep between two looks (µs): an idle service backs off to this, about 1000 wake-ups a second. */
export const DEFAULT_MAX_POLL_MICROS = 1000;

/**
 * WaitOps whose waits poll: sleep (a futex wait nobody in the VM can wake,
 * but a host-side waker such as vFunD's stop nudge still can), look at the
 * word, and report 'ok' as soon as it changed. Sleeps are `pollMicros` for
 * the first POLL_HOLD_MS of a wait, then double up to `maxPollMicros`: a
 * guest that pauses a little between calls (a timer tick in the VM) costs
 * at most one short sleep, and an idle slot about a thousand wake-ups a
 * second instead of ten thousand.
 */
export function pollingWaitOps(base: WaitOps, pollMicros: number = DEFAULT_POLL_MICROS, maxPollMicros: number = DEFAULT_MAX_POLL_MICROS): WaitOps {
  const firstMs = pollMicros / 1000;
  const maxMs = Math.max(firstMs, maxPollMicros / 1000);
  return {
    ...base,
    wait(i32, index, expected, timeoutMs) {
      const start = performance.now();
      const end = start + timeoutMs;
      let sleepMs = firstMs;
      for (;;) {
        const now = performance.now();
        const left = end - now;
        if (left <= 0) return 'timed-out';
        const r = base.wait(i32, index, expected, left < sleepMs ? left : sleepMs);
        if (r !== 'timed-out') return r;
        if (Atomics.load(i32, index) !== expected) return 'ok';
        if (performance.now() - start >= POLL_HOLD_MS) sleepMs = sleepMs * 2 < maxMs ? sleepMs * 2 : maxMs;
      }
    },
  };
}

const privateWord = new Int32Array(new SharedArrayBuffer(4));

/**
 * WaitOps for the guest's side of a window: no futex at all (a futex on a
 * PCI BAR mapping fails with EFAULT, and could not reach the host anyway).
 * A "wait" is a plain sleep; a wake is nothing (the service polls).
 */
export function sleepingWaitOps(yieldOp?: () => void): WaitOps {
  return {
    wait: (_i32, _index, _expected, timeoutMs) => {
      Atomics.wait(privateWord, 0, 0, timeoutMs);
      return 'timed-out';
    },
    notify: () => undefined,
    ...(yieldOp !== undefined && { yield: yieldOp }),
  };
}

function checkPlacement(r: WindowRegion, windowBytes: number): void {
  const need = areaBytes(r.capacity);
  for (const [name, off] of [['dataoutOffset', r.dataoutOffset], ['datainOffset', r.datainOffset]] as const) {
    if (!Number.isInteger(off) || off < 0 || off % 4096 !== 0 || off + need > windowBytes) {
      throw new VirtFunError('REGION', `window region: ${name} ${off} is not a page-aligned range of ${need} bytes inside the ${windowBytes}-byte window`);
    }
  }
  if (Math.abs(r.dataoutOffset - r.datainOffset) < need) {
    throw new VirtFunError('REGION', `window region: dataout at ${r.dataoutOffset} and datain at ${r.datainOffset} overlap (${need} bytes each)`);
  }
}

/**
 * Map a window region for one side. The window is mapped twice: writable for
 * the area this role writes, read-only for the other (the observer maps both
 * read-only), so a service never writes dataout even through a window.
 */
export function mapWindowRegion(region: WindowRegion, role: RegionRole, shm: ShmAddon = requireShm(), pollMicros?: number): MappedRegion {
  const rw = shm.open(region.windowPath, region.windowBytes, { writable: role !== 'observer' });
  let ro: ArrayBuffer;
  try {
    ro = shm.open(region.windowPath, region.windowBytes, { writable: false });
  } catch (err) {
    shm.unmap(rw);
    throw err;
  }
  const unmapBoth = (): void => {
    shm.unmap(rw);
    shm.unmap(ro);
  };
  try {
    // The guest can write the whole window, header and table included: the host side trusts only
    // its own record of the placement (`region`), a guest checks the header it is about to use.
    if (role === 'client') checkWindowHeader(ro);
    checkPlacement(region, region.windowBytes);
    const bytes = areaBytes(region.capacity);
    const outBuf = role === 'client' ? rw : ro;
    const inBuf = role === 'service' ? rw : ro;
    const areas: ChannelAreas = {
      dataout: areaViews(outBuf, region.dataoutOffset, bytes),
      datain: areaViews(inBuf, region.datainOffset, bytes),
      // The host side may futex on its file mapping (vFunD's stop nudge wakes the service); the guest never does.
      ops: pollingWaitOps(role === 'client' ? sleepingWaitOps(shm.schedYield) : mmapWaitOps(shm), pollMicros),
    };
    checkHeader(areas.dataout, 'dataout', region.capacity);
    checkHeader(areas.datain, 'datain', region.capacity);
    let mapped = true;
    return {
      areas,
      capacity: region.capacity,
      unmap: () => {
        if (!mapped) return;
        mapped = false;
        unmapBoth();
      },
    };
  } catch (err) {
    unmapBoth();
    throw err;
  }
}

/**
 * A guest's side: find `instance` in the window at `windowPath` (the backing
 * file, or a PCI BAR's `resource2`) from the window alone, as §13.1 says.
 */
export function lookupWindowRegion(windowPath: string, instance: string, shm: ShmAddon = requireShm()): WindowRegion {
  const size = statSync(windowPath).size;
  const probe = shm.open(windowPath, size, { writable: false });
  let entry: WindowEntry | null;
  let windowBytes: number;
  try {
    windowBytes = checkWindowHeader(probe).windowBytes;
    entry = findEntry(probe, instance);
  } finally {
    shm.unmap(probe);
  }
  if (entry === null) throw new VirtFunError('REGION', `window ${windowPath}: no active entry for instance ${instance}`);
  return { capacity: entry.capacity, windowPath, windowBytes, slot: entry.slot, dataoutOffset: entry.dataoutOffset, datainOffset: entry.datainOffset };
}

/**
 * vFunD's side of one VM's window: creates (or takes back) the backing file,
 * writes the header, hands out slots lowest-first and keeps the table. vFunD
 * never reads the table back: `used` is its own record.
 */
export class WindowHost {
  private readonly used = new Map<number, string>(); // slot -> instance
  /** Where the next search for a free slot starts: slots are handed out next-fit, so a just-freed slot is reused last. */
  private next = 0;
  private buffer: ArrayBuffer | null;

  private constructor(
    readonly path: string,
    readonly plan: WindowPlan,
    private readonly shm: ShmAddon,
    buffer: ArrayBuffer,
  ) {
    this.buffer = buffer;
  }

  /**
   * Create the window file (0600 unless `mode`), or re-initialise one a
   * previous vFunD left (a VM may still map it: its guest sees a fresh, empty
   * table and keeps its device). Never follows a symlink.
   */
  static async open(path: string, plan: WindowPlan, options: { shm?: ShmAddon; mode?: number } = {}): Promise<WindowHost> {
    const shm = options.shm ?? requireShm();
    const create = (): ArrayBuffer => {
      try {
        return shm.open(path, plan.windowBytes, { create: true, writable: true, mode: options.mode ?? 0o600 });
      } catch (err) {
        throw new VirtFunError('REGION', `cannot create the window ${path}: ${(err as Error).message}`, { cause: err });
      }
    };
    const st = lstatSync(path, { throwIfNoEntry: false });
    let buffer: ArrayBuffer;
    if (st === undefined) {
      buffer = create();
    } else if (!st.isFile()) {
      throw new VirtFunError('REGION', `${path} exists and is not a window file (${st.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'})`);
    } else if (st.size < plan.windowBytes) {
      await rm(path, { force: true }); // a smaller window of an earlier geometry: start over
      buffer = create();
    } else {
      buffer = shm.open(path, plan.windowBytes, { writable: true });
    }
    initWindow(buffer, plan, process.pid);
    return new WindowHost(path, plan, shm, buffer);
  }

  get slotsInUse(): number {
    return this.used.size;
  }

  /**
   * Give `instance` a free slot, next-fit (a stale client of a just-released
   * instance is less likely to find its old slot serving someone else):
   * initialise both areas, then publish the entry.
   */
  allocate(who: { instance: string; app: string; fn: string }): WindowRegion {
    const buffer = this.live();
    if (this.used.size >= this.plan.slotCount) {
      throw new VirtFunError('REGION', `window ${this.path}: all ${this.plan.slotCount} slots are in use`);
    }
    let slot = this.next;
    while (this.used.has(slot)) slot = (slot + 1) % this.plan.slotCount;
    this.next = (slot + 1) % this.plan.slotCount;
    const { dataoutOffset, datainOffset } = slotOffsets(this.plan, slot);
    const bytes = slotAreaBytes(this.plan.capacity);
    initRegion(areaViews(buffer, dataoutOffset, bytes), areaViews(buffer, datainOffset, bytes), this.plan.capacity);
    publishEntry(buffer, this.plan, slot, who);
    this.used.set(slot, who.instance);
    return { capacity: this.plan.capacity, windowPath: this.path, windowBytes: this.plan.windowBytes, slot, dataoutOffset, datainOffset };
  }

  /** Retract a slot's entry and zero its areas (after its service stopped). Idempotent. */
  free(slot: number): void {
    if (!this.used.has(slot) || this.buffer === null) return;
    retractEntry(this.buffer, this.plan, slot);
    this.used.delete(slot);
  }

  /** Unmap (the file stays for a VM that may still map it; the next vFunD re-initialises it). */
  close(): void {
    if (this.buffer !== null) this.shm.unmap(this.buffer);
    this.buffer = null;
  }

  private live(): ArrayBuffer {
    if (this.buffer === null) throw new VirtFunError('REGION', `window ${this.path} is closed`);
    return this.buffer;
  }
}
