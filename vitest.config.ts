import { readdirSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

/**
 * Test tiers, by file name (a new test lands in a tier by how it is named):
 *
 * - unit  `*.unit.spec.ts`  Node, the native addon (`npm install` builds it) and what every
 *         Debian machine with node-gyp's C toolchain has (scripts/system-packages.json: `machine`
 *         and `debian`). No NATS server, no QEMU, no busybox, no network, no root, no build of
 *         dist/, and no global state left behind: `npm run test:unit`.
 * - int   `*.int.spec.ts`   real servers and programs installed by pretest (nats-server,
 *         busybox-static, QEMU under TCG), Debian's kernel fetched with apt-get, cross-process
 *         shared memory, root for a few (a tmpfs to fill): `npm run test:int`.
 * - e2e   `*.e2e.spec.ts`   the built `vfun` command and daemon as a user runs them, VMs, OS
 *         users when root: `npm run test:e2e`.
 *
 * `npm test` runs all three. A spec file in no tier would silently never run: refused here.
 */
const TIERS = ['unit', 'int', 'e2e'] as const;

const specs = readdirSync(new URL('./test', import.meta.url), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.spec.ts'));
const untiered = specs.filter((f) => !TIERS.some((t) => f.endsWith(`.${t}.spec.ts`)));
if (untiered.length > 0) {
  throw new Error(`test files in no tier (name them *.unit.spec.ts, *.int.spec.ts or *.e2e.spec.ts): ${untiered.map((f) => `test/${f}`).join(', ')}`);
}

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: TIERS.map((name) => ({
      extends: true as const,
      // Unit tests share one module graph per worker (isolate: false): importing the sources once
      // instead of once per file is most of the tier's time (49 s -> 17 s on 2 cores). So a unit test
      // leaves no global state behind: what it changes (process.env, listeners) it restores.
      test: {
        name,
        // The examples' tests are written as an integrator writes them (`*.test.ts`): the int tier runs them.
        include: [`test/**/*.${name}.spec.ts`, ...(name === 'int' ? ['examples/**/*.test.ts'] : [])],
        ...(name === 'unit' && { isolate: false }),
      },
    })),
  },
});
