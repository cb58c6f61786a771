// @ts-check
/**
 * Import boundaries between the areas of the code base, checked by dependency-cruiser
 * (`npm run check:deps`, part of `npm run check` and so of `npm test`). README "Code layout and
 * boundaries" explains the layout; this file is the rule book.
 *
 * Two kinds of rule:
 * - **entry only**: code outside an area imports that area through its entry module, never a
 *   file beside it. Tests under `test/<area>/` (and benchmarks) may import their own area's
 *   internals; everything else, tests included, goes through entries.
 * - **direction**: which area may depend on which at all
 *   (infra -> functions/gpu-task -> engine/shared; photo -> engine core/shared; nothing imports
 *   the CLI or the local stack except scripts and tests, the evaluation only the CLI).
 *
 * Add an area by adding a row to AREAS; add an allowed dependency by editing FORBIDDEN_DIRECTIONS.
 */

/** Escape a repository-relative path for a dependency-cruiser regular expression. */
const re = (/** @type {string} */ path) => path.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
const under = (/** @type {string} */ dir) => `^${re(dir)}/`;
const exactly = (/** @type {string} */ file) => `^${re(file)}$`;

/**
 * @typedef {object} Area
 * @property {string} name
 * @property {string} dir        repository-relative folder
 * @property {string[]} entries  the files others may import
 * @property {string[]} insiders folders (besides `dir`) that may import the area's internals: its tests, benchmarks
 */

/** @type {Area[]} */
export const AREAS = [
  {
    name: 'shared domain',
    dir: 'shared/src',
    entries: ['shared/src/index.ts'],
    insiders: ['shared', 'test/shared'],
  },
  {
    name: 'shared local adapters',
    dir: 'shared/adapters/local',
    entries: ['shared/adapters/local/index.ts'],
    insiders: ['shared', 'test/shared'],
  },
  {
    name: 'shared AWS adapters',
    dir: 'shared/adapters/aws',
    entries: ['shared/adapters/aws/index.ts'],
    insiders: ['shared', 'test/shared'],
  },
  {
    name: 'shared Node adapters',
    dir: 'shared/adapters/node',
    entries: ['shared/adapters/node/index.ts'],
    insiders: ['shared', 'test/shared'],
  },
  {
    name: 'shared runtime wiring',
    dir: 'shared/runtime',
    entries: ['shared/runtime/index.ts'],
    insiders: ['shared', 'test/shared'],
  },
  {
    name: 'API',
    dir: 'functions/src',
    entries: ['functions/src/index.ts'],
    insiders: ['test/functions', 'functions/bench'],
  },
  {
    name: 'engine',
    dir: 'gpu-task/src/engine',
    // core.ts is for the photo stage only (see the photo rule below); everyone else uses index.ts.
    entries: ['gpu-task/src/engine/index.ts'],
    insiders: ['test/engine', 'gpu-task/bench'],
  },
  {
    name: 'photo stage',
    dir: 'gpu-task/src/photo',
    entries: ['gpu-task/src/photo/index.ts'],
    insiders: ['test/photo', 'gpu-task/bench'],
  },
  {
    name: 'worker',
    dir: 'gpu-task/src/worker',
    entries: ['gpu-task/src/worker/index.ts'],
    insiders: ['test/worker'],
  },
  {
    name: 'CLI',
    dir: 'gpu-task/src/cli',
    entries: ['gpu-task/src/cli/main.ts'],
    insiders: ['test/cli'],
  },
  {
    name: 'local stack',
    dir: 'gpu-task/src/local',
    entries: ['gpu-task/src/local/index.ts'],
    insiders: ['test/local'],
  },
  {
    name: 'process launch',
    dir: 'gpu-task/src/launch',
    entries: ['gpu-task/src/launch/index.ts'],
    insiders: ['test/launch'],
  },
  {
    name: 'evaluation',
    dir: 'gpu-task/src/eval',
    entries: ['gpu-task/src/eval/index.ts'],
    insiders: ['test/eval'],
  },
];

/**
 * The playground's browser code (bundled into the page) may take the image-format sniffer from
 * its own module as well: the shared index would bundle the domain's zod schemas (some 450 kB).
 */
