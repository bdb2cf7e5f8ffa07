/**
 * The data plane: the region (dataout/datain), the client and service ends of
 * the channel, wait strategies, and the in-process (SharedArrayBuffer +
 * worker thread) service host. Byte layout: docs/region-format.md.
 */
export {
  CACHE_LINE,
  Command,
  DATAIN_MAGIC,
  DATAOUT_MAGIC,
  ERROR_NAMES,
  ErrorCode,
  HDR,
  HEADER_BYTES,
  IN,
  LAYOUT_HASH,
  MAX_CAPACITY,
  OUT,
  REGION_VERSION,
  SEQ_BITS,
  SEQ_MASK,
  Status,
  areaBytes,
  nextSeq,
  packWord,
  wordLow4,
  wordSeq,
} from './layout.js';
export {
  I32,
  areaViews,
  checkCapacity,
  checkHeader,
  createSabRegion,
  initRegion,
  payloadView,
  readHeader,
  sabChannel,
  writeHeader,
} from './region.js';
export type { AreaName, AreaViews, ChannelAreas, RegionHeader, SabRegion } from './region.js';
export { DEFAULT_SPIN_MICROS, DEFAULT_STRATEGY, WAIT_STRATEGIES, Waiter, isWaitStrategy, sabWaitOps } from './wait.js';
export type { WaitOps, WaitStrategy, WaiterOptions } from './wait.js';
export { ChannelClient, DEFAULT_TIMEOUT_MS, ServiceError } from './client.js';
export type { ClientOptions } from './client.js';
export { CONTROL, CONTROL_BYTES, ChannelService, ERROR_NAME_LIST, MAX_ERROR_MESSAGE, readStats } from './service.js';
export type { ErrorName, ServiceLoopOptions, ServiceStats } from './service.js';
export { startService } from './service-host.js';
export type { ServiceExit, ServiceHandle, StartServiceOptions } from './service-host.js';
