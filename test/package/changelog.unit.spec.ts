/**
 * The changelog and the license ship with the package and follow the rules CHANGELOG.md states:
 * a section for package.json's version, dated, below an Unreleased section.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { version: string; license: string; files: string[] };
const changelog = readFileSync(new URL('CHANGELOG.md', root), 'utf8');

/** The `## ` headings of the changelog, in order. */
function sections(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('## ')).map((l) => l.slice(3).trim());
}

describe('CHANGELOG.md and LICENSE', () => {
  it("has an Unreleased section, then a dated section for package.json's version", () => {
    const versions = sections(changelog).filter((s) => s !== 'How entries are added');
    expect(versions[0]).toBe('Unreleased');
    const released = versions.slice(1);
    expect(released.length).toBeGreaterThan(0);
    for (const s of released) expect(s).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)? - \d{4}-\d{2}-\d{2}$/);
    expect(released[0]!.split(' - ')[0]).toBe(pkg.version);
  });

  it('the license is the one package.json names, and both files are in the package', () => {
    expect(pkg.license).toBe('MIT');
    const license = readFileSync(new URL('LICENSE', root), 'utf8');
    expect(license.startsWith('MIT License\n')).toBe(true);
    expect(license).toMatch(/^Copyright \(c\) \d{4} The VirtFun authors$/m);
    expect(pkg.files).toEqual(expect.arrayContaining(['CHANGELOG.md', 'LICENSE']));
  });
});
