/**
 * The ivshmem window (docs/region-format.md §13): one shared memory window
 * per virtual machine, holding a header, an instance table and fixed-size
 * slots, each slot one instance's region (dataout + datain, the layout of
 * layout.ts). QEMU shows the window to the guest as the BAR 2 of an
 * ivshmem-plain PCI device. vFunD never maps the backing file: it writes the
 * bytes encoded here with pwrite (WindowHost, window-host.ts); guests and
 * services map it.
 *
 * Pure layout arithmetic, encoders, and reads/writes over an ArrayBuffer: no
 * node:* imports. Keep in step with §13.1 of docs/region-format.md.
 */
import { ValidationError, VirtFunError } from '../errors.js';
import { areaBytes, hex32, LAYOUT_HASH } from './layout.js';

/** 'VFWN' read as a little-endian u32. */
export const WINDOW_MAGIC = 0x4e574656;
export const WINDOW_VERSION = 1;
export const WINDOW_HEADER_BYTES = 64;
export const ENTRY_BYTES = 256;
export const PAGE = 4096;
export const MIN_WINDOW_BYTES = 64 * 1024;
export const MAX_WINDOW_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_WINDOW_BYTES = 4 * 1024 * 1024;
/** Longest string field of an entry (instance, app, fn), in bytes, NUL excluded. */
export const ENTRY_NAME_MAX = 63;

/** Window header byte offsets. */
export const WIN = {
  magic: 0, // u32, written last at creation
  version: 4, // u16
  headerBytes: 6, // u16
  regionLayoutHash: 8, // u32
  windowBytes: 12, // u32
  slotCount: 16, // u32
  slotBytes: 20, // u32
  tableOffset: 24, // u32
  entryBytes: 28, // u32
  slotsOffset: 32, // u32
  generation: 36, // u32, incremented after every table change
  vfundPid: 40, // u32
} as const;

/** Instance table entry byte offsets (from the entry's start). */
export const ENTRY = {
  state: 0, // u32: 0 free, 1 active; written last at activation, first at release
  capacity: 4,
  dataoutOffset: 8,
  datainOffset: 12,
  serial: 16,
  instance: 32, // char[64]
  app: 96, // char[64]
  fn: 160, // char[64]
} as const;

export const SLOT_FREE = 0;
export const SLOT_ACTIVE = 1;

export const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/** Bytes one area of a window slot takes: areaBytes rounded up to a page, so both areas are page-aligned. */
export const slotAreaBytes = (capacity: number): number => roundUp(areaBytes(capacity), PAGE);

/** The smallest slot that holds a region of `capacity`. */
export const minSlotBytes = (capacity: number): number => 2 * slotAreaBytes(capacity);

/** Where the slots start for a table of `slotCount` entries. */
export const slotsOffsetFor = (slotCount: number): number => roundUp(WINDOW_HEADER_BYTES + slotCount * ENTRY_BYTES, PAGE);

/** A window's geometry: what vFunD writes into the header and how it places slots. */
export interface WindowPlan {
  readonly windowBytes: number;
  readonly slotBytes: number;
  readonly slotCount: number;
  readonly slotsOffset: number;
  /** Payload capacity of every slot's region. */
  readonly capacity: number;
}

const isPowerOfTwo = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

/**
 * Plan a window of `windowBytes` for regions of `capacity`: as many slots of
 * `slotBytes` (default: the smallest that fits) as fit after the table.
 * Throws a ValidationError naming the field and the limit.
 */
