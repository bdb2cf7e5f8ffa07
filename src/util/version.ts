/**
 * The version of this package, from its package.json (read once, next to
 * dist/ or src/ alike): what `vfun --version`, `vfun status` and the metrics
 * say.
 */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** The package's version (`0.1.0`), or `unknown` when its package.json cannot be read. */
export function packageVersion(): string {
  if (cached !== undefined) return cached;
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'virtfun' && typeof pkg.version === 'string') return (cached = pkg.version);
    } catch {
      // not there: the next candidate
    }
  }
  return (cached = 'unknown');
}
