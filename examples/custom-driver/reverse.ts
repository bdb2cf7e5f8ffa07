/**
 * A driver module of one's own, in TypeScript: two drivers described with
 * `defineDriver` and exported, for vFunD to list at start and its services to
 * build (docs/writing-a-driver.md).
 *
 *   reverse   the input's bytes in reverse order; refuses an input starting
 *             with 0x00 (a DriverInputError: the guest gets BAD_INPUT)
 *   tally     a driver with state: each call adds its input's length to a
 *             running count and returns it (u32 LE); `rst` sets it back to 0.
 *             Built by `create`, so every instance counts on its own.
 *
 * In your own project, import from the package: `from 'virtfun/daemon'`.
 * (This example sits inside VirtFun's sources, so it imports them directly.)
 */
import { defineDriver, DriverInputError, type FunctionDriver } from '../../src/api/daemon.js';

/** Largest input either driver takes, in bytes (the region's capacity may be larger; it is never smaller than an input). */
export const MAX_INPUT = 64 * 1024;

export const reverse = defineDriver({
  name: 'reverse',
  version: '1.0.0',
  description: 'the input bytes in reverse order',
  input: { minBytes: 1, maxBytes: MAX_INPUT },
  maxOutputBytes: MAX_INPUT,
  call(input, output) {
    if (input[0] === 0x00) throw new DriverInputError('reverse: an input starting with 0x00 is refused');
    const n = input.length;
    for (let i = 0; i < n; i++) output[i] = input[n - 1 - i]!;
    return n;
  },
});

const TALLY_META = {
  name: 'tally',
  kind: 'sw',
  version: '1.0.0',
  description: 'bytes seen since the last rst, as a u32 little-endian',
  input: { minBytes: 0, maxBytes: MAX_INPUT },
  maxOutputBytes: 4,
} as const;

/** One instance's count: its own object, so two guests' instances never share it. */
class Tally implements FunctionDriver {
  readonly meta = TALLY_META;
  private count = 0;
  init(): void {}
  call(input: Uint8Array, output: Uint8Array): number {
    if (input.length > TALLY_META.input.maxBytes) throw new DriverInputError(`tally: input is ${input.length} bytes, at most ${TALLY_META.input.maxBytes}`);
    this.count = (this.count + input.length) >>> 0;
    new DataView(output.buffer, output.byteOffset, 4).setUint32(0, this.count, true);
    return 4;
  }
  reset(): void {
    this.count = 0;
  }
  exit(): void {}
}

export const tally = defineDriver({ ...TALLY_META, create: () => new Tally() });

export default [reverse, tally];
