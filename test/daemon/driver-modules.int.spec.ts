/**
 * `driverModules`: the load step lists each module in a child process and
 * checks the functions' drivers against what they define; a broken, hanging,
 * clashing or empty module is a ConfigError naming `driverModules.N` and the
 * module; the snapshot journals each module's URL, digest and drivers.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, toSnapshot } from '../../src/actors/config.js';
import { loadConfig } from '../../src/daemon/config.js';
import { restartNeeded } from '../../src/daemon/reload.js';

const FIXTURES = fileURLToPath(new URL('../drivers/fixtures/', import.meta.url));
const base = dirname(FIXTURES.replace(/\/$/, ''));

const config = (driver: string, driverModules: string[]) => ({
  tenants: [{ id: 't', secret: 'a-secret-of-sixteen+', maxInstances: 2 }],
  functions: [{ name: 'f', kinds: { sw: { slots: 2, driver } } }],
  driverModules,
});

async function problems(p: Promise<unknown>): Promise<string[]> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return [...(err as ConfigError).problems];
}

describe('driverModules', () => {
  it('parseConfig lets a name it does not know pass only when there are driver modules', () => {
    expect(() => parseConfig(config('reverse-test', []))).toThrow(/functions\.0\.kinds\.sw\.driver: unknown driver 'reverse-test'; known: factorial/);
    expect(parseConfig(config('reverse-test', ['./x.js'])).driverModules).toEqual(['./x.js']);
    expect(() => parseConfig(config('bad name!', ['./x.js']))).toThrow(/unknown driver 'bad name!'/);
  });

  it('loads a TypeScript module relative to the base directory: its drivers, their URL, the digest in the snapshot', async () => {
    const loaded = await loadConfig(config('reverse-test', ['./fixtures/reverse-drivers.ts']), base);
    const url = new URL('../drivers/fixtures/reverse-drivers.ts', import.meta.url).href;
    expect(loaded.driverModuleUrls).toEqual(new Map([['reverse-test', url], ['tally-test', url]]));
    const snap = toSnapshot(loaded);
    expect(snap.driverModules).toEqual([
      {
        specifier: './fixtures/reverse-drivers.ts',
        url,
        sha256: createHash('sha256').update(readFileSync(fileURLToPath(url))).digest('hex'),
        drivers: [
          { name: 'reverse-test', kind: 'sw', version: '1.0.0' },
          { name: 'tally-test', kind: 'sw', version: '0.1.0' },
        ],
      },
    ]);
    // Without driver modules the snapshot has no such field (journals written before them stay alike).
    expect('driverModules' in toSnapshot(await loadConfig(config('crc32', [])))).toBe(false);
  });

  it('refuses a driver no module defines, listing the modules\' names too', async () => {
    const p = await problems(loadConfig(config('nope', ['./fixtures/reverse-drivers.ts']), base));
    expect(p).toEqual([expect.stringMatching(/^functions\.0\.kinds\.sw\.driver: unknown driver 'nope'; known: factorial, .*reverse-test, tally-test$/)]);
  });

  it('refuses a module whose top-level code throws, naming the field, the module and its path', async () => {
    const p = await problems(loadConfig(config('reverse-test', ['./fixtures/reverse-drivers.ts', './fixtures/broken-driver.mjs']), base));
    expect(p).toEqual([expect.stringContaining(`driverModules.1: driver module './fixtures/broken-driver.mjs' (${FIXTURES}broken-driver.mjs): cannot be loaded: broken on purpose at load`)]);
  });

  it('refuses a module that hangs, within the timeout', async () => {
    const t0 = Date.now();
    const p = await problems(loadConfig(config('crc32', ['./fixtures/hanging-driver.mjs']), base, { driverModuleTimeoutMs: 1500 }));
    expect(p).toEqual([`driverModules.0: driver module './fixtures/hanging-driver.mjs' (${FIXTURES}hanging-driver.mjs): did not load within 1500 ms (its top-level code hangs?)`]);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('refuses a missing file, a module defining nothing, a built-in name and a name two modules define', async () => {
    const p = await problems(
      loadConfig(config('crc32', ['./fixtures/reverse-drivers.ts', './fixtures/none.mjs', './fixtures/empty-driver.mjs', './fixtures/clash-drivers.ts']), base),
    );
    expect(p).toEqual([
      `driverModules.1: driver module './fixtures/none.mjs' (${FIXTURES}none.mjs): no such file`,
      expect.stringMatching(/^driverModules\.2: driver module '\.\/fixtures\/empty-driver\.mjs' .*defines no driver: its default export is a function, the old factory form/),
      `driverModules.3: module './fixtures/clash-drivers.ts' defines 'crc32', the name of a built-in driver: give it another name`,
      `driverModules.3: module './fixtures/clash-drivers.ts' defines 'reverse-test', which module './fixtures/reverse-drivers.ts' (driverModules.0) defines too`,
    ]);
  });

  it('a package name resolves from the base directory through its exports', async () => {
    const p = await problems(loadConfig(config('crc32', ['no-such-driver-package']), base));
    expect(p).toEqual([expect.stringMatching(/^driverModules\.0: driver module 'no-such-driver-package': no package 'no-such-driver-package' in node_modules from /)]);
  });

  it('a reload cannot change the driver modules', async () => {
    const a = parseConfig(config('reverse-test', ['./fixtures/reverse-drivers.ts']));
    const b = parseConfig(config('reverse-test', ['./fixtures/reverse-drivers.ts', './other.js']));
    expect(restartNeeded(a, a, false)).toEqual([]);
    expect(restartNeeded(a, b, false)).toEqual(['driverModules: the driver modules are loaded and journaled when vFunD starts; restart vFunD to change them']);
  });
});