export function planWindow(windowBytes: number, capacity: number, slotBytes: number = minSlotBytes(capacity)): WindowPlan {
  if (!isPowerOfTwo(windowBytes) || windowBytes < MIN_WINDOW_BYTES || windowBytes > MAX_WINDOW_BYTES) {
    throw new ValidationError('windowBytes', `${windowBytes} must be a power of two in ${MIN_WINDOW_BYTES}..${MAX_WINDOW_BYTES} (a PCI BAR)`);
  }
  if (!Number.isInteger(slotBytes) || slotBytes % PAGE !== 0 || slotBytes <= 0) {
    throw new ValidationError('slotBytes', `${slotBytes} must be a positive multiple of ${PAGE}`);
  }
  if (slotBytes < minSlotBytes(capacity)) {
    throw new ValidationError('slotBytes', `${slotBytes} is too small for two areas of capacity ${capacity}: at least ${minSlotBytes(capacity)}`);
  }
  let slotCount = Math.floor((windowBytes - PAGE) / slotBytes);
  while (slotCount > 0 && slotsOffsetFor(slotCount) + slotCount * slotBytes > windowBytes) slotCount--;
  if (slotCount < 1) {
    throw new ValidationError('windowBytes', `${windowBytes} holds no slot of ${slotBytes} bytes after the table: at least ${roundUp(slotsOffsetFor(1) + slotBytes, PAGE)} needed`);
  }
  return { windowBytes, slotBytes, slotCount, slotsOffset: slotsOffsetFor(slotCount), capacity };
}

/** Window offsets of slot `slot`'s two areas. */
export function slotOffsets(plan: WindowPlan, slot: number): { dataoutOffset: number; datainOffset: number } {
  if (!Number.isInteger(slot) || slot < 0 || slot >= plan.slotCount) {
    throw new ValidationError('slot', `${slot} is outside 0..${plan.slotCount - 1}`);
  }
  const dataoutOffset = plan.slotsOffset + slot * plan.slotBytes;
  return { dataoutOffset, datainOffset: dataoutOffset + slotAreaBytes(plan.capacity) };
}

const dv = (buffer: ArrayBufferLike): DataView => new DataView(buffer);
/** Window offset of the instance table entry of `slot`. */
export const entryOffset = (slot: number): number => WINDOW_HEADER_BYTES + slot * ENTRY_BYTES;
const entryAt = entryOffset;

/**
 * The window header as vFunD writes it (64 bytes, `magic` included): what
 * initWindow stores in a mapping and WindowHost writes into the file. Write
 * bytes 4..63 first and the magic last.
 */
export function encodeWindowHeader(plan: WindowPlan, pid: number, generation = 0): Uint8Array {
  const bytes = new Uint8Array(WINDOW_HEADER_BYTES);
  const v = new DataView(bytes.buffer);
  v.setUint32(WIN.magic, WINDOW_MAGIC, true);
  v.setUint16(WIN.version, WINDOW_VERSION, true);
  v.setUint16(WIN.headerBytes, WINDOW_HEADER_BYTES, true);
  v.setUint32(WIN.regionLayoutHash, LAYOUT_HASH, true);
  v.setUint32(WIN.windowBytes, plan.windowBytes, true);
  v.setUint32(WIN.slotCount, plan.slotCount, true);
  v.setUint32(WIN.slotBytes, plan.slotBytes, true);
  v.setUint32(WIN.tableOffset, WINDOW_HEADER_BYTES, true);
  v.setUint32(WIN.entryBytes, ENTRY_BYTES, true);
  v.setUint32(WIN.slotsOffset, plan.slotsOffset, true);
  v.setUint32(WIN.generation, generation >>> 0, true);
  v.setUint32(WIN.vfundPid, pid >>> 0, true);
  return bytes;
}

/** vFunD: zero the window and write its header (magic last). */
export function initWindow(buffer: ArrayBufferLike, plan: WindowPlan, pid: number): void {
  if (buffer.byteLength < plan.windowBytes) {
    throw new VirtFunError('REGION', `window mapping is ${buffer.byteLength} bytes, the plan needs ${plan.windowBytes}`);
  }
  new Uint8Array(buffer, 0, plan.windowBytes).fill(0);
  new Uint8Array(buffer).set(encodeWindowHeader(plan, pid).subarray(4), 4);
  Atomics.store(new Int32Array(buffer, 0, 1), 0, WINDOW_MAGIC | 0);
}

export interface WindowHeader {
  readonly magic: number;
  readonly version: number;
  readonly headerBytes: number;
  readonly regionLayoutHash: number;
  readonly windowBytes: number;
  readonly slotCount: number;
  readonly slotBytes: number;
  readonly tableOffset: number;
  readonly entryBytes: number;
  readonly slotsOffset: number;
  readonly generation: number;
  readonly vfundPid: number;
}

