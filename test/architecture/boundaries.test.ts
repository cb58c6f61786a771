/**
 * The import boundaries (.dependency-cruiser.mjs) hold on the tree, and they catch what they
 * claim to: a small tree laid out like the repository, with one file per kind of wrong import,
 * is cruised with the same rules and each bad import must be reported under its rule.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cruise, type IConfiguration, type ICruiseOptions, type IViolation } from 'dependency-cruiser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// The rule book is plain JavaScript (dependency-cruiser reads it as is); loaded by URL, typed here.
const { default: config } = (await import(
  pathToFileURL(path.join(repoRoot, '.dependency-cruiser.mjs')).href
)) as {
  default: IConfiguration;
};

async function violations(baseDir: string, dirs: string[], withTsConfig: boolean): Promise<IViolation[]> {
  const options: ICruiseOptions = {
    ...config.options,
    ...(withTsConfig ? {} : { tsConfig: undefined }),
    baseDir,
    validate: true,
    ruleSet: { forbidden: config.forbidden },
  };
  const previous = process.cwd();
  // dependency-cruiser reads tsconfig.json relative to the working directory.
  process.chdir(baseDir);
  try {
    const result = await cruise(dirs, options);
    if (typeof result.output === 'string') throw new Error('expected the JSON result of a cruise');
    return result.output.summary.violations;
  } finally {
    process.chdir(previous);
  }
}

const describeViolation = (v: IViolation) => `${v.rule.name}: ${v.from} -> ${v.to}`;

describe('the tree', () => {
  it('has no import that crosses a boundary the wrong way', async () => {
    const found = await violations(
      repoRoot,
      ['shared', 'functions', 'gpu-task', 'infra', 'scripts', 'test', 'bin'],
      true,
    );
    expect(found.map(describeViolation)).toEqual([]);
  });
});

describe('the rules on a tree with bad imports', () => {
  let dir = '';
  let found: string[] = [];

  /** Files of the fixture tree: path -> source. */
  const tree: Record<string, string> = {
    // Entries, so that the good imports below resolve.
    'shared/src/index.ts': "export * from './job.js';\n",
    'shared/src/job.ts': 'export const job = 1;\n',
    'shared/runtime/index.ts': "export * from './config.js';\n",
    'shared/runtime/config.ts': "import { job } from '../src/job.js';\nexport const config = job;\n",
    'gpu-task/src/engine/index.ts': "export * from './core.js';\nexport * from './dr2e-engine.js';\n",
    'gpu-task/src/engine/core.ts': "export * from './errors.js';\n",
    'gpu-task/src/engine/errors.ts': 'export class EngineError extends Error {}\n',
    'gpu-task/src/engine/dr2e-engine.ts':
      "import { photo } from '../photo/index.js';\nexport const engine = photo;\n",
    'gpu-task/src/photo/index.ts':
      "import { EngineError } from '../engine/core.js';\nexport const photo = EngineError;\n",
    'gpu-task/src/cli/main.ts':
      "import { evaluate } from '../eval/index.js';\nexport const main = evaluate;\n",
    'gpu-task/src/eval/index.ts': "export * from './evaluate.js';\n",
    'gpu-task/src/eval/evaluate.ts':
      "import { engine } from '../engine/index.js';\nexport const evaluate = engine;\n",
    'gpu-task/src/worker/index.ts': "export * from './worker.js';\n",
    // Good: through entries, in allowed directions.
    'gpu-task/src/worker/worker.ts':
      "import { engine } from '../engine/index.js';\nimport { job } from '../../../shared/src/index.js';\nexport const worker = [engine, job];\n",
    // Packages the rules name (the real tree's node_modules is not beside the fixture).
    'node_modules/@aws-sdk/client-s3/package.json': '{"name":"@aws-sdk/client-s3","main":"index.js"}\n',
    'node_modules/@aws-sdk/client-s3/index.js': 'export const S3Client = 1;\n',
    'node_modules/hono/package.json': '{"name":"hono","main":"index.js"}\n',
    'node_modules/hono/index.js': 'export const Hono = 1;\n',
    'node_modules/sharp/package.json': '{"name":"sharp","main":"index.js"}\n',
    'node_modules/sharp/index.js': 'export default 1;\n',
    // Good: process launch on Node built-ins, through its entry.
    'gpu-task/src/launch/index.ts': "export * from './huge-pages.js';\n",
    'gpu-task/src/launch/huge-pages.ts':
      "import { spawn } from 'node:child_process';\nexport const relaunch = spawn;\n",
    // Good: the playground's browser code takes the format sniffer from its own module.
    'shared/src/image/formats.ts': 'export const formats = 1;\n',
    'functions/src/playground/client/photo.ts':
      "import { formats } from '../../../../shared/src/image/formats.js';\nexport const photo = formats;\n",
    // Good: a test of the engine may import engine internals.
    'test/engine/errors.test.ts':
      "import { EngineError } from '../../gpu-task/src/engine/errors.js';\nexport const e = EngineError;\n",

    // Bad: a deep import of the domain from the API.
    'functions/src/services/deep.ts':
      "import { job } from '../../../shared/src/job.js';\nexport const deep = job;\n",
    // Bad: the playground's browser code reaching into the domain beyond the sniffer.
    'functions/src/playground/client/deep.ts':
      "import { job } from '../../../../shared/src/job.js';\nexport const deep = job;\n",
    // Bad: the API reaching into the GPU task.
    'functions/src/services/engine-user.ts':
      "import { engine } from '../../../gpu-task/src/engine/index.js';\nexport const user = engine;\n",
    // Bad: the domain importing a Node module.
    'shared/src/fs-user.ts': "import { readFile } from 'node:fs/promises';\nexport const read = readFile;\n",
    // Bad: the domain importing runtime wiring.
    'shared/src/wiring.ts': "import { config } from '../runtime/index.js';\nexport const wiring = config;\n",
    // Bad: the evaluation importing the CLI.
    'gpu-task/src/eval/uses-cli.ts': "import { main } from '../cli/main.js';\nexport const run = main;\n",
    // Bad: the worker importing the CLI.
    'gpu-task/src/worker/uses-cli.ts': "import { main } from '../cli/main.js';\nexport const run = main;\n",
    // Bad: the photo stage importing the engine's index (closes engine -> photo -> engine).
    'gpu-task/src/photo/full-engine.ts':
      "import { engine } from '../engine/index.js';\nexport const full = engine;\n",
    // Bad: a worker test importing engine internals (only the engine's own tests may).
    'test/worker/engine-internals.test.ts':
      "import { EngineError } from '../../gpu-task/src/engine/errors.js';\nexport const e = EngineError;\n",
    // Bad: the engine importing the AWS SDK.
    'gpu-task/src/engine/aws-user.ts':
      "import { S3Client } from '@aws-sdk/client-s3';\nexport const s3 = S3Client;\n",
    // Bad: the photo stage importing an HTTP framework.
    'gpu-task/src/photo/http-user.ts': "import { Hono } from 'hono';\nexport const app = Hono;\n",
    // Bad: process launch loading a package (entry points import it before anything heavy).
    'gpu-task/src/launch/heavy.ts': "import sharp from 'sharp';\nexport const image = sharp;\n",
    // Bad: a runtime import cycle.
    'gpu-task/src/worker/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
    'gpu-task/src/worker/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'dr2e-boundaries-'));
    for (const [file, source] of Object.entries(tree)) {
      await mkdir(path.join(dir, path.dirname(file)), { recursive: true });
      await writeFile(path.join(dir, file), source);
    }
    found = (await violations(dir, ['shared', 'functions', 'gpu-task', 'test'], false)).map(
      describeViolation,
    );
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['entry-only: shared domain: functions/src/services/deep.ts -> shared/src/job.ts'],
    [
      'entry-only: shared domain, from the playground page: functions/src/playground/client/deep.ts -> shared/src/job.ts',
    ],
    [
      'API does not import the GPU task: functions/src/services/engine-user.ts -> gpu-task/src/engine/index.ts',
    ],
    ['domain is runtime-neutral: shared/src/fs-user.ts -> fs/promises'],
    ['domain imports no adapters: shared/src/wiring.ts -> shared/runtime/index.ts'],
    [
      'evaluation imports no entry points or services: gpu-task/src/eval/uses-cli.ts -> gpu-task/src/cli/main.ts',
    ],
    ['nothing imports the CLI: gpu-task/src/worker/uses-cli.ts -> gpu-task/src/cli/main.ts'],
    [
      'photo stage depends on engine core and shared domain only: gpu-task/src/photo/full-engine.ts -> gpu-task/src/engine/index.ts',
    ],
    ['entry-only: engine: test/worker/engine-internals.test.ts -> gpu-task/src/engine/errors.ts'],
    ['no import cycles: gpu-task/src/worker/a.ts -> gpu-task/src/worker/b.ts'],
    [
      'AWS SDK only in AWS adapters and entry points: gpu-task/src/engine/aws-user.ts -> node_modules/@aws-sdk/client-s3/index.js',
    ],
    [
      'engine and photo stage are free of HTTP: gpu-task/src/photo/http-user.ts -> node_modules/hono/index.js',
    ],
    ['process launch imports only Node: gpu-task/src/launch/heavy.ts -> node_modules/sharp/index.js'],
  ])('reports %s', (expected) => {
    expect(found).toContain(expected);
  });

  it('reports nothing about the imports that follow the rules', () => {
    const good = [
      'gpu-task/src/worker/worker.ts',
      'test/engine/errors.test.ts',
      'gpu-task/src/cli/main.ts',
      'gpu-task/src/eval/evaluate.ts',
      'gpu-task/src/engine/dr2e-engine.ts',
      'gpu-task/src/photo/index.ts',
      'shared/runtime/config.ts',
      'gpu-task/src/launch/index.ts',
      'gpu-task/src/launch/huge-pages.ts',
      'functions/src/playground/client/photo.ts',
    ];
    expect(found.filter((line) => good.some((file) => line.includes(`: ${file} ->`)))).toEqual([]);
  });
});
