/**
 * Connect a guest to an activated instance's region: the computation phase's
 * client, over whichever backend vFunD activated (SharedArrayBuffers in one
 * process, or the region files mapped from any process with the native addon).
 */
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { ChannelClient, type ClientOptions } from '../dataplane/client.js';
import { HEADER_BYTES } from '../dataplane/layout.js';
import { requireShm } from '../native/shm.js';
import { areaViews, readHeader, sabChannel, type SabRegion } from '../dataplane/region.js';
import { isMappableRegion, mapRegion, type MappableRegion } from '../dataplane/region-map.js';
import { isWindowRegion } from '../dataplane/region-window.js';
import { closeFdRegion, isFdRegion } from '../dataplane/region-fds.js';

/**
 * Map the region (dataout read-write, datain read-only for files and windows)
 * and return its client. close() unmaps. The descriptors of a sealed-memory
 * region received for this guest (ControlClient.fetchRegion, connectFds) are
 * closed once mapped. A window region's client polls
 * (docs/region-format.md §13.2).
 */
export function connect(region: MappableRegion | SabRegion, options: ClientOptions = {}): ChannelClient {
  if (!isMappableRegion(region)) return new ChannelClient(sabChannel(region), options);
  let mapped;
  try {
    mapped = mapRegion(region, 'client');
  } finally {
    // Sealed memory received from vFunD: the mapping is all the guest needs; the descriptors are closed.
    if (isFdRegion(region) && region.received === true) closeFdRegion(region);
  }
  try {
    return new ChannelClient(mapped.areas, {
      ...(isWindowRegion(region) && { liveness: 'heartbeat' as const }),
      ...options,
      onClose: () => {
        options.onClose?.();
        mapped.unmap();
      },
    });
  } catch (err) {
    mapped.unmap();
    throw err;
  }
}

/**
 * Connect to the region in an instance directory (`<root>/vmcli/<tenant>/<app>/<fn>`),
 * reading its capacity from the header: what a guest process needs when all it
 * knows is where vFunD put its region.
 */
export function connectDir(dir: string, options: ClientOptions = {}): ChannelClient {
  const dataoutPath = join(dir, 'dataout');
  const size = lstatSync(dataoutPath).size;
  const shm = requireShm();
  const probe = shm.open(dataoutPath, Math.min(size, HEADER_BYTES), { writable: false });
  let capacity: number;
  try {
    capacity = readHeader(areaViews(probe)).capacity;
  } finally {
    shm.unmap(probe);
  }
  return connect({ capacity, dataoutPath, datainPath: join(dir, 'datain') }, options);
}

/**
 * Connect to a sealed-memory region from its two descriptors (dataout, datain)
 * inherited from the process that received them from vFunD (a parent passing
 * them in `stdio`), reading the capacity from dataout's header. The
 * descriptors are closed once mapped.
 */
export function connectFds(dataoutFd: number, datainFd: number, options: ClientOptions = {}): ChannelClient {
  const shm = requireShm();
  const probe = shm.mapFd(dataoutFd, HEADER_BYTES, false);
  let capacity: number;
  try {
    capacity = readHeader(areaViews(probe)).capacity;
  } finally {
    shm.unmap(probe);
  }
  return connect({ capacity, dataoutFd, datainFd, received: true }, options);
}
