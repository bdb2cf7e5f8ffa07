/**
 * The sealed-memory backend of a region: `dataout` and `datain` are two
 * memfds that vFunD creates at activation, sized, backed (the memory is
 * reserved then, so a memory limit is a nack, never a SIGBUS later) and
 * sealed against shrinking and growing (F_SEAL_SHRINK | F_SEAL_GROW |
 * F_SEAL_SEAL). Nobody can resize them, not the guest that holds them, not
 * a service: a mapping of them can never fault. vFunD hands the descriptors
 * to the service process at spawn and to the guest over its control socket
 * (SCM_RIGHTS; docs/region-format.md §14). vFunD itself never maps them: it
 * writes the headers and the tombstone with pwrite.
 *
 * The paper's tree keeps the names and metadata: the instance's directory
 * `<root>/vmcli/<tenant>/<app>/<fn>/` holds `region.json` (what the region
 * is, and how to get it), not the memory itself.
 */
import { closeSync, writeSync } from 'node:fs';
import { VirtFunError } from '../errors.js';
import { F_SEAL_GROW, F_SEAL_SHRINK, requireShm, type ShmAddon } from '../native/shm.js';
import { areaBytes, IN } from './layout.js';
import { areaViews, checkCapacity, initRegion } from './region.js';
import { checkedRegion, TOMBSTONE, type MappedRegion, type RegionRole } from './region-files.js';

/** A region as two open descriptors (in vFunD, in the service process, or in the guest that received them). */
export interface FdRegion {
  readonly capacity: number;
  readonly dataoutFd: number;
  readonly datainFd: number;
  /**
   * The descriptors were received for this guest alone (ControlClient.fetchRegion):
   * connect() closes them once mapped. Absent: someone else owns them (vFunD's
   * own region object, in one process with its guest), and they stay open.
   */
  readonly received?: true;
}

/** Whether `r` is a region of two descriptors (FdRegion), as FileRuntime hands guests. */
export function isFdRegion(r: unknown): r is FdRegion {
  return typeof r === 'object' && r !== null && 'dataoutFd' in r && 'datainFd' in r;
}

/** What `region.json` in an instance's directory says. */
export interface RegionEntry {
  readonly instance: string;
  readonly capacity: number;
  /** Sealed memfds, handed over the tenant's control socket (op `region`). */
  readonly backing: 'memfd';
  readonly handover: 'control.sock';
}

/**
 * vFunD, at activation: two sealed memfds of the area size, headers and
 * initial state written with pwrite. Throws VirtFunError 'REGION' naming the
 * limit when the memory cannot be reserved.
 */
export function createMemfdRegion(capacity: number, name: string, shm: ShmAddon = requireShm()): FdRegion {
  checkCapacity(capacity);
  const bytes = areaBytes(capacity);
  const out = new ArrayBuffer(bytes);
  const inn = new ArrayBuffer(bytes);
  initRegion(areaViews(out), areaViews(inn), capacity);
  const fds: number[] = [];
  try {
    for (const [area, buf] of [['dataout', out], ['datain', inn]] as const) {
      const fd = shm.memfdCreate(`vfun:${name}:${area}`, bytes);
      fds.push(fd);
      const b = new Uint8Array(buf);
      let done = 0;
      while (done < b.byteLength) done += writeSync(fd, b, done, b.byteLength - done, done);
      if ((shm.memfdSeals(fd) & (F_SEAL_SHRINK | F_SEAL_GROW)) !== (F_SEAL_SHRINK | F_SEAL_GROW)) {
        throw new VirtFunError('REGION', `${area} memfd is not sealed against resizing`);
      }
    }
    return { capacity, dataoutFd: fds[0]!, datainFd: fds[1]! };
  } catch (err) {
    for (const fd of fds) closeSync(fd);
    if (err instanceof VirtFunError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOMEM' || e.code === 'ENOSPC' || e.code === 'EFBIG') {
      throw new VirtFunError('RESOURCES', `cannot reserve ${2 * bytes} bytes of memory for the region (${e.code}): the host is out of memory or at a limit`, { cause: err });
    }
    throw new VirtFunError('REGION', `cannot create the region: ${e.message}`, { cause: err });
  }
}

/** Map an fd region for one side (dataout writable for the client, datain for the service), checking both headers. */
export function mapFdRegion(region: FdRegion, role: RegionRole, shm: ShmAddon = requireShm()): MappedRegion {
  const bytes = areaBytes(region.capacity);
  const out = shm.mapFd(region.dataoutFd, bytes, role === 'client');
  let inn: ArrayBuffer;
  try {
    inn = shm.mapFd(region.datainFd, bytes, role === 'service');
  } catch (err) {
    shm.unmap(out);
    throw err;
  }
  return checkedRegion(out, inn, region.capacity, shm);
}

/** The tombstone in datain, by pwrite (the memfd cannot have shrunk: it is sealed). */
export function writeFdTombstone(region: FdRegion): void {
  try {
    writeSync(region.datainFd, TOMBSTONE, 0, 4, IN.state);
  } catch {
    // closed already: nobody was told the region exists any more
  }
}

/** Close both descriptors (the memory lives on while someone maps it). Idempotent per region object. */
export function closeFdRegion(region: FdRegion): void {
  for (const fd of [region.dataoutFd, region.datainFd]) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
}
