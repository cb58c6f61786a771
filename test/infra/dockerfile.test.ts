/**
 * The worker image cannot be built here (no Docker daemon, no GPU), so its Dockerfile is checked
 * by reading: the CUDA/cuDNN base the ONNX Runtime CUDA provider needs, Node 22, the one explicit
 * CUDA-provider install, a non-root user, the heartbeat health check (the same as ECS runs), and
 * a CMD that points at what `npm run build` produces. Also the build context (.dockerignore).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { IgnoreStrategy } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { HEALTH_CHECK_COMMAND, WORKER_DOCKERFILE } from '../../infra/lib/workers.js';
import {
  blazeFaceModelPath,
  faceBoxesModelPath,
  fullRangeModelPath,
  retinaFaceModelPath,
} from '../../gpu-task/src/photo/index.js';
import { REPO_ROOT } from './helpers.js';

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions of a Dockerfile: comments dropped, `\` continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logical.push(current + line);
    current = '';
  }
  return logical.map((line) => {
    const [keyword = '', ...rest] = line.split(/\s+/);
    return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
  });
}

const dockerfile = parseDockerfile(readFileSync(path.join(REPO_ROOT, WORKER_DOCKERFILE), 'utf8'));

/** Default value of a global `ARG NAME=value`. */
function argDefault(name: string): string | undefined {
  const arg = dockerfile.find(
    (instruction) => instruction.keyword === 'ARG' && instruction.args.startsWith(`${name}=`),
  );
  return arg?.args.slice(name.length + 1);
}

/** Instructions of the last stage (the image that runs). */
function finalStage(): Instruction[] {
  const lastFrom = dockerfile.map((instruction) => instruction.keyword).lastIndexOf('FROM');
  return dockerfile.slice(lastFrom);
}

