/** Model files from S3 (`DR2E_MODELS_S3_URI`), against s3rver on 127.0.0.1. */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dr2eEngine } from '../../gpu-task/src/engine/index.js';
import { silentLogger } from '../../shared/src/index.js';
import { downloadModels, ModelDownloadError, parseS3Uri } from '../../gpu-task/src/worker/model-download.js';
import { startAwsStandIns, type AwsStandIns } from '../shared/helpers/aws-standins.js';
import { TINY_MODEL } from './helpers/worker-env.js';

let aws: AwsStandIns;
let dir: string;

beforeAll(async () => {
  aws = await startAwsStandIns();
  dir = await mkdtemp(path.join(os.tmpdir(), 'dr2e-models-'));
});
afterAll(async () => {
  await aws.close();
  await rm(dir, { recursive: true, force: true });
});

describe('parseS3Uri', () => {
  it('splits bucket and prefix, adding the trailing slash', () => {
    expect(parseS3Uri('s3://models/dr2e/v3')).toEqual({ bucket: 'models', prefix: 'dr2e/v3/' });
    expect(parseS3Uri('s3://models/')).toEqual({ bucket: 'models', prefix: '' });
    expect(() => parseS3Uri('https://models/x')).toThrow(ModelDownloadError);
  });
});

describe('downloadModels', () => {
  it('mirrors the prefix into a folder the engine loads from', async () => {
    // Prepare: the tiny pipeline uploaded under a versioned prefix, plus an unrelated object.
    const bucket = await aws.createBucket();
    const source = path.dirname(TINY_MODEL);
    for (const name of await readdir(source)) {
      await aws.s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: `dr2e/v1/${name}`,
          Body: await readFile(path.join(source, name)),
        }),
      );
    }
    await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dr2e/v2/other.json', Body: '{}' }));
    const target = path.join(dir, 'v1');

    // Act
    const written = await downloadModels({
      s3: aws.s3,
      uri: `s3://${bucket}/dr2e/v1/`,
      dir: target,
      log: silentLogger,
    });
    const engine = await Dr2eEngine.load({ model: path.join(target, 'pipeline.json'), device: 'cpu' });

    // Assess: every file, nothing else, and the checksummed manifests load.
    expect(written.sort()).toEqual((await readdir(source)).sort());
    expect(engine.name).toBe('tiny');
    await engine.dispose();
  });

  it('refuses an empty prefix', async () => {
    const bucket = await aws.createBucket();
    await expect(
      downloadModels({
        s3: aws.s3,
        uri: `s3://${bucket}/nothing/`,
        dir: path.join(dir, 'empty'),
        log: silentLogger,
      }),
    ).rejects.toBeInstanceOf(ModelDownloadError);
  });
});
