/**
 * Driver modules, the pure parts: which exports are definitions, the
 * problems of a catalogue (empty module, built-in name, a name two modules
 * define), which specifiers are paths, and a package's entry for import.
 */
import { describe, expect, it } from 'vitest';
import { defineDriver } from '../../src/drivers/define.js';
import { catalogueProblems, definitionsOf, DriverModuleError, nothingDefined } from '../../src/drivers/modules.js';
import { isPathSpecifier, packageEntry } from '../../src/drivers/module-import.js';
import { hasDriver } from '../../src/drivers/registry.js';

const def = (name: string) => defineDriver({ name, version: '1', description: 'd', input: { minBytes: 0, maxBytes: 8 }, maxOutputBytes: 8, call: () => 0 });

describe('definitionsOf', () => {
  it('takes the default export (one or an array) then the named ones, counting one definition once', () => {
    const [a, b, c] = [def('a'), def('b'), def('c')];
    expect(definitionsOf({ default: [a, b], b, c, other: 42 }, 'm', '/m.js').map((d) => d.meta.name)).toEqual(['a', 'b', 'c']);
    expect(definitionsOf({ default: a }, 'm', '/m.js')).toEqual([a]);
    expect(definitionsOf({ default: () => a, x: 'y' }, 'm', '/m.js')).toEqual([]);
  });

  it('refuses two different definitions of one name, naming the module and its path', () => {
    expect(() => definitionsOf({ default: def('a'), again: def('a') }, './m.js', '/abs/m.js')).toThrow(new DriverModuleError('./m.js', '/abs/m.js', "defines driver 'a' twice (two different definitions)"));
    let err: unknown = null;
    try {
      definitionsOf({ default: [def('a'), def('a')] }, './m.js', '/abs/m.js');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'DRIVER_MODULE', specifier: './m.js', path: '/abs/m.js' });
  });

  it('says what to export when a module defines nothing', () => {
    expect(nothingDefined({ default: () => undefined })).toMatch(/old factory form/);
    expect(nothingDefined({})).toMatch(/export defineDriver/);
  });
});

describe('catalogueProblems', () => {
  it('names an empty module, a built-in name and a name defined twice, each by its index', () => {
    const m = (specifier: string, ...names: string[]) => ({ specifier, drivers: names.map((n) => def(n).meta) });
    expect(catalogueProblems([m('./a.js', 'x', 'y'), m('./b.js'), m('pkg', 'crc32', 'y', 'z')], hasDriver)).toEqual([
      "driverModules.1: module './b.js' defines no driver",
      "driverModules.2: module 'pkg' defines 'crc32', the name of a built-in driver: give it another name",
      "driverModules.2: module 'pkg' defines 'y', which module './a.js' (driverModules.0) defines too",
    ]);
    expect(catalogueProblems([m('./a.js', 'x')], hasDriver)).toEqual([]);
  });
});

describe('specifiers and packages', () => {
  it('tells paths from package names', () => {
    for (const p of ['/abs/m.js', './m.ts', '../up/m.mjs', 'reverse.ts', 'dir/m.cjs']) expect(isPathSpecifier(p)).toBe(true);
    for (const p of ['my-drivers', '@acme/drivers', '@acme/drivers/sub', 'lodash']) expect(isPathSpecifier(p)).toBe(false);
  });

  it('follows exports (import, node, default), then main', () => {
    expect(packageEntry({ main: 'lib/x.js' }, '.')).toBe('lib/x.js');
    expect(packageEntry({}, '.')).toBe('index.js');
    expect(packageEntry({ exports: './e.js' }, '.')).toBe('./e.js');
    expect(packageEntry({ exports: { import: './i.mjs', require: './r.cjs' } }, '.')).toBe('./i.mjs');
    expect(packageEntry({ exports: { '.': { types: './t.d.ts', default: './d.js' }, './sub': { node: './n.js' } } }, './sub')).toBe('./n.js');
    expect(packageEntry({ exports: { '.': { require: './r.cjs' } } }, '.')).toBeNull();
    expect(packageEntry({ exports: { '.': './d.js' } }, './missing')).toBeNull();
  });
});
