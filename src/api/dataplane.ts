/**
 * `virtfun/dataplane`: the shared-memory channel itself, for integrators who
 * host services or write guests of their own: regions (in-process, files,
 * sealed memory, an ivshmem window), the service and client ends, wait
 * strategies and the status and error codes (docs/region-format.md).
 *
 * Offsets and word packing stay internal: docs/region-format.md is the byte
 * contract for clients in other languages.
 */

// Codes on the wire
export { Command, Status, ErrorCode, ERROR_NAMES, MAX_CAPACITY, REGION_VERSION } from '../dataplane/layout.js';

// Regions
export { createSabRegion, sabChannel } from '../dataplane/region.js';
export type { SabRegion, ChannelAreas } from '../dataplane/region.js';
export { createFileRegion, mapFileRegion, isFileRegion } from '../dataplane/region-files.js';
export type { FileRegion, MappedRegion, RegionRole } from '../dataplane/region-files.js';
export { createMemfdRegion, mapFdRegion, isFdRegion, closeFdRegion } from '../dataplane/region-fds.js';
export type { FdRegion } from '../dataplane/region-fds.js';
export { mapWindowRegion, lookupWindowRegion, isWindowRegion } from '../dataplane/region-window.js';
export { WindowHost } from '../dataplane/window-host.js';
export type { WindowRegion } from '../dataplane/region-window.js';
export { mapRegion, isMappableRegion } from '../dataplane/region-map.js';
export type { MappableRegion } from '../dataplane/region-map.js';
export { shmAvailable, shmUnavailableReason } from '../native/shm.js';

// The two ends
export { ChannelClient, ServiceError, DEFAULT_TIMEOUT_MS } from '../dataplane/client.js';
export type { ClientOptions } from '../dataplane/client.js';
export { ChannelService, readStats } from '../dataplane/service.js';
export type { ServiceLoopOptions, ServiceStats, ErrorName } from '../dataplane/service.js';
export { startService } from '../dataplane/service-host.js';
export type { ServiceExit, ServiceHandle, StartServiceOptions } from '../dataplane/service-host.js';
export { connect, connectDir, connectFds } from '../guest/connect.js';

// Waiting
export { WAIT_STRATEGIES, DEFAULT_STRATEGY, DEFAULT_SPIN_MICROS, isWaitStrategy } from '../dataplane/wait.js';
export type { WaitStrategy } from '../dataplane/wait.js';
