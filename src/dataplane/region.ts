/**
 * The region: two areas, `dataout` (client-written) and `datain`
 * (service-written), each a header + control lines + payload (layout.ts).
 * This module creates SharedArrayBuffer regions, writes and checks headers,
 * and builds the typed-array views client and service share. A backend only
 * has to supply the two areas' memory and a `WaitOps` (wait.ts).
 */
import { ValidationError, VirtFunError } from '../errors.js';
import {
  areaBytes,
  hex32,
  DATAIN_MAGIC,
  DATAOUT_MAGIC,
  HDR,
  HEADER_BYTES,
  IN,
  LAYOUT_HASH,
  MAX_CAPACITY,
  OUT,
  packWord,
  REGION_VERSION,
  Status,
} from './layout.js';
import { sabWaitOps, type WaitOps } from './wait.js';
import { loadShm } from '../native/shm.js';

let sabOpsCache: WaitOps | null = null;
/** Atomics.wait/notify, plus sched_yield for spinners when the native addon is there. */
export function sabOps(): WaitOps {
  if (sabOpsCache === null) {
    const y = loadShm()?.schedYield;
    sabOpsCache = y === undefined ? sabWaitOps : { ...sabWaitOps, yield: y };
  }
  return sabOpsCache;
}

/** Views over one area's memory. All offsets in layout.ts are relative to `bytes`. */
export interface AreaViews {
  readonly bytes: Uint8Array;
  readonly i32: Int32Array;
  readonly dv: DataView;
}

/** What client and service need to talk: both areas and the backend's wait/wake. */
export interface ChannelAreas {
  readonly dataout: AreaViews;
  readonly datain: AreaViews;
  readonly ops: WaitOps;
}

/** An in-process region: two SharedArrayBuffers, handed to a worker by structured clone. */
export interface SabRegion {
  readonly capacity: number;
  readonly dataout: SharedArrayBuffer;
  readonly datain: SharedArrayBuffer;
}

export interface RegionHeader {
  readonly magic: number;
  readonly version: number;
  readonly headerBytes: number;
  readonly layoutHash: number;
  readonly capacity: number;
}

export type AreaName = 'dataout' | 'datain';

/** Int32Array indexes of the control words (byte offset / 4). */
export const I32 = {
  req: OUT.req >> 2,
  clientSleeping: OUT.clientSleeping >> 2,
  clientHeartbeat: OUT.heartbeat >> 2,
  state: IN.state >> 2,
  calls: IN.calls >> 2,
  errorCounts: IN.errorCounts >> 2,
  serviceSleeping: IN.serviceSleeping >> 2,
  serviceHeartbeat: IN.heartbeat >> 2,
} as const;

/** Number of u32 error counters in datain (indexed by ErrorCode). */
export const ERROR_COUNTERS = 8;

/** Throws a ValidationError naming `capacity` and the limit unless 1 <= capacity <= MAX_CAPACITY. */
export function checkCapacity(capacity: number): void {
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
    throw new ValidationError('capacity', `${String(capacity)} must be an integer in 1..${MAX_CAPACITY} bytes`);
  }
}

/** Views over `byteLength` bytes of `buffer` from `byteOffset` (64-byte aligned). */
export function areaViews(buffer: ArrayBufferLike, byteOffset = 0, byteLength = buffer.byteLength - byteOffset): AreaViews {
  if (byteOffset % 64 !== 0 || byteOffset < 0) {
    throw new VirtFunError('REGION', `area offset ${byteOffset} is not a multiple of 64`);
  }
  if (byteLength < HEADER_BYTES || byteOffset + byteLength > buffer.byteLength) {
    throw new VirtFunError('REGION', `area of ${byteLength} bytes at ${byteOffset} does not fit a ${HEADER_BYTES}-byte header in a ${buffer.byteLength}-byte buffer`);
  }
  return {
    bytes: new Uint8Array(buffer, byteOffset, byteLength),
    i32: new Int32Array(buffer, byteOffset, byteLength >> 2),
    dv: new DataView(buffer, byteOffset, byteLength),
  };
}

export function readHeader(area: AreaViews): RegionHeader {
  const dv = area.dv;
  return {
    magic: dv.getUint32(HDR.magic, true),
    version: dv.getUint16(HDR.version, true),
    headerBytes: dv.getUint16(HDR.headerBytes, true),
    layoutHash: dv.getUint32(HDR.layoutHash, true),
    capacity: dv.getUint32(HDR.capacity, true),
  };
}

