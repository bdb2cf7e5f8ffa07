/**
 * The window backend of a region (docs/region-format.md §13): an instance's
 * dataout and datain are two page-aligned ranges of its VM's ivshmem window,
 * a host file QEMU maps into the guest. vFunD's `WindowHost` (window-host.ts)
 * owns the file, hands out slots and keeps the instance table with pwrite,
 * never mapping it; the service and the guest each map the whole window and
 * take views over their slot (here), and wait on it by polling
 * (window-wait.ts).
 */
import { statSync } from 'node:fs';
import { mmapWaitOps, requireShm, type ShmAddon } from '../native/shm.js';
import { VirtFunError } from '../errors.js';
import { areaBytes } from './layout.js';
import { areaViews, checkHeader, type ChannelAreas } from './region.js';
import type { MappedRegion, RegionRole } from './region-files.js';
import { checkWindowHeader, findEntry, type WindowEntry } from './window.js';
import { pollingWaitOps, sleepingWaitOps } from './window-wait.js';

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

/** Whether a region record is a window region (by its fields). */
export function isWindowRegion(r: unknown): r is WindowRegion {
  return typeof r === 'object' && r !== null && 'windowPath' in r && 'dataoutOffset' in r;
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