export function readWindowHeader(buffer: ArrayBufferLike): WindowHeader {
  if (buffer.byteLength < WINDOW_HEADER_BYTES) throw new VirtFunError('REGION', `window is ${buffer.byteLength} bytes, smaller than its ${WINDOW_HEADER_BYTES}-byte header`);
  const v = dv(buffer);
  return {
    magic: v.getUint32(WIN.magic, true),
    version: v.getUint16(WIN.version, true),
    headerBytes: v.getUint16(WIN.headerBytes, true),
    regionLayoutHash: v.getUint32(WIN.regionLayoutHash, true),
    windowBytes: v.getUint32(WIN.windowBytes, true),
    slotCount: v.getUint32(WIN.slotCount, true),
    slotBytes: v.getUint32(WIN.slotBytes, true),
    tableOffset: v.getUint32(WIN.tableOffset, true),
    entryBytes: v.getUint32(WIN.entryBytes, true),
    slotsOffset: v.getUint32(WIN.slotsOffset, true),
    generation: v.getUint32(WIN.generation, true),
    vfundPid: v.getUint32(WIN.vfundPid, true),
  };
}


/** Check a window header as a guest must before use (§13.1); returns it. VirtFunError 'REGION' naming the field otherwise. */
export function checkWindowHeader(buffer: ArrayBufferLike): WindowHeader {
  const h = readWindowHeader(buffer);
  const fail = (what: string): never => {
    throw new VirtFunError('REGION', `window: ${what}`);
  };
  if (h.magic !== WINDOW_MAGIC) fail(`magic is ${hex32(h.magic)}, expected ${hex32(WINDOW_MAGIC)} (not a VirtFun window, or not initialised yet)`);
  if (h.version !== WINDOW_VERSION) fail(`version is ${h.version}, expected ${WINDOW_VERSION}`);
  if (h.headerBytes !== WINDOW_HEADER_BYTES) fail(`headerBytes is ${h.headerBytes}, expected ${WINDOW_HEADER_BYTES}`);
  if (h.regionLayoutHash !== LAYOUT_HASH) fail(`regionLayoutHash is ${hex32(h.regionLayoutHash)}, expected ${hex32(LAYOUT_HASH)}`);
  if (h.windowBytes > buffer.byteLength) fail(`windowBytes ${h.windowBytes} is larger than the ${buffer.byteLength} bytes mapped`);
  if (h.tableOffset !== WINDOW_HEADER_BYTES || h.entryBytes !== ENTRY_BYTES) fail(`table at ${h.tableOffset} with ${h.entryBytes}-byte entries, expected ${WINDOW_HEADER_BYTES} and ${ENTRY_BYTES}`);
  if (h.slotCount < 1 || h.slotsOffset < slotsOffsetFor(h.slotCount) || h.slotsOffset + h.slotCount * h.slotBytes > h.windowBytes) {
    fail(`${h.slotCount} slots of ${h.slotBytes} bytes from ${h.slotsOffset} do not fit a ${h.windowBytes}-byte window after the table`);
  }
  return h;
}

