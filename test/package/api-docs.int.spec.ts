/**
 * The API reference: TypeDoc over the package's entry points (typedoc.json) documents every public
 * export. Its validation (`notDocumented`, `treatWarningsAsErrors`) turns an undocumented export into
 * a failure here, so CI fails on one; the warnings are printed with the failure.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TYPEDOC = join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc');

interface TypedocConfig {
  readonly entryPoints: readonly string[];
  readonly validation: { readonly notDocumented?: boolean };
  readonly treatWarningsAsErrors?: boolean;
  readonly [option: string]: unknown;
}

const config = JSON.parse(readFileSync(join(ROOT, 'typedoc.json'), 'utf8')) as TypedocConfig;
const temps: string[] = [];

afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** TypeDoc's CLI from node_modules, checking only (`--emit none`): its exit status and what it reported, colours stripped. */
function typedoc(cwd: string, options: string): { status: number | null; report: string } {
  const r = spawnSync(process.execPath, [TYPEDOC, '--options', options, '--emit', 'none'], {
    cwd,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  const report = `${r.stdout}${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
  return { status: r.status, report };
}

/** The lines TypeDoc reported as warnings or errors. */
const problems = (report: string): string[] => report.split('\n').filter((l) => /^\[(warning|error)\]/.test(l));

describe('the API reference', () => {
  it('covers exactly the entry points of package.json "exports"', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, string | { default: string }> };
    const exported = Object.values(pkg.exports)
      .map((e) => (typeof e === 'string' ? e : e.default))
      .filter((p) => p.endsWith('.js'))
      .map((p) => p.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'))
      .sort();
    expect([...config.entryPoints].sort()).toEqual(exported);
  });

  it('fails on an undocumented export: validation is on and warnings are errors', () => {
    expect(config.validation.notDocumented).toBe(true);
    expect(config.treatWarningsAsErrors).toBe(true);
    // The project's settings over a module with one documented and one undocumented export.
    const dir = mkdtempSync(join(tmpdir(), 'virtfun-apidocs-'));
    temps.push(dir);
    writeFileSync(join(dir, 'index.ts'), '/** Documented. */\nexport const documented = 1;\nexport function undocumented(): number {\n  return 2;\n}\n');
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', noEmit: true }, files: ['index.ts'] }));
    const { $schema: _schema, ...options } = config;
    writeFileSync(join(dir, 'typedoc.json'), JSON.stringify({ ...options, entryPoints: ['index.ts'], tsconfig: 'tsconfig.json' }));
    const r = typedoc(dir, 'typedoc.json');
    expect(r.status, r.report).not.toBe(0);
    expect(problems(r.report).join('\n')).toMatch(/undocumented .*does not have any documentation/);
    expect(r.report).not.toMatch(/\bdocumented \(Variable\).*does not have/);
  });

  it('documents every public export: TypeDoc reports no warning and no error', () => {
    const r = typedoc(ROOT, 'typedoc.json');
    const found = problems(r.report);
    expect(found, `TypeDoc (npx typedoc --emit none) reported:\n${found.join('\n')}`).toEqual([]);
    expect(r.status, r.report).toBe(0);
  });
});