describe('gpu-task/Dockerfile', () => {
  it("keeps the face detectors' graphs in an image built without baked models", () => {
    // Prepare: the folders the photo stage loads its detectors from, whatever model it runs
    const detectorFolders = [
      blazeFaceModelPath(),
      faceBoxesModelPath(),
      fullRangeModelPath(),
      retinaFaceModelPath(),
    ].map((file) => path.basename(path.dirname(file)));
    // Act: the step that empties gpu-task/models when DR2E_BAKE_MODELS is not true
    const pruning = dockerfile.find(
      (instruction) => instruction.keyword === 'RUN' && instruction.args.includes('DR2E_BAKE_MODELS'),
    );
    // Assess
    expect(pruning?.args).toContain('find gpu-task/models');
    for (const folder of detectorFolders) expect(pruning!.args, folder).toContain(`! -name ${folder}`);
  });

  it('runs on a CUDA 13 + cuDNN 9 runtime base (what the onnxruntime-node 1.30 CUDA provider loads) with Node 22', () => {
    // Act
    const [from] = finalStage();
    const cudaImage = argDefault('CUDA_IMAGE');
    // Assess
    expect(from?.args).toBe('${CUDA_IMAGE} AS runtime');
    expect(cudaImage).toMatch(/^nvidia\/cuda:13\.\d+\.\d+-cudnn-runtime-ubuntu24\.04$/);
    expect(finalStage()).toContainEqual(
      expect.objectContaining({
        keyword: 'ENV',
        args: expect.stringContaining('NVIDIA_REQUIRE_CUDA="cuda>=13.0"'),
      }),
    );
    expect(argDefault('NODE_IMAGE')).toMatch(/^node:22[-.]/);
    expect(finalStage()).toContainEqual({
      keyword: 'COPY',
      args: '--from=node /usr/local/bin/node /usr/local/bin/node',
    });
    const onnxVersion = (
      JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
        dependencies: Record<string, string>;
      }
    ).dependencies['onnxruntime-node'];
    expect(onnxVersion).toBe('1.30.0');
  });

  it('installs the CUDA provider explicitly once, after npm ci (the repository skips install scripts)', () => {
    const runs = dockerfile
      .filter((instruction) => instruction.keyword === 'RUN')
      .map((instruction) => instruction.args);
    const npmCi = runs.findIndex((run) => run.startsWith('npm ci'));
    const providerInstalls = runs
      .map((run, index) => ({ run, index }))
      .filter(({ run }) => run.includes('onnxruntime-node/script/install'));
    expect(readFileSync(path.join(REPO_ROOT, '.npmrc'), 'utf8')).toMatch(/^ignore-scripts=true$/m);
    expect(npmCi).toBeGreaterThanOrEqual(0);
    expect(providerInstalls.length).toBe(1);
    expect(providerInstalls[0]?.run).toMatch(
      /ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install\.js/,
    );
    expect(providerInstalls[0]?.run).toContain('libonnxruntime_providers_cuda.so');
    expect(providerInstalls[0]?.index).toBeGreaterThan(npmCi);
    expect(runs.some((run) => run.startsWith('npm run build'))).toBe(true);
    expect(runs.some((run) => run.startsWith('npm prune --omit=dev'))).toBe(true);
  });

  it('fails the build when ldd finds a library of the CUDA provider missing (only the host driver may be)', () => {
    // Act
    const stage = finalStage();
    const check = stage.find(
      (instruction) => instruction.keyword === 'RUN' && instruction.args.startsWith('ldd '),
    );
    const copyModules = stage.findIndex((instruction) => instruction.args.includes('/app/node_modules'));
    // Assess: in the runtime stage (the CUDA base), after node_modules arrived, failing on "not found".
    expect(check?.args).toContain('libonnxruntime_providers_cuda.so');
    expect(check?.args).toMatch(/grep 'not found'.*exit 1/);
    expect(check?.args).toContain("grep -v '^[[:space:]]*libcuda\\.so\\.1 '");
    expect(stage.indexOf(check!)).toBeGreaterThan(copyModules);
  });

  it('runs as a non-root user with the heartbeat health check ECS also runs', () => {
    const stage = finalStage();
    const user = stage.filter((instruction) => instruction.keyword === 'USER').at(-1);
    expect(user?.args).toMatch(/^[a-z_][a-z0-9_-]*(:[a-z_][a-z0-9_-]*)?$/);
    expect(user?.args.split(':')[0]).not.toMatch(/^(root|0)$/);
    const healthcheck = stage.find((instruction) => instruction.keyword === 'HEALTHCHECK');
    expect(healthcheck?.args).toContain(`CMD ${HEALTH_CHECK_COMMAND}`);
    expect(HEALTH_CHECK_COMMAND).toContain('/tmp/dr2e-worker-heartbeat');
    expect(HEALTH_CHECK_COMMAND).toContain('-lt 120');
  });

  it('starts the worker entry point that npm run build compiles', () => {
    // Prepare
    const cmd = finalStage().find((instruction) => instruction.keyword === 'CMD');
    const tsconfigBuild = JSON.parse(readFileSync(path.join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as {
      include: string[];
    };
    const tsconfig = JSON.parse(readFileSync(path.join(REPO_ROOT, 'tsconfig.json'), 'utf8')) as {
      compilerOptions: { outDir: string; rootDir: string };
    };
    // Act: the source file whose compiled output the CMD names.
    const [program, script] = JSON.parse(cmd?.args ?? '[]') as string[];
    const source = path.join(
      REPO_ROOT,
      tsconfig.compilerOptions.rootDir,
      path.relative(tsconfig.compilerOptions.outDir, script ?? '').replace(/\.js$/, '.ts'),
    );
    // Assess
    expect(program).toBe('node');
    expect(script).toBe('dist/gpu-task/src/worker/main.js');
    expect(existsSync(source)).toBe(true);
    expect(tsconfigBuild.include).toContain('gpu-task/src/**/*.ts');
  });

  it('builds only from files the .dockerignore allow-list lets into the context', () => {
    // Prepare
    const patterns = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    const ignore = IgnoreStrategy.docker(REPO_ROOT, patterns);
    const ignored = (relative: string) => ignore.ignores(path.join(REPO_ROOT, relative));
    // Act: every COPY from the context (not from another stage).
    const sources = dockerfile
      .filter((instruction) => instruction.keyword === 'COPY' && !instruction.args.startsWith('--from'))
      .flatMap((instruction) => instruction.args.split(/\s+/).slice(0, -1));
    // Assess
    expect(sources.length).toBeGreaterThan(4);
    for (const source of sources) {
      expect(existsSync(path.join(REPO_ROOT, source)), source).toBe(true);
      expect(ignored(source), source).toBe(false);
    }
    for (const inside of [
      'gpu-task/src/worker/main.ts',
      'shared/runtime/config.ts',
      'gpu-task/models/tiny/pipeline.json',
    ]) {
      expect(ignored(inside), inside).toBe(false);
    }
    for (const outside of [
      'node_modules/hono/package.json',
      'gpu-task/node_modules/x',
      '.data/jobs/x.json',
      'out/restored.png',
      'cdk.out/manifest.json',
      'dist/gpu-task/src/worker/main.js',
      '.git/HEAD',
      'test/fixtures/images/face.png',
      'models/train.py',
      'infra/bin/app.ts',
      'shared/src/job.test.ts',
    ]) {
      expect(ignored(outside), outside).toBe(true);
    }
  });
});
