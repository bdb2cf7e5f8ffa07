/**
 * Regions that live in mapped memory outside the process: a pair of region
 * files (region-files.ts), a pair of sealed memfds (region-fds.ts) or a slot
 * of a VM's window (region-window.ts). One
 * entry point so the service, vFunD's observer and the guest library map
 * either the same way.
 */
import type { ShmAddon } from '../native/shm.js';
import { isFileRegion, mapFileRegion, type FileRegion, type MappedRegion, type RegionRole } from './region-files.js';
import { isFdRegion, mapFdRegion, type FdRegion } from './region-fds.js';
import { isWindowRegion, mapWindowRegion, type WindowRegion } from './region-window.js';

/** A region another process can map: two files, a slot of a VM's window, or two sealed memfds. */
export type MappableRegion = FileRegion | WindowRegion | FdRegion;

/** Whether `r` is a region another process can map (as opposed to an in-process SharedArrayBuffer region). */
export function isMappableRegion(r: unknown): r is MappableRegion {
  return isFileRegion(r) || isWindowRegion(r) || isFdRegion(r);
}

/** Map a file, window or sealed-memory region for one side (see mapFileRegion / mapWindowRegion / mapFdRegion). */
export function mapRegion(region: MappableRegion, role: RegionRole, shm?: ShmAddon): MappedRegion {
  if (isWindowRegion(region)) return mapWindowRegion(region, role, shm);
  return isFdRegion(region) ? mapFdRegion(region, role, shm) : mapFileRegion(region, role, shm);
}
