/**
 * The project's architecture as dependency rules (README, "Layout"), checked by
 * dependency-cruiser over src/, simulator/, bench/ and examples/: by the unit
 * test test/scripts/dependencies.unit.spec.ts (so CI enforces them) and by
 * `npm run lint:deps`.
 *
 * Dependencies point down: cli → daemon → actors → machines/events/dataplane/drivers → domain.
 * Type-only imports count: a layer that needs another's types depends on it.
 */

/** Adapters of the events: the only part of src/events that does I/O. */
const EVENT_ADAPTERS = '^src/events/adapters/';
/** Entry points of vFunD, the command line and the daemon, which nothing below may import. */
const TOP = ['^src/actors/', '^src/control/', '^src/cli/', '^src/daemon/'];

/** The library's entry points (package.json "exports"): what a program that imports virtfun loads. */
const LIBRARY_ENTRIES = ['^src/index\\.ts$', '^src/api/[^/]+\\.ts$', '^simulator/index\\.ts$'];
/**
 * Packages only the `vfun` binary (commander, cli-progress, cli-table3) or the paper's figures (vega,
 * vega-lite: optional peer dependencies, imported lazily) need (README, "Dependencies and why").
 */
const CLI_AND_FIGURE_PACKAGES = '^node_modules/(commander|cli-progress|cli-table3|vega|vega-lite)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No module imports itself through others: every folder can be read, tested and replaced from the bottom up.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-orphans',
      severity: 'error',
      comment: 'A module of src/ nobody imports and that imports nothing is dead code (or an entry point that should say so here).',
      from: { orphan: true, path: '^src/' },
      to: {},
    },
    {
      name: 'pure-core-no-node',
      severity: 'error',
      comment: 'The machines and the core of the events (not their adapters) are pure: no node:* module.',
      from: { path: ['^src/machines/', '^src/events/[^/]+$', '^src/domain/'] },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'pure-core-no-adapters',
      severity: 'error',
      comment: 'The machines and the core of the events never reach an I/O adapter.',
      from: { path: ['^src/machines/', '^src/events/[^/]+$', '^src/domain/'] },
      to: { path: EVENT_ADAPTERS },
    },
    {
      name: 'domain-is-the-bottom',
      severity: 'error',
      comment: "src/domain/ is the shared vocabulary: it imports nothing of the project's but itself.",
      from: { path: '^src/domain/' },
      to: { path: '^(src|simulator)/', pathNot: '^src/domain/' },
    },
    {
      name: 'only-cli-imports-cli',
      severity: 'error',
      comment: 'The command line is the top: nothing imports src/cli/ but src/cli/ (tests and benchmarks may).',
      from: { pathNot: ['^src/cli/', '^test/', '^bench/'] },
      to: { path: '^src/cli/' },
    },
    {
      name: 'drivers-below-vfund',
      severity: 'error',
      comment: 'Drivers compute; they know nothing of vFunD, its control channel, the command line or the daemon.',
      from: { path: '^src/drivers/' },
      to: { path: TOP },
    },
    {
      name: 'dataplane-below-vfund',
      severity: 'error',
      comment: 'The data plane (regions, channel, services) knows nothing of vFunD, its control channel, the CLI, the daemon or the journal adapters.',
      from: { path: '^src/dataplane/' },
      to: { path: [...TOP, EVENT_ADAPTERS] },
    },
    {
      name: 'guest-is-not-the-host',
      severity: 'error',
      comment: "The guest library runs in the guest: it never imports vFunD's actors, the daemon or the CLI.",
      from: { path: '^src/guest/' },
      to: { path: ['^src/actors/', '^src/daemon/', '^src/cli/'] },
    },
    {
      name: 'simulator-is-a-device',
      severity: 'error',
      comment: "The FPGA simulator models a device: it never imports vFunD's actors or the CLI.",
      from: { path: '^simulator/' },
      to: { path: ['^src/actors/', '^src/cli/'] },
    },
    {
      name: 'src-does-not-import-tests-or-benchmarks',
      severity: 'error',
      comment: 'The product never depends on its tests or its developer benchmarks.',
      from: { path: '^src/' },
      to: { path: ['^test/', '^bench/'] },
    },
    {
      name: 'library-entries-without-cli-or-figure-packages',
      severity: 'error',
      comment:
        "No library entry point (virtfun, virtfun/daemon, /journal, /dataplane, /simulator, /testing) reaches the command line's packages or the figures' optional vega and vega-lite, even through a type.",
      from: { path: LIBRARY_ENTRIES },
      to: { path: CLI_AND_FIGURE_PACKAGES, reachable: true },
    },
    {
      name: 'guest-entry-without-zod',
      severity: 'error',
      comment:
        "The guest's entry point (virtfun) never loads zod, which only the host side uses to validate (control requests, configuration): a guest imports in a fraction of the time.",
      from: { path: '^src/index\\.ts$' },
      to: { path: '^node_modules/zod/', reachable: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^dist/', '^native/build/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