/** vFunD: write an area's header. */
export function writeHeader(area: AreaViews, which: AreaName, capacity: number): void {
  checkCapacity(capacity);
  const dv = area.dv;
  dv.setUint32(HDR.magic, which === 'dataout' ? DATAOUT_MAGIC : DATAIN_MAGIC, true);
  dv.setUint16(HDR.version, REGION_VERSION, true);
  dv.setUint16(HDR.headerBytes, HEADER_BYTES, true);
  dv.setUint32(HDR.layoutHash, LAYOUT_HASH, true);
  dv.setUint32(HDR.capacity, capacity, true);
}


/**
 * Check an area's header before use; returns its capacity. Refuses with a
 * VirtFunError 'REGION' a wrong magic, version, header size, layout hash, a
 * capacity out of range or different from `expectedCapacity`, or an area too
 * small for its capacity.
 */
export function checkHeader(area: AreaViews, which: AreaName, expectedCapacity?: number): number {
  const h = readHeader(area);
  const magic = which === 'dataout' ? DATAOUT_MAGIC : DATAIN_MAGIC;
  const fail = (what: string): never => {
    throw new VirtFunError('REGION', `${which}: ${what}`);
  };
  if (h.magic !== magic) fail(`magic is ${hex32(h.magic)}, expected ${hex32(magic)}`);
  if (h.version !== REGION_VERSION) fail(`layout version is ${h.version}, expected ${REGION_VERSION}`);
  if (h.headerBytes !== HEADER_BYTES) fail(`headerBytes is ${h.headerBytes}, expected ${HEADER_BYTES}`);
  if (h.layoutHash !== LAYOUT_HASH) fail(`layout hash is ${hex32(h.layoutHash)}, expected ${hex32(LAYOUT_HASH)} (peer built against another layout)`);
  if (h.capacity < 1 || h.capacity > MAX_CAPACITY) fail(`capacity ${h.capacity} is outside 1..${MAX_CAPACITY}`);
  if (expectedCapacity !== undefined && h.capacity !== expectedCapacity) {
    fail(`capacity is ${h.capacity}, expected ${expectedCapacity}`);
  }
  if (area.bytes.byteLength < areaBytes(h.capacity)) {
    fail(`area is ${area.bytes.byteLength} bytes, capacity ${h.capacity} needs ${areaBytes(h.capacity)}`);
  }
  return h.capacity;
}

/**
 * vFunD, at activation: clear both areas, write both headers and publish the
 * initial state word packWord(0, WAIT). The areas must be `areaBytes(capacity)` long at least.
 */
export function initRegion(dataout: AreaViews, datain: AreaViews, capacity: number): void {
  checkCapacity(capacity);
  const need = areaBytes(capacity);
  for (const [name, a] of [['dataout', dataout], ['datain', datain]] as const) {
    if (a.bytes.byteLength < need) {
      throw new VirtFunError('REGION', `${name}: area is ${a.bytes.byteLength} bytes, capacity ${capacity} needs ${need}`);
    }
    a.bytes.fill(0);
  }
  writeHeader(dataout, 'dataout', capacity);
  writeHeader(datain, 'datain', capacity);
  Atomics.store(datain.i32, I32.state, packWord(0, Status.WAIT));
}

/** vFunD: a fresh in-process region with both areas initialised. */
export function createSabRegion(capacity: number): SabRegion {
  checkCapacity(capacity);
  const bytes = areaBytes(capacity);
  const region: SabRegion = {
    capacity,
    dataout: new SharedArrayBuffer(bytes),
    datain: new SharedArrayBuffer(bytes),
  };
  initRegion(areaViews(region.dataout), areaViews(region.datain), capacity);
  return region;
}

/** Channel views over an in-process region (Atomics.wait/notify). */
export function sabChannel(region: Pick<SabRegion, 'dataout' | 'datain'>): ChannelAreas {
  return { dataout: areaViews(region.dataout), datain: areaViews(region.datain), ops: sabOps() };
}

/** The payload of an area as a view of exactly `capacity` bytes. */
export function payloadView(area: AreaViews, capacity: number): Uint8Array {
  return area.bytes.subarray(HEADER_BYTES, HEADER_BYTES + capacity);
}
