/**
 * vFunD's side of a VM's ivshmem window (docs/region-format.md §13): the
 * backing file written with pwrite, never mapped (`WindowHost`), and the
 * tombstone a released instance's guest finds in its slot's datain.
 */
import { rm } from 'node:fs/promises';
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, writeSync } from 'node:fs';
import { VirtFunError } from '../errors.js';
import { IN } from './layout.js';
import { areaViews, initRegion } from './region.js';
import { TOMBSTONE } from './region-files.js';
import type { WindowRegion } from './region-window.js';
import { encodeEntry, encodeWindowHeader, ENTRY, ENTRY_BYTES, entryOffset, slotAreaBytes, slotOffsets, WIN, type WindowPlan } from './window.js';

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

/** Bytes written per pwrite when vFunD writes a window whole. */
const WRITE_CHUNK = 1 << 20;
/** A u32 0 (an entry's `state` SLOT_FREE, or a cleared magic). */
const STATE_FREE = new Uint8Array(4);
/** The header's geometry, `magic` .. `slotsOffset`: what vFunD checks is still what it wrote. */
const GEOMETRY_BYTES = WIN.generation;

/** pwrite all of `bytes` at `position` (a regular file takes it in one call; a short write goes on). */
function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
}

/** pread exactly `length` bytes at `position`; a file that ends before is a clear error, never a crash. */
function readExactly(fd: number, length: number, position: number, what: string): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let done = 0; done < length; ) {
    const n = readSync(fd, bytes, done, length - done, position + done);
    if (n === 0) throw new VirtFunError('REGION', `${what}: read ${done} of ${length} bytes at offset ${position}: the file ends there (truncated)`);
    done += n;
  }
  return bytes;
}

/**
 * A write into the window that failed, said plainly: a full disk, a quota,
 * a file size limit or no memory is a RESOURCES error (the host cannot back
 * the window now: a `no-resources` nack), anything else a REGION error.
 */
function writeFailure(err: unknown, what: string, bytes: number): VirtFunError {
  const e = err as NodeJS.ErrnoException;
  const why: Record<string, string> = {
    ENOSPC: `no space left for its ${bytes} bytes`,
    EDQUOT: `the disk quota leaves no room for its ${bytes} bytes`,
    EFBIG: `a file size limit is below its ${bytes} bytes`,
    ENOMEM: `out of memory for its ${bytes} bytes`,
  };
  const resources = e.code !== undefined ? why[e.code] : undefined;
  if (resources !== undefined) return new VirtFunError('RESOURCES', `${what}: ${resources} (${e.code})`, { cause: err });
  return new VirtFunError('REGION', `${what}: ${e.message}`, { cause: err });
}

/**
 * vFunD's side of one VM's window: creates (or takes back) the backing file,
 * writes the header, hands out slots lowest-first and keeps the table.
 *
 * vFunD never maps the window: the tenant's QEMU user may truncate it (with
 * tenant identities the file is the tenant's), and a mapping of it would
 * SIGBUS vFunD. Everything here is pwrite on a descriptor held open, with
 * the file's size (fstat) looked at before each change. `used`, the serials
 * and the generation are vFunD's own record: it never reads the table back
 * (the guest can write all of it). The one read (pread) is the header's
 * geometry before a slot is handed out, to write it again if it changed.
 *
 * A window found shorter than its layout (its tenant truncated it: that
 * tenant's services that touch a missing page die of SIGBUS, and their
 * instances are reclaimed) refuses new slots while any instance still holds
 * one, and is re-initialised in place (same inode, written whole) at the next
 * allocation once none does. A window grown past its layout is left alone:
 * vFunD writes only its first `windowBytes`.
 */
export class WindowHost {
  private readonly used = new Map<number, string>(); // slot -> instance
  /** How many times each slot was activated since the window was (re-)initialised: the entries' `serial`. */
  private readonly serials: Uint32Array;
  private generation = 0;
  /** Where the next search for a free slot starts: slots are handed out next-fit, so a just-freed slot is reused last. */
  private next = 0;
  private fd: number | null;
  private reinits = 0;
  private readonly pid = process.pid;