const PLAYGROUND_CLIENT = under('functions/src/playground/client');
const SHARED_FORMATS = exactly('shared/src/image/formats.ts');

/** @type {import('dependency-cruiser').IForbiddenRuleType[]} */
const ENTRY_ONLY = AREAS.map((area) => ({
  name: `entry-only: ${area.name}`,
  comment: `Outside ${area.dir}/, import ${area.entries.join(' or ')}, not the files beside it (README "Code layout and boundaries").`,
  severity: 'error',
  from: {
    pathNot: [
      under(area.dir),
      ...area.insiders.map(under),
      ...(area.name === 'engine' ? [under('gpu-task/src/photo')] : []),
      ...(area.name === 'shared domain' ? [PLAYGROUND_CLIENT] : []),
    ],
  },
  to: { path: under(area.dir), pathNot: area.entries.map(exactly) },
}));
ENTRY_ONLY.push({
  name: 'entry-only: shared domain, from the playground page',
  comment:
    "The playground page imports shared/src/index.ts (for types) or the format sniffer's own module, not the other files beside them.",
  severity: 'error',
  from: { path: PLAYGROUND_CLIENT },
  to: { path: under('shared/src'), pathNot: [exactly('shared/src/index.ts'), SHARED_FORMATS] },
});

const SHARED_CODE = '^shared/';
const API = under('functions/src');
const ENGINE = under('gpu-task/src/engine');
const PHOTO = under('gpu-task/src/photo');
const WORKER = under('gpu-task/src/worker');
const CLI = under('gpu-task/src/cli');
const LOCAL = under('gpu-task/src/local');
const EVAL = under('gpu-task/src/eval');
const LAUNCH = under('gpu-task/src/launch');
const INFRA = '^infra/';
const TESTS = '^test/';
const SCRIPTS = '^scripts/';
const APPLICATION = [API, '^gpu-task/', INFRA, SCRIPTS, TESTS, '^bin/'];

