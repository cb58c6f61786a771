/**
 * The Lambda entry points bundle (esbuild, as the CDK stack bundles them) without the GPU
 * side's native modules: the API and the dispatcher must not pull sharp or onnxruntime in.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let outdir: string;

beforeAll(async () => {
  outdir = await mkdtemp(path.join(tmpdir(), 'dr2e-bundle-'));
});

afterAll(async () => {
  await rm(outdir, { recursive: true, force: true });
});

describe('Lambda bundles', () => {
  it.each(['functions/src/entry/lambda-http.ts', 'functions/src/entry/lambda-s3-events.ts'])(
    '%s bundles without sharp, onnxruntime or the engine',
    async (entry) => {
      // Act
      const result = await build({
        entryPoints: [path.join(repoRoot, entry)],
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'esm',
        outdir,
        metafile: true,
        logLevel: 'silent',
        // The Lambda runtime provides the AWS SDK v3; CDK's NodejsFunction externalises it too.
        external: ['@aws-sdk/*'],
      });
      // Assess
      const inputs = Object.keys(result.metafile.inputs);
      expect(inputs.some((input) => input.includes('functions/src/app.ts'))).toBe(true);
      const forbidden = inputs.filter((input) =>
        /node_modules\/(sharp|onnxruntime-node|onnxruntime-common|heic-decode)\/|gpu-task\/src\/engine\/(model|sampler|image\/decode)/.test(
          input,
        ),
      );
      expect(forbidden).toEqual([]);
    },
  );
});
