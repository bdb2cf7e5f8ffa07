/**
 * Regions that live in mapped memory outside the process: a pair of region
 * files (region-files.ts) or a slot of a VM's window (region-window.ts). One
 * entry point so the service, vFunD's observer and the guest library map
 * either the same way.
 */
import type { ShmAddon } from '../native/shm.js';
import { isFileRegion, mapFileRegion, type FileRegion, type MappedRegion, type RegionRole } from './region-files.js';
import { isWindowRegion, mapWindowRegion, type WindowRegion } from './region-window.js';

export type MappableRegion = FileRegion | WindowRegion;

export function isMappableRegion(r: unknown): r is MappableRegion {
  return isFileRegion(r) || isWindowRegion(r);
}

/** Map a file or window region for one side (see mapFileRegion / mapWindowRegion). */
export function mapRegion(region: MappableRegion, role: RegionRole, shm?: ShmAddon): MappedRegion {
  return isWindowRegion(region) ? mapWindowRegion(region, role, shm) : mapFileRegion(region, role, shm);
}
