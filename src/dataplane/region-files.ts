/**
 * The file backend of a region: `dataout` and `datain` are two files in the
 * instance's directory of the region tree, mapped MAP_SHARED by each side
 * through the native addon (src/native). Each side maps only what it writes
 * as writable:
 *
 *   client (guest):  dataout read-write, datain read-only
 *   service (host):  dataout read-only,  datain read-write
 *   observer (vFunD): both read-only (counters, heartbeats, wake-ups)
 *
 * so a service never writes guest memory and a guest cannot forge answers.
 */
import { unlink } from 'node:fs/promises';
import { requireShm, mmapWaitOps, type ShmAddon } from '../native/shm.js';
import { VirtFunError } from '../errors.js';
import { areaBytes } from './layout.js';
import { areaViews, checkCapacity, checkHeader, initRegion, type ChannelAreas } from './region.js';
import { FILE_MODE } from './region-tree.js';

/** A region as two files: what vFunD hands a guest at activation. */
export interface FileRegion {
  readonly capacity: number;
  readonly dataoutPath: string;
  readonly datainPath: string;
}

export type RegionRole = 'client' | 'service' | 'observer';

/** Mapped areas of a file region, and how to let go of them. */
export interface MappedRegion {
  readonly areas: ChannelAreas;
  readonly capacity: number;
  /** Unmap both areas now (idempotent); views over them become empty. */
  unmap(): void;
}

export function isFileRegion(r: unknown): r is FileRegion {
  return typeof r === 'object' && r !== null && 'dataoutPath' in r && 'datainPath' in r;
}

/**
 * vFunD, at activation: create both files (O_EXCL, 0600, never through a
 * symlink), size them, write the headers and the initial state word.
 */
export function createFileRegion(paths: { dataout: string; datain: string }, capacity: number, shm: ShmAddon = requireShm()): FileRegion {
  checkCapacity(capacity);
  const bytes = areaBytes(capacity);
  const created: string[] = [];
  const mapped: ArrayBuffer[] = [];
  try {
    const out = shm.open(paths.dataout, bytes, { create: true, writable: true, mode: FILE_MODE });
    created.push(paths.dataout);
    mapped.push(out);
    const inn = shm.open(paths.datain, bytes, { create: true, writable: true, mode: FILE_MODE });
    created.push(paths.datain);
    mapped.push(inn);
    initRegion(areaViews(out), areaViews(inn), capacity);
    return { capacity, dataoutPath: paths.dataout, datainPath: paths.datain };
  } catch (err) {
    for (const p of created) void unlink(p).catch(() => undefined);
    throw err instanceof VirtFunError ? err : new VirtFunError('REGION', `cannot create region files: ${(err as Error).message}`, { cause: err });
  } finally {
    for (const ab of mapped) shm.unmap(ab);
  }
}

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
  const areas: ChannelAreas = { dataout: areaViews(out), datain: areaViews(inn), ops: mmapWaitOps(shm) };
  try {
    checkHeader(areas.dataout, 'dataout', region.capacity);
    checkHeader(areas.datain, 'datain', region.capacity);
  } catch (err) {
    shm.unmap(out);
    shm.unmap(inn);
    throw err;
  }
  let mappedNow = true;
  return {
    areas,
    capacity: region.capacity,
    unmap: () => {
      if (!mappedNow) return;
      mappedNow = false;
      shm.unmap(out);
      shm.unmap(inn);
    },
  };
}
