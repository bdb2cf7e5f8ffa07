/**
 * One property test of a driver of one's own, served the way vFunD serves
 * it: `checkDriver` starts a harness with the driver's module, opens a
 * vFunction, and for generated sequences of calls (and rst) checks that
 * each answer through the region equals the oracle's: the integrator's
 * `model`, or else the same driver called directly in this process. Inputs
 * of a size the driver's metadata refuses must come back as BAD_INPUT.
 * At the end the journal must verify and replay to the live state.
 *
 * Runs fast-check's `assert`: a failure throws with the seed and the
 * shrunk counterexample.
 */
import * as fc from 'fast-check';
import { isDriverDefinition, type DriverDefinition } from '../drivers/define.js';
import { DriverInputError, type FunctionDriver } from '../drivers/driver.js';
import { ServiceError } from '../dataplane/client.js';
import { ValidationError, VirtFunError } from '../errors.js';
import { badPayloadArb, payloadArb } from './arbitraries/payloads.js';
import { startHarness } from './harness.js';

/**
 * Options of `checkDriver`: where the services load the driver from, the model to compare with, and fast-check's run count and seed.
 */
export interface CheckDriverOptions {
  /** The modules the services load the driver from (the one that exports `definition`). */
  readonly driverModules: readonly string[];
  /**
   * The expected result of one call, when the test knows it (default: the driver itself, called in
   * this process). Throw DriverInputError for an input the driver must refuse (BAD_INPUT expected).
   */
  readonly model?: (input: Uint8Array) => Uint8Array;
  /** Sequences tried (default 50). */
  readonly numRuns?: number;
  /** Replays a failure (fast-check prints it). */
  readonly seed?: number;
  /** Cap on generated payloads in bytes (default 4096). */
  readonly maxBytes?: number;
  /** Region capacity (default 65536). */
  readonly capacity?: number;
  /** Directory relative module paths start from (default the working directory). */
  readonly baseDir?: string;
}

/** What the served driver or the oracle answered: the result's bytes, or the name of the error. */
type Outcome = { readonly ok: true; readonly bytes: string } | { readonly ok: false; readonly error: string };

type Op = { readonly op: 'call'; readonly input: Uint8Array; readonly bad: boolean } | { readonly op: 'rst' };

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Property-test `definition` as served through vFunD; throws (with fast-check's seed) on the first difference. */
export async function checkDriver(definition: DriverDefinition, options: CheckDriverOptions): Promise<void> {
  if (!isDriverDefinition(definition)) {
    const what = Array.isArray(definition) ? 'an array (a module\'s default export?): pass one of its drivers, e.g. import { reverse } from …' : typeof definition;
    throw new ValidationError('checkDriver', `the first argument must be one driver made by defineDriver; got ${what}`);
  }
  const meta = definition.meta;
  const capacity = options.capacity ?? 64 * 1024;
  const good = payloadArb(meta, { capacity, ...(options.maxBytes !== undefined && { maxBytes: options.maxBytes }) });
  const bad = badPayloadArb(meta, capacity);
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 8, arbitrary: good.map((input) => ({ op: 'call' as const, input, bad: false })) },
    ...(bad === null ? [] : [{ weight: 1, arbitrary: bad.map((input) => ({ op: 'call' as const, input, bad: true })) }]),
    { weight: 1, arbitrary: fc.constant({ op: 'rst' as const }) },
  );
  const harness = await startHarness({
    functions: { [meta.name]: { [meta.kind]: { slots: 1, driver: meta.name } } },
    driverModules: options.driverModules,
    regionCapacity: capacity,
    ...(options.baseDir !== undefined && { baseDir: options.baseDir }),
  });
  let oracle: FunctionDriver | null = null;
  try {
    const vf = await harness.open(meta.name, { kind: meta.kind });
    if (options.model === undefined) {
      oracle = await definition.create();
      await oracle.init({ capacity });
    }
    const out = new Uint8Array(capacity);
    const expected = async (input: Uint8Array): Promise<Outcome> => {
      try {
        if (options.model !== undefined) return { ok: true, bytes: hex(options.model(input)) };
        const n = await oracle!.call(input, out);
        return { ok: true, bytes: hex(out.subarray(0, n)) };
      } catch (err) {
        return { ok: false, error: err instanceof DriverInputError ? 'BAD_INPUT' : 'DRIVER_FAULT' };
      }
    };
    const served = (input: Uint8Array): Outcome => {
      try {
        return { ok: true, bytes: hex(vf.call(input)) };
      } catch (err) {
        if (err instanceof ServiceError) return { ok: false, error: err.errorName };
        throw err;
      }
    };
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
        vf.rst();
        await oracle?.reset();
        for (const o of ops) {
          if (o.op === 'rst') {
            vf.rst();
            await oracle?.reset();
            continue;
          }
          const got = served(o.input);
          if (o.bad) {
            if (got.ok || got.error !== 'BAD_INPUT') throw new VirtFunError('VALIDATION', `${meta.name}: an input of ${o.input.byteLength} bytes (accepted: ${meta.input.minBytes}..${meta.input.maxBytes}) was answered ${JSON.stringify(got)}, not BAD_INPUT`);
            continue;
          }
          const want = await expected(o.input);
          if (JSON.stringify(got) !== JSON.stringify(want)) {
            throw new VirtFunError('VALIDATION', `${meta.name}: input ${hex(o.input).slice(0, 64)} (${o.input.byteLength} bytes): served ${JSON.stringify(got).slice(0, 200)}, expected ${JSON.stringify(want).slice(0, 200)}`);
          }
        }
      }),
      { numRuns: options.numRuns ?? 50, ...(options.seed !== undefined && { seed: options.seed }) },
    );
    await vf.release();
    const check = await harness.check();
    if (!check.chainValid || !check.replayEqualsLive) throw new VirtFunError('JOURNAL_CORRUPT', `${meta.name}: the journal does not verify or replay: ${check.divergence ?? 'broken chain'}`);
  } finally {
    await oracle?.exit();
    await harness.stop();
  }
}
