/**
 * crc32-batch: the CRC-32 of many messages in one call, an integer kernel
 * over independent blocks (one GPU invocation per message).
 *
 * Input:  count (u32 LE), lengths[count] (u32 LE each), then the messages
 *         concatenated, in order: 4 + 4·count + Σ lengths bytes exactly.
 *         Messages may be empty and start at any byte offset.
 * Output: crc[count] (u32 LE each): CRC-32 (IEEE 802.3, zlib's crc32) of
 *         each message; 4·count bytes. Compared exactly.
 */
import { crc32 as zlibCrc32 } from 'node:zlib';
import { DriverInputError } from '../driver.js';
import type { KernelTwin } from './twin.js';

/** Most messages in one call (the lengths table takes 4 MiB). */
export const CRC32_BATCH_MAX_COUNT = 1 << 20;
/** Largest input: 64 MiB (header, lengths and messages), well under a storage binding's guaranteed 128 MiB. */
export const CRC32_BATCH_MAX_INPUT = 64 << 20;

/** The messages of a crc32-batch input: where the data starts, and each message's length. */
export interface Crc32Batch {
  readonly count: number;
  /** Byte offset of the first message in the input (4 + 4·count). */
  readonly dataOffset: number;
  /** The lengths table, as the input carries it. */
  length(i: number): number;
}

/** Check `input` against the format. Throws DriverInputError naming the field and the limit. */
export function readCrc32Batch(input: Uint8Array): Crc32Batch {
  const len = input.byteLength;
  if (len < 4) throw new DriverInputError(`crc32-batch: input is ${len} bytes, at least 4 (the count as u32)`);
  if (len > CRC32_BATCH_MAX_INPUT) throw new DriverInputError(`crc32-batch: input is ${len} bytes, the limit is ${CRC32_BATCH_MAX_INPUT}`);
  const dv = new DataView(input.buffer, input.byteOffset, len);
  const count = dv.getUint32(0, true);
  if (count > CRC32_BATCH_MAX_COUNT) throw new DriverInputError(`crc32-batch: count is ${count}, the limit is ${CRC32_BATCH_MAX_COUNT}`);
  const dataOffset = 4 + 4 * count;
  if (len < dataOffset) throw new DriverInputError(`crc32-batch: input is ${len} bytes, the lengths table of count=${count} needs 4 + 4·count = ${dataOffset}`);
  let sum = 0; // at most 2^20 lengths below 2^32 each: exact in a double
  for (let i = 0; i < count; i++) sum += dv.getUint32(4 + 4 * i, true);
  if (sum !== len - dataOffset) throw new DriverInputError(`crc32-batch: the lengths sum to ${sum} bytes, the messages after the table are ${len - dataOffset} bytes`);
  return { count, dataOffset, length: (i) => dv.getUint32(4 + 4 * i, true) };
}

export const crc32Batch: KernelTwin = {
  name: 'crc32-batch',
  version: '1',
  description: 'CRC-32 (IEEE, zlib) of each of many messages: input count, lengths[count], the messages; output crc[count]',
  input: { minBytes: 4, maxBytes: CRC32_BATCH_MAX_INPUT },
  maxOutputBytes: 4 * CRC32_BATCH_MAX_COUNT,
  outputBytes(input) {
    return 4 * readCrc32Batch(input).count;
  },
  compute(input, output) {
    const batch = readCrc32Batch(input);
    const dv = new DataView(output.buffer, output.byteOffset, 4 * batch.count);
    let at = batch.dataOffset;
    for (let i = 0; i < batch.count; i++) {
      const n = batch.length(i);
      dv.setUint32(4 * i, zlibCrc32(input.subarray(at, at + n)), true);
      at += n;
    }
    return 4 * batch.count;
  },
  compare(input, expected, actual) {
    const { count } = readCrc32Batch(input);
    if (actual.byteLength !== 4 * count) return `crc32-batch: result is ${actual.byteLength} bytes, expected ${4 * count}`;
    const e = new DataView(expected.buffer, expected.byteOffset, expected.byteLength);
    const g = new DataView(actual.buffer, actual.byteOffset, actual.byteLength);
    for (let i = 0; i < count; i++) {
      const x = e.getUint32(4 * i, true);
      const y = g.getUint32(4 * i, true);
      if (x !== y) return `crc32-batch: crc[${i}] is 0x${y.toString(16).padStart(8, '0')}, expected 0x${x.toString(16).padStart(8, '0')}`;
    }
    return null;
  },
  work(input) {
    const { count, dataOffset } = readCrc32Batch(input);
    return { bytesIn: input.byteLength, bytesOut: 4 * count, ops: input.byteLength - dataOffset };
  },
};