  private constructor(
    readonly path: string,
    readonly plan: WindowPlan,
    fd: number,
  ) {
    this.fd = fd;
    this.serials = new Uint32Array(plan.slotCount);
  }

  /**
   * Create the window file (0600 unless `mode`), or re-initialise one a
   * previous vFunD left (a VM may still map it: its guest sees a fresh, empty
   * table and keeps its device), and write it whole: every block is
   * allocated now, so a full disk is an error here, never a SIGBUS in a
   * service later. Never follows a symlink.
   */
  static async open(path: string, plan: WindowPlan, options: { mode?: number } = {}): Promise<WindowHost> {
    const create = (): number => {
      try {
        return openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, options.mode ?? 0o600);
      } catch (err) {
        throw new VirtFunError('REGION', `cannot create the window ${path}: ${(err as Error).message}`, { cause: err });
      }
    };
    const st = lstatSync(path, { throwIfNoEntry: false });
    let fd: number;
    let created = false;
    if (st === undefined) {
      fd = create();
      created = true;
    } else if (!st.isFile()) {
      throw new VirtFunError('REGION', `${path} exists and is not a window file (${st.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'})`);
    } else if (st.size < plan.windowBytes) {
      await rm(path, { force: true }); // a smaller window of an earlier geometry: start over
      fd = create();
      created = true;
    } else {
      fd = openSync(path, constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      if (!fstatSync(fd).isFile()) {
        closeSync(fd);
        throw new VirtFunError('REGION', `${path} exists and is not a window file (not a regular file)`);
      }
    }
    const host = new WindowHost(path, plan, fd);
    try {
      host.initialise();
    } catch (err) {
      closeSync(fd);
      if (created) await rm(path, { force: true });
      throw writeFailure(err, `cannot ${created ? 'create' : 're-initialise'} the window ${path}`, plan.windowBytes);
    }
    return host;
  }

  /** Slots of the window allocated to live instances. */
  get slotsInUse(): number {
    return this.used.size;
  }

  /** How many times this vFunD re-initialised the window in place after its tenant truncated it. */
  get reinitialisations(): number {
    return this.reinits;
  }

  /**
   * Give `instance` a free slot, next-fit (a stale client of a just-released
   * instance is less likely to find its old slot serving someone else):
   * initialise both areas, then publish the entry.
   */
  allocate(who: { instance: string; app: string; fn: string }): WindowRegion {
    const fd = this.live();
    if (this.used.size >= this.plan.slotCount) {
      throw new VirtFunError('REGION', `window ${this.path}: all ${this.plan.slotCount} slots are in use`);
    }
    this.ensureIntact(fd);
    let slot = this.next;
    while (this.used.has(slot)) slot = (slot + 1) % this.plan.slotCount;
    const { dataoutOffset, datainOffset } = slotOffsets(this.plan, slot);
    const serial = (this.serials[slot]! + 1) >>> 0;
    const entry = encodeEntry(this.plan, slot, who, serial); // refuses a name too long before anything is written
    // Both areas, whole (headers, initial state word, zeroed payload), then the entry: state 0, the rest, state 1.
    const bytes = slotAreaBytes(this.plan.capacity);
    const areas = new ArrayBuffer(2 * bytes);
    initRegion(areaViews(areas, 0, bytes), areaViews(areas, bytes, bytes), this.plan.capacity);
    const at = entryOffset(slot);
    try {
      writeAll(fd, new Uint8Array(areas), dataoutOffset);
      writeAll(fd, STATE_FREE, at + ENTRY.state);
      writeAll(fd, entry.subarray(4), at + 4);
      writeAll(fd, entry.subarray(0, 4), at + ENTRY.state);
      this.bumpGeneration(fd);
    } catch (err) {
      try {
        writeAll(fd, STATE_FREE, at + ENTRY.state); // not published after all
      } catch {
        // the slot stays free in vFunD's record either way
      }
      throw writeFailure(err, `cannot write slot ${slot} of the window ${this.path}`, 2 * bytes);
    }
    this.serials[slot] = serial;
    this.next = (slot + 1) % this.plan.slotCount;
    this.used.set(slot, who.instance);
    return { capacity: this.plan.capacity, windowPath: this.path, windowBytes: this.plan.windowBytes, slot, dataoutOffset, datainOffset };
  }

