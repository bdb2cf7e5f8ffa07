import { describe, expect, it } from 'vitest';
import { FIGURES_HINT, figureRenderer, isModuleNotFound, lines } from '../../src/paper/figures.js';

/** An importer for which `missing` is not installed, as Node reports it. */
function without(missing: string) {
  return async (name: string): Promise<unknown> => {
    if (name === missing) {
      const e = new Error(`Cannot find package '${name}' imported from /somewhere/figures.js`) as Error & { code: string };
      e.code = 'ERR_MODULE_NOT_FOUND';
      throw e;
    }
    return import(name);
  };
}

const spec = lines({ title: 't', values: [{ x: 1, y: 0.5, s: 'a' }, { x: 2, y: 1, s: 'a' }], x: 'x', xTitle: 'x', y: 'y', yTitle: 'y', series: 's' });

describe('figures (vega and vega-lite: optional peer dependencies)', () => {
  it('draws an SVG document when both are installed', async () => {
    const render = await figureRenderer();
    expect(render).not.toBeNull();
    const svg = await render!(spec);
    expect(svg.trimStart().startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  });

  it.each(['vega', 'vega-lite'])('gives no renderer when %s is not installed, and the hint says how to get one', async (name) => {
    expect(await figureRenderer(without(name))).toBeNull();
    expect(FIGURES_HINT).toContain('npm install vega@');
    expect(FIGURES_HINT).toContain('vega-lite@');
    expect(FIGURES_HINT.includes('\n')).toBe(false);
  });

  it('throws any other failure to load them (a broken install is not a missing one)', async () => {
    const broken = async (): Promise<unknown> => {
      throw new SyntaxError('Unexpected token in vega/build/vega.module.js');
    };
    await expect(figureRenderer(broken)).rejects.toThrow('Unexpected token');
  });

  it("recognizes Node's own error for a package that is not installed, by the package's name", async () => {
    const e = await import('virtfun-no-such-package-anywhere' as string).catch((x: unknown) => x);
    expect(isModuleNotFound(e, 'virtfun-no-such-package-anywhere')).toBe(true);
    expect(isModuleNotFound(e, 'vega')).toBe(false);
    expect(isModuleNotFound(new Error("Cannot find package 'vega'"), 'vega')).toBe(false); // no code
  });
});
