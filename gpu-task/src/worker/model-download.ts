/**
 * Fetching the model files from S3 at start (`DR2E_MODELS_S3_URI`), so one container image
 * serves any model: the prefix is mirrored into a local folder and `DR2E_MODEL` (default
 * `pipeline.json`) is read relative to it. The engine then checks the manifests and the ONNX
 * checksums they record when it loads.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../../../shared/src/index.js';

/** A model folder that could not be fetched (bad URI, empty prefix, unsafe key). */
export class ModelDownloadError extends Error {
  readonly code = 'model_download_failed';
  override readonly name = 'ModelDownloadError';
}

/** Bucket and key prefix of an `s3://bucket/prefix/` URI (the prefix ends with `/` or is empty). */
export function parseS3Uri(uri: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/(.*)$/.exec(uri);
  if (!match) throw new ModelDownloadError(`not an s3://bucket/prefix/ URI: ${uri}`);
  const rawPrefix = match[2] ?? '';
  return {
    bucket: match[1] ?? '',
    prefix: rawPrefix === '' || rawPrefix.endsWith('/') ? rawPrefix : `${rawPrefix}/`,
  };
}

export interface DownloadModelsOptions {
  s3: S3Client;
  /** `s3://bucket/prefix/` */
  uri: string;
  /** Local folder to fill (created; existing files with the same names are replaced). */
  dir: string;
  log: Logger;
}

/**
 * Copies every object under the prefix into `dir`, keeping the relative paths. Returns the
 * relative paths written.
 *
 * @throws {ModelDownloadError} when the prefix holds no files or a key would leave `dir`.
 * @example
 * ```ts
 * await downloadModels({ s3, uri: 's3://models-bucket/dr2e/v3/', dir: '/tmp/dr2e-models', log });
 * const engine = await Dr2eEngine.load({ model: '/tmp/dr2e-models/pipeline.json', device: 'cuda' });
 * ```
 */
export async function downloadModels(options: DownloadModelsOptions): Promise<string[]> {
  const { bucket, prefix } = parseS3Uri(options.uri);
  const root = path.resolve(options.dir);
  const written: string[] = [];
  const started = Date.now();
  let bytes = 0;
  let token: string | undefined;
  do {
    const page = await options.s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) {
      const key = object.Key;
      if (!key || key.endsWith('/')) continue; // folder markers
      const relative = key.slice(prefix.length);
      const target = path.resolve(root, relative);
      if (relative.split('/').includes('..') || !target.startsWith(root + path.sep)) {
        throw new ModelDownloadError(`refusing model key outside the folder: ${key}`);
      }
      await mkdir(path.dirname(target), { recursive: true });
      const response = await options.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!response.Body) throw new ModelDownloadError(`empty body for s3://${bucket}/${key}`);
      // Write beside, then rename: a crash never leaves a half file under the real name.
      const partial = `${target}.partial`;
      await pipeline(response.Body as Readable, createWriteStream(partial));
      await rename(partial, target);
      bytes += object.Size ?? 0;
      written.push(relative);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  if (written.length === 0) throw new ModelDownloadError(`no model files under ${options.uri}`);
  options.log.info('models downloaded', {
    uri: options.uri,
    files: written.length,
    bytes,
    ms: Date.now() - started,
  });
  return written;
}