  /**
   * Retract a slot's entry and zero its areas (after its service stopped):
   * state first, then the generation, the slot and the entry's names.
   * Idempotent. A truncated window is not written (a pwrite past its end would
   * grow it back with holes); it is re-initialised before its next use.
   */
  free(slot: number): void {
    if (!this.used.has(slot) || this.fd === null) return;
    this.used.delete(slot);
    const fd = this.fd;
    try {
      if (fstatSync(fd).size < this.plan.windowBytes) return;
      const at = entryOffset(slot);
      writeAll(fd, STATE_FREE, at + ENTRY.state);
      this.bumpGeneration(fd);
      this.writeZeros(fd, slotOffsets(this.plan, slot).dataoutOffset, this.plan.slotBytes);
      this.writeZeros(fd, at + ENTRY.instance, ENTRY_BYTES - ENTRY.instance);
    } catch {
      // A full disk cannot fail a release: the slot is free in vFunD's record, and the
      // entry (state 0 is written first, over an allocated block) says so.
    }
  }

  /** Close the descriptor (the file stays for a VM that may still map it; the next vFunD re-initialises it). */
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  /**
   * Before a slot is handed out: the window must still be as long as its
   * layout and its header's geometry what vFunD wrote (pread). Truncated
   * while instances hold slots: refused, naming why. Truncated with none:
   * re-initialised in place, written whole. Geometry overwritten (from inside
   * the VM, or truncated and grown back): the header is written again, slots
   * and table untouched.
   */
  private ensureIntact(fd: number): void {
    const size = fstatSync(fd).size;
    if (size < this.plan.windowBytes) {
      if (this.used.size > 0) {
        throw new VirtFunError(
          'REGION',
          `window ${this.path} is ${size} bytes, its layout needs ${this.plan.windowBytes}: it was truncated (only its tenant's QEMU user can resize it); ` +
            `no new slot while ${this.used.size} instance(s) still hold one; once they are released vFunD re-initialises it in place`,
        );
      }
      try {
        this.initialise();
      } catch (err) {
        throw writeFailure(err, `cannot re-initialise the truncated window ${this.path}`, this.plan.windowBytes);
      }
      this.reinits++;
      return;
    }
    const header = encodeWindowHeader(this.plan, this.pid, this.generation);
    const seen = readExactly(fd, GEOMETRY_BYTES, 0, `window ${this.path}, its header`);
    if (seen.every((b, i) => b === header[i])) return;
    writeAll(fd, header.subarray(4), 4);
    writeAll(fd, header.subarray(0, 4), 0);
  }

  /**
   * Write the window whole, as the layout says a fresh one is: magic cleared
   * first, then zeros over every byte, then the header, the magic last. The
   * table is empty, serials and generation start again from 0.
   */
  private initialise(): void {
    const fd = this.live();
    writeAll(fd, STATE_FREE, 0); // 4 zero bytes over the magic: "not initialised yet" for a guest looking now
    this.writeZeros(fd, 4, this.plan.windowBytes - 4);
    const header = encodeWindowHeader(this.plan, this.pid);
    writeAll(fd, header.subarray(4), 4);
    writeAll(fd, header.subarray(0, 4), 0);
    this.used.clear();
    this.serials.fill(0);
    this.generation = 0;
    this.next = 0;
  }

  private bumpGeneration(fd: number): void {
    this.generation = (this.generation + 1) >>> 0;
    const word = new Uint8Array(4);
    new DataView(word.buffer).setUint32(0, this.generation, true);
    writeAll(fd, word, WIN.generation);
  }

  private writeZeros(fd: number, position: number, length: number): void {
    const zeros = new Uint8Array(Math.min(length, WRITE_CHUNK));
    for (let done = 0; done < length; ) {
      const n = Math.min(zeros.byteLength, length - done);
      writeAll(fd, n === zeros.byteLength ? zeros : zeros.subarray(0, n), position + done);
      done += n;
    }
  }

  private live(): number {
    if (this.fd === null) throw new VirtFunError('REGION', `window ${this.path} is closed`);
    return this.fd;
  }
}
