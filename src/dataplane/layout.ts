/**
 * The region layout: two areas per instance, `dataout` (written by the client:
 * command, seq, arguments) and `datain` (written by the service: status, ack
 * seq, error, result). Little-endian; each control group sits in its own
 * 64-byte cache line so client-written and service-written words never share
 * a line. Documented byte by byte in docs/region-format.md; keep both in step.
 *
 * Pure constants and arithmetic: no node:* imports.
 */

export const CACHE_LINE = 64;
export const REGION_VERSION = 1;
/** 'VFDO' read as a little-endian u32. */
export const DATAOUT_MAGIC = 0x4f444656;
/** 'VFDI' read as a little-endian u32. */
export const DATAIN_MAGIC = 0x49444656;
/** Header (line 0) + control line (1) + liveness line (2); payload starts here. */
export const HEADER_BYTES = 3 * CACHE_LINE;

/** Byte offsets of the header, the same in both areas (written once by vFunD at activation). */
export const HDR = {
  magic: 0, // u32
  version: 4, // u16
  headerBytes: 6, // u16: payload offset
  layoutHash: 8, // u32
  capacity: 12, // u32: payload capacity in bytes
} as const;

/** dataout byte offsets (client-written). */
export const OUT = {
  /** i32 request word: (seq << 4) | command. Written last, with a release store. */
  req: 64,
  /** u32 number of valid payload bytes. Written before `req`. */
  len: 68,
  /** i32: 1 while the client is blocked waiting on datain.state, else 0. */
  clientSleeping: 128,
  /** u32 client heartbeat counter. */
  heartbeat: 132,
  /** u32 client process id. */
  pid: 136,
  payload: HEADER_BYTES,
} as const;

/** datain byte offsets (service-written). */
export const IN = {
  /** i32 state word: (ackSeq << 4) | status. Written last, with a release store. */
  state: 64,
  /** u32 number of valid result bytes. */
  len: 68,
  /** u32 error code (ErrorCode) when status is ERROR, else 0. */
  error: 72,
  /** u32 number of requests served (done or error). */
  calls: 76,
  /** u32[8] error counters, indexed by ErrorCode (index 0 unused). */
  errorCounts: 80,
  /** i32: 1 while the service is blocked waiting on dataout.req, else 0. */
  serviceSleeping: 128,
  /** u32 service heartbeat counter. */
  heartbeat: 132,
  /** u32 service process id. */
  pid: 136,
  payload: HEADER_BYTES,
} as const;

/** Client commands (low 4 bits of the request word). */
export const Command = { NONE: 0, SET: 1, GET: 2, RST: 3 } as const;
export type Command = (typeof Command)[keyof typeof Command];

/** Service statuses (low 4 bits of the state word). */
export const Status = {
  WAIT: 1,
  BUSY: 2,
  DONE: 3,
  ERROR: 4,
  /** The tombstone vFunD writes when the instance is over (released, or its service died): no answer will come. */
  CLOSED: 5,
} as const;
export type Status = (typeof Status)[keyof typeof Status];

/** Error codes the service writes into datain.error. */
export const ErrorCode = {
  NONE: 0,
  /** The command field is not SET, GET or RST. */
  BAD_COMMAND: 1,
  /** dataout.len is larger than the region's capacity. */
  BAD_LENGTH: 2,
  /** The request seq is not the previous seq + 1 (mod 2^28). */
  BAD_SEQ: 3,
  /** The driver threw or crashed while computing. */
  DRIVER_FAULT: 4,
  /** The driver refused the arguments (wrong size or value). */
  BAD_INPUT: 5,
  /** GET before any successful SET (or after RST). */
  NO_RESULT: 6,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
/** The name of each ErrorCode value (`2` → `'BAD_LENGTH'`…): how counters and messages name a datain error code. */
export const ERROR_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(ErrorCode).map(([k, v]) => [v, k]),
);

/** Sequence numbers are 28 bits and wrap; only equality with the expected next value matters. */
export const SEQ_BITS = 28;
export const SEQ_MASK = (1 << SEQ_BITS) - 1;
export const nextSeq = (seq: number): number => (seq + 1) & SEQ_MASK;
export const packWord = (seq: number, low4: number): number => ((seq & SEQ_MASK) << 4) | (low4 & 0xf);
export const wordSeq = (word: number): number => (word >>> 4) & SEQ_MASK;
export const wordLow4 = (word: number): number => word & 0xf;

/** Largest payload capacity a region may be created with (16 MiB). */
export const MAX_CAPACITY = 16 * 1024 * 1024;

/** Bytes one area occupies for a payload capacity, rounded up to a cache line. */
export function areaBytes(capacity: number): number {
  return HEADER_BYTES + Math.ceil(capacity / CACHE_LINE) * CACHE_LINE;
}

/**
 * FNV-1a 32 of a canonical description of the layout. A peer compiled against
 * another layout sees a different hash in the header and refuses the region.
 */
export const LAYOUT_HASH: number = (() => {
  const desc = [
    `v${REGION_VERSION}`,
    `hdr:${Object.entries(HDR).map(([k, v]) => `${k}@${v}`).join(',')}`,
    `out:${Object.entries(OUT).map(([k, v]) => `${k}@${v}`).join(',')}`,
    `in:${Object.entries(IN).map(([k, v]) => `${k}@${v}`).join(',')}`,
    `seq:${SEQ_BITS}`,
  ].join(';');
  let h = 0x811c9dc5;
  for (let i = 0; i < desc.length; i++) {
    h ^= desc.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
})();

/** A 32-bit word as `0x` and 8 hex digits, for messages about magics and hashes. */
export function hex32(n: number): string {
  return '0x' + (n >>> 0).toString(16).padStart(8, '0');
}