/** @type {import('dependency-cruiser').IForbiddenRuleType[]} */
const FORBIDDEN_DIRECTIONS = [
  {
    name: 'shared imports no application code',
    comment:
      'shared/ is the bottom layer: the API, the GPU task and infra build on it, never the other way round.',
    severity: 'error',
    from: { path: SHARED_CODE },
    to: { path: APPLICATION },
  },
  {
    name: 'domain imports no adapters',
    comment: 'shared/src is the domain: ports, not their implementations; runtime wiring sits on top of it.',
    severity: 'error',
    from: { path: under('shared/src') },
    to: { path: [under('shared/adapters'), under('shared/runtime')] },
  },
  {
    name: 'domain is runtime-neutral',
    comment:
      'shared/src runs in Lambda, Node and edge runtimes: no AWS SDK, no node:* (adapters hold those).',
    severity: 'error',
    from: { path: under('shared/src') },
    to: { dependencyTypes: ['core'] },
  },
  {
    name: 'AWS SDK only in AWS adapters and entry points',
    comment:
      'The domain, the engine and the photo stage stay free of AWS; the SDK lives in adapters, runtime wiring and entry points.',
    severity: 'error',
    from: { path: [under('shared/src'), under('shared/adapters/local'), ENGINE, PHOTO] },
    to: { path: 'node_modules/@aws-sdk/' },
  },
  {
    name: 'engine and photo stage are free of HTTP',
    comment: 'The engine is a library: the worker, the CLI and tests call it the same way.',
    severity: 'error',
    from: { path: [ENGINE, PHOTO] },
    to: { path: ['node_modules/hono/', 'node_modules/@hono/'] },
  },
  {
    name: 'engine depends on shared domain and photo stage only',
    severity: 'error',
    from: { path: ENGINE },
    to: {
      path: [
        ...APPLICATION.filter((p) => p !== '^gpu-task/'),
        WORKER,
        CLI,
        LOCAL,
        EVAL,
        under('shared/adapters'),
        under('shared/runtime'),
      ],
    },
  },
  {
    name: 'photo stage depends on engine core and shared domain only',
    comment:
      'Dr2eEngine drives the photo stage, so the photo stage takes the engine building blocks from engine/core.ts (index.ts would close a cycle).',
    severity: 'error',
    from: { path: PHOTO },
    to: {
      path: [
        ...APPLICATION.filter((p) => p !== '^gpu-task/'),
        WORKER,
        CLI,
        LOCAL,
        EVAL,
        ENGINE,
        under('shared/adapters'),
        under('shared/runtime'),
      ],
      pathNot: [exactly('gpu-task/src/engine/core.ts')],
    },
  },
  {
    name: 'API does not import the GPU task',
    comment: 'The API and the GPU task meet in shared/ (schemas, ports, queue messages), not in each other.',
    severity: 'error',
    from: { path: API },
    to: { path: ['^gpu-task/', INFRA] },
  },
  {
    name: 'worker imports neither the API nor the entry points',
    severity: 'error',
    from: { path: WORKER },
    to: { path: [API, CLI, LOCAL, EVAL, INFRA] },
  },
  {
    name: 'nothing imports the CLI',
    comment: 'The CLI is an entry point: bin/dr2e.js launches its build, tests and scripts drive it.',
    severity: 'error',
    from: { pathNot: [CLI, TESTS, SCRIPTS, '^bin/'] },
    to: { path: CLI },
  },
  {
    name: 'nothing imports the local stack',
    comment:
      'The local stack (`npm start`) is an entry point: the demo script and the end-to-end tests drive it.',
    severity: 'error',
    from: { pathNot: [LOCAL, TESTS, SCRIPTS] },
    to: { path: LOCAL },
  },
  {
    name: 'only the CLI imports the evaluation',
    comment: 'The evaluation is a tool (`dr2e eval`), never part of a service.',
    severity: 'error',
    from: { pathNot: [EVAL, CLI, TESTS, SCRIPTS] },
    to: { path: EVAL },
  },
  {
    name: 'evaluation imports no entry points or services',
    comment: 'The evaluation measures the engine and the photo stage; it never imports the CLI that runs it.',
    severity: 'error',
    from: { path: EVAL },
    to: { path: [CLI, LOCAL, WORKER, API, INFRA] },
  },
  {
    name: 'CLI imports no services',
    comment: 'The CLI runs the engine in-process; the job API and the worker are not part of it.',
    severity: 'error',
    from: { path: CLI },
    to: { path: [API, WORKER, LOCAL, INFRA] },
  },
  {
    name: 'local stack imports no tools',
    severity: 'error',
    from: { path: LOCAL },
    to: { path: [CLI, EVAL, INFRA] },
  },
  {
    name: 'infra imports only runtime configuration',
    comment:
      'CDK names the entry files it bundles; it imports code only for the configuration schema it sets.',
    severity: 'error',
    from: { path: INFRA },
    to: { path: [API, '^gpu-task/', under('shared/src'), under('shared/adapters')] },
  },
  {
    name: 'process launch imports only Node',
    comment:
      'Entry points import it before anything heavy (it may relaunch the process): Node built-ins only.',
    severity: 'error',
    from: { path: LAUNCH },
    to: { pathNot: LAUNCH, dependencyTypesNot: ['core'] },
  },
  {
    name: 'production code does not import tests',
    severity: 'error',
    from: { pathNot: [TESTS] },
    to: { path: [TESTS] },
  },
  {
    name: 'no import cycles',
    comment:
      'A cycle makes module evaluation order matter. Type-only imports vanish at run time and may close one.',
    severity: 'error',
    from: {},
    to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
  },
  {
    name: 'imports resolve',
    comment: 'An import the checker cannot resolve is an import it cannot check.',
    severity: 'error',
    from: {},
    to: { couldNotResolve: true },
  },
];

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [...ENTRY_ONLY, ...FORBIDDEN_DIRECTIONS],
  options: {
    // Packages are reached but not followed. Excluding them would drop every import of one from
    // the graph, and with it the rules that name packages (AWS SDK, hono), which then pass on anything.
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^dist/', '^cdk\\.out/', '^models/', 'assets\\.generated\\.ts$'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts'],
    },
  },
};