/** One instance table entry as read from the window. */
export interface WindowEntry {
  readonly slot: number;
  readonly state: number;
  readonly capacity: number;
  readonly dataoutOffset: number;
  readonly datainOffset: number;
  readonly serial: number;
  readonly instance: string;
  readonly app: string;
  readonly fn: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function readName(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

function writeName(bytes: Uint8Array, field: string, value: string): void {
  const b = encoder.encode(value);
  if (b.length > ENTRY_NAME_MAX) throw new ValidationError(field, `is ${b.length} bytes, longer than the window entry's ${ENTRY_NAME_MAX}`);
  bytes.fill(0);
  bytes.set(b);
}

export function readEntry(buffer: ArrayBufferLike, slot: number): WindowEntry {
  const at = entryAt(slot);
  const v = new DataView(buffer, at, ENTRY_BYTES);
  const bytes = new Uint8Array(buffer, at, ENTRY_BYTES);
  return {
    slot,
    state: Atomics.load(new Int32Array(buffer, at, 1), 0) >>> 0,
    capacity: v.getUint32(ENTRY.capacity, true),
    dataoutOffset: v.getUint32(ENTRY.dataoutOffset, true),
    datainOffset: v.getUint32(ENTRY.datainOffset, true),
    serial: v.getUint32(ENTRY.serial, true),
    instance: readName(bytes.subarray(ENTRY.instance, ENTRY.instance + 64)),
    app: readName(bytes.subarray(ENTRY.app, ENTRY.app + 64)),
    fn: readName(bytes.subarray(ENTRY.fn, ENTRY.fn + 64)),
  };
}

/** All entries of a checked window. */
export function readEntries(buffer: ArrayBufferLike): WindowEntry[] {
  const h = checkWindowHeader(buffer);
  return Array.from({ length: h.slotCount }, (_, i) => readEntry(buffer, i));
}

/** A guest's lookup: the active entry of `instance`, or null. */
export function findEntry(buffer: ArrayBufferLike, instance: string): WindowEntry | null {
  return readEntries(buffer).find((e) => e.state === SLOT_ACTIVE && e.instance === instance) ?? null;
}

function bumpGeneration(buffer: ArrayBufferLike): void {
  Atomics.add(new Int32Array(buffer, WIN.generation, 1), 0, 1);
}

/**
 * An active entry as vFunD writes it (256 bytes, `state` = 1 included): what
 * publishEntry stores in a mapping and WindowHost writes into the file. Write
 * `state` 0 first, then bytes 4..255, then `state` 1.
 */
export function encodeEntry(plan: WindowPlan, slot: number, who: { instance: string; app: string; fn: string }, serial: number): Uint8Array {
  const { dataoutOffset, datainOffset } = slotOffsets(plan, slot);
  const bytes = new Uint8Array(ENTRY_BYTES);
  const v = new DataView(bytes.buffer);
  v.setUint32(ENTRY.state, SLOT_ACTIVE, true);
  v.setUint32(ENTRY.capacity, plan.capacity, true);
  v.setUint32(ENTRY.dataoutOffset, dataoutOffset, true);
  v.setUint32(ENTRY.datainOffset, datainOffset, true);
  v.setUint32(ENTRY.serial, serial >>> 0, true);
  writeName(bytes.subarray(ENTRY.instance, ENTRY.instance + 64), 'instance', who.instance);
  writeName(bytes.subarray(ENTRY.app, ENTRY.app + 64), 'app', who.app);
  writeName(bytes.subarray(ENTRY.fn, ENTRY.fn + 64), 'fn', who.fn);
  return bytes;
}

/** vFunD, at activation, after the slot's areas are initialised: fill the entry, then publish it (state last). */
export function publishEntry(buffer: ArrayBufferLike, plan: WindowPlan, slot: number, who: { instance: string; app: string; fn: string }): WindowEntry {
  const at = entryAt(slot);
  const serial = (new DataView(buffer, at, ENTRY_BYTES).getUint32(ENTRY.serial, true) + 1) >>> 0;
  const entry = encodeEntry(plan, slot, who, serial); // validates the names before anything is written
  const state = new Int32Array(buffer, at, 1);
  Atomics.store(state, 0, SLOT_FREE);
  new Uint8Array(buffer, at, ENTRY_BYTES).set(entry.subarray(4), 4);
  Atomics.store(state, 0, SLOT_ACTIVE);
  bumpGeneration(buffer);
  return readEntry(buffer, slot);
}

/** vFunD, at release, after the service stopped: state first, then zero the slot's areas and names. */
export function retractEntry(buffer: ArrayBufferLike, plan: WindowPlan, slot: number): void {
  const at = entryAt(slot);
  Atomics.store(new Int32Array(buffer, at, 1), 0, SLOT_FREE);
  bumpGeneration(buffer);
  const { dataoutOffset } = slotOffsets(plan, slot);
  new Uint8Array(buffer, dataoutOffset, plan.slotBytes).fill(0);
  new Uint8Array(buffer, at + ENTRY.instance, ENTRY_BYTES - ENTRY.instance).fill(0);
}
