/**
 * The architecture's dependency rules (.dependency-cruiser.cjs: no cycles, no
 * orphans, a pure core, the CLI at the top, drivers, data plane, guest and
 * simulator below vFunD) hold over src/, simulator/, bench/ and examples/.
 * `npm run lint:deps` runs the same check from the command line.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CRUISED = ['src', 'simulator', 'bench', 'examples'];

/** One line per violation: the rule, the importing module, what it imports (or the cycle). */
function describeViolation(v: IViolation): string {
  const via = v.cycle ? ` (cycle: ${[v.from, ...v.cycle.map((c) => c.name)].join(' → ')})` : '';
  return `${v.rule.name}: ${v.from}${v.to !== v.from ? ` → ${v.to}` : ''}${via}`;
}

async function cruiseProject(): Promise<ICruiseResult> {
  // Paths in the rules and in the result are relative to the project's root (baseDir), whatever the
  // working directory; so is the TypeScript configuration the imports resolve with.
  const tsConfigFile = join(ROOT, 'tsconfig.json');
  const options = { ...(await extractDepcruiseOptions(join(ROOT, '.dependency-cruiser.cjs'))), baseDir: ROOT, tsConfig: { fileName: tsConfigFile } };
  const tsConfig = extractTSConfig(tsConfigFile);
  const { output } = await cruise(CRUISED, options, {}, { tsConfig });
  if (typeof output === 'string') throw new Error(`dependency-cruiser gave text, not a result: ${output.slice(0, 200)}`);
  return output;
}

describe('dependency rules (.dependency-cruiser.cjs)', () => {
  it('hold: no violation anywhere', { timeout: 120_000 }, async () => {
    const result = await cruiseProject();
    // The cruise saw the project: every folder, and every import resolved to a file.
    const sources = result.modules.map((m) => m.source);
    for (const dir of CRUISED) expect(sources.some((s) => s.startsWith(`${dir}/`)), dir).toBe(true);
    const unresolved = result.modules.flatMap((m) => m.dependencies.filter((d) => d.couldNotResolve).map((d) => `${m.source} → ${d.module}`));
    expect(unresolved).toEqual([]);
    expect(result.summary.totalCruised).toBeGreaterThan(100);
    expect(result.summary.violations.map(describeViolation)).toEqual([]);
  });
});
