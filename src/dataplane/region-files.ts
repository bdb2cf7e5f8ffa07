/**
 * The file backend of a region: `dataout` and `datain` are two files in a
 * directory of the caller's (the library's own backend: vFunD gives its
 * tenants sealed memfds instead, region-fds.ts), mapped MAP_SHARED by each side
 * through the native addon (src/native). Each side maps only what it writes
 * as writable:
 *
 *   client (guest):  dataout read-write, datain read-only
 *   service (host):  dataout read-only,  datain read-write
 *
 * so a service never writes guest memory and a guest cannot forge answers.
 * createFileRegion writes the files whole (it maps nothing); TOMBSTONE is the
 * state word every backend's owner writes when an instance is over.
 */
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { requireShm, mmapWaitOps, type ShmAddon } from '../native/shm.js';
import { VirtFunError } from '../errors.js';
import { areaBytes, packWord, Status } from './layout.js';
import { areaViews, checkCapacity, checkHeader, initRegion, type ChannelAreas } from './region.js';
import { FILE_MODE } from './region-tree.js';

/** A region as two files: what vFunD hands a guest at activation. */
export interface FileRegion {
  readonly capacity: number;
  readonly dataoutPath: string;
  readonly datainPath: string;
}

/**
 * Which side maps a region: the `client` writes dataout, the `service` writes datain, an `observer` (vFunD, a tool) writes neither.
 */
export type RegionRole = 'client' | 'service' | 'observer';

/** Mapped areas of a file region, and how to let go of them. */
export interface MappedRegion {
  readonly areas: ChannelAreas;
  readonly capacity: number;
  /** Unmap both areas now (idempotent); views over them become empty. */
  unmap(): void;
}

/** Whether `r` is a region of two files (FileRegion). */
export function isFileRegion(r: unknown): r is FileRegion {
  return typeof r === 'object' && r !== null && 'dataoutPath' in r && 'datainPath' in r;
}

/**
 * vFunD, at activation: create both files (O_EXCL, 0600, never through a
 * symlink) and write them whole: headers, initial state word and a zeroed
 * payload. vFunD never maps them (a tenant may truncate a file it can open;
 * a mapping of it would SIGBUS): writing every byte also allocates every
 * block now, so a full disk is a clear error at activation, never a SIGBUS
 * in the service later.
 */
export function createFileRegion(paths: { dataout: string; datain: string }, capacity: number): FileRegion {
  checkCapacity(capacity);
  const bytes = areaBytes(capacity);
  const out = new ArrayBuffer(bytes);
  const inn = new ArrayBuffer(bytes);
  initRegion(areaViews(out), areaViews(inn), capacity);
  const created: string[] = [];
  try {
    for (const [path, area] of [[paths.dataout, out], [paths.datain, inn]] as const) {
      const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, FILE_MODE);
      created.push(path);
      try {
        const b = new Uint8Array(area);
        let done = 0;
        while (done < b.byteLength) done += writeSync(fd, b, done, b.byteLength - done, done);
      } finally {
        closeSync(fd);
      }
    }
    return { capacity, dataoutPath: paths.dataout, datainPath: paths.datain };
  } catch (err) {
    for (const p of created) void unlink(p).catch(() => undefined);
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOSPC' || e.code === 'EDQUOT' ? `no space left for a region of ${2 * bytes} bytes (${e.code})` : e.message;
    throw err instanceof VirtFunError ? err : new VirtFunError('REGION', `cannot create region files: ${why}`, { cause: err });
  }
}

/** The state word of a closed region, little-endian. */
export const TOMBSTONE: Uint8Array = (() => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, packWord(0, Status.CLOSED), true);
  return b;
})();

/** Map a file region for one side, checking both headers (magic, version, layout hash, capacity). */
export function mapFileRegion(region: FileRegion, role: RegionRole, shm: ShmAddon = requireShm()): MappedRegion {
  const bytes = areaBytes(region.capacity);
  const out = shm.open(region.dataoutPath, bytes, { writable: role === 'client' });
  let inn: ArrayBuffer;
  try {
    inn = shm.open(region.datainPath, bytes, { writable: role === 'service' });
  } catch (err) {
    shm.unmap(out);
    throw err;
  }
  return checkedRegion(out, inn, region.capacity, shm);
}

/**
 * The channel over two areas one side has just mapped (files or descriptors),
 * both headers checked against `capacity`; on a bad header both are unmapped
 * before the error is thrown. unmap() is idempotent.
 */
export function checkedRegion(out: ArrayBuffer, inn: ArrayBuffer, capacity: number, shm: ShmAddon): MappedRegion {
  const areas: ChannelAreas = { dataout: areaViews(out), datain: areaViews(inn), ops: mmapWaitOps(shm) };
  try {
    checkHeader(areas.dataout, 'dataout', capacity);
    checkHeader(areas.datain, 'datain', capacity);
  } catch (err) {
    shm.unmap(out);
    shm.unmap(inn);
    throw err;
  }
  let mappedNow = true;
  return {
    areas,
    capacity,
    unmap: () => {
      if (!mappedNow) return;
      mappedNow = false;
      shm.unmap(out);
      shm.unmap(inn);
    },
  };
}
