/**
 * The example's property tests, as an integrator writes them: each driver of
 * reverse.ts property-tested as vFunD serves it (checkDriver: generated calls
 * and rst through a real region, bad sizes answered BAD_INPUT, the journal
 * verified and replayed), and the harness used directly for what the
 * property does not say (two instances of `tally` count apart).
 *
 * In your own project, import from the package: `from 'virtfun/testing'` and
 * `from 'virtfun/daemon'`.
 */
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { checkDriver, startHarness } from '../../src/api/testing.js';
import { DriverInputError } from '../../src/api/daemon.js';
import { reverse, tally } from './reverse.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const modules = { driverModules: ['./reverse.ts'], baseDir: here };

test('reverse returns the bytes in reverse order, and refuses an input starting with 0x00', async () => {
  await checkDriver(reverse, {
    ...modules,
    model: (input) => {
      if (input[0] === 0) throw new DriverInputError('starts with 0x00');
      return input.slice().reverse();
    },
  });
});

test('tally served through vFunD counts as the driver itself does, rst included', async () => {
  await checkDriver(tally, { ...modules, numRuns: 30 });
});

test('two instances of tally count apart', async () => {
  await using h = await startHarness({ functions: { tally: 'tally' }, ...modules });
  const [a, b] = [await h.open('tally'), await h.open('tally')];
  const u32 = (r: Uint8Array) => new DataView(r.buffer, r.byteOffset, 4).getUint32(0, true);
  a.call(new Uint8Array(3));
  expect(u32(a.call(new Uint8Array(2)))).toBe(5);
  expect(u32(b.call(new Uint8Array(7)))).toBe(7);
  await a.release();
  await b.release();
  expect(await h.check()).toMatchObject({ chainValid: true, replayEqualsLive: true });
});
