/**
 * The paper's vFunctions as a driver module for vFunD (`driverModules`), so a
 * VM tenant can negotiate and call them through its window (`bench paper
 * --vm`): `paper-factorial` and `paper-fibonacci`, the same drivers the other
 * domains call (driver.ts: input [n u32 LE, reps u32 LE], f(n) computed reps
 * times, the u64 LE result of the last).
 */
import { defineDriver, type DriverDefinition } from '../drivers/define.js';
import { INPUT_BYTES, OUTPUT_BYTES, PAPER_FNS, PaperDriver, type PaperFn } from './driver.js';

function paperDefinition(fn: PaperFn): DriverDefinition {
  return defineDriver({
    name: `paper-${fn}`,
    version: '1',
    description: `${fn}(n) mod 2^64 computed reps times per call; input [n u32, reps u32]`,
    input: { minBytes: INPUT_BYTES, maxBytes: INPUT_BYTES },
    maxOutputBytes: OUTPUT_BYTES,
    create: () => new PaperDriver(fn),
  });
}

/** The definitions, one per function of the paper. */
export const PAPER_DRIVER_DEFINITIONS: readonly DriverDefinition[] = PAPER_FNS.map(paperDefinition);

export default PAPER_DRIVER_DEFINITIONS;
