/**
 * Reading and validating model manifests. Messages name the file and every field that is
 * wrong, since a manifest is usually hand-edited by an ML engineer bringing weights.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { ModelContractError } from '../errors.js';
import {
  type DenoiserManifest,
  DenoiserManifestSchema,
  type EnhancerManifest,
  EnhancerManifestSchema,
  type PipelineManifest,
  PipelineManifestSchema,
} from './manifest.js';

/** A validated manifest with the absolute path of its ONNX file. */
export interface ResolvedModelManifest<M> {
  manifest: M;
  manifestPath: string;
  onnxPath: string;
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelContractError(
      code === 'ENOENT'
        ? `model manifest not found: ${file}`
        : code === 'EISDIR'
          ? `${file} is a folder: pass the model's manifest in it (pipeline.json)`
          : `cannot read model manifest ${file}: ${code}`,
      { cause: error },
    );
  }
  if (file.toLowerCase().endsWith('.onnx')) {
    throw new ModelContractError(
      `${file} is an ONNX graph: pass its manifest (pipeline.json, or the .json the exporter wrote beside the graph)`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ModelContractError(`model manifest ${file} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function formatIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 8)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

function roleOf(value: unknown): string | undefined {
  return typeof value === 'object' && value !== null && 'role' in value
    ? String((value as { role: unknown }).role)
    : undefined;
}

async function parseWith<S extends z.ZodType>(file: string, schema: S, role: string): Promise<z.infer<S>> {
  const raw = await readJson(file);
  const actualRole = roleOf(raw);
  if (actualRole !== role) {
    throw new ModelContractError(
      `${file} has role ${actualRole === undefined ? '(missing)' : `"${actualRole}"`}, expected "${role}"`,
    );
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new ModelContractError(`model manifest ${file} is invalid: ${formatIssues(parsed.error)}`);
  }
  return parsed.data;
}

async function resolveOnnx(manifestPath: string, file: string): Promise<string> {
  const onnxPath = path.resolve(path.dirname(manifestPath), file);
  try {
    const info = await stat(onnxPath);
    if (!info.isFile()) throw new Error('not a file');
  } catch (error) {
    throw new ModelContractError(`ONNX file named by ${manifestPath} not found: ${onnxPath}`, {
      cause: error,
    });
  }
  return onnxPath;
}

/** Read and validate a denoiser manifest. */
export async function readDenoiserManifest(file: string): Promise<ResolvedModelManifest<DenoiserManifest>> {
  const manifestPath = path.resolve(file);
  const manifest = await parseWith(manifestPath, DenoiserManifestSchema, 'denoiser');
  return { manifest, manifestPath, onnxPath: await resolveOnnx(manifestPath, manifest.file) };
}

/** Read and validate an enhancer manifest. */
export async function readEnhancerManifest(file: string): Promise<ResolvedModelManifest<EnhancerManifest>> {
  const manifestPath = path.resolve(file);
  const manifest = await parseWith(manifestPath, EnhancerManifestSchema, 'enhancer');
  return { manifest, manifestPath, onnxPath: await resolveOnnx(manifestPath, manifest.file) };
}

/** Read and validate a pipeline manifest. */
export async function readPipelineManifest(
  file: string,
): Promise<{ manifest: PipelineManifest; manifestPath: string }> {
  const manifestPath = path.resolve(file);
  return { manifest: await parseWith(manifestPath, PipelineManifestSchema, 'pipeline'), manifestPath };
}

/** The role a manifest file declares, without validating the rest. */
export async function peekManifestRole(file: string): Promise<string | undefined> {
  return roleOf(await readJson(path.resolve(file)));
}

/**
 * Check an ONNX file against the SHA-256 its manifest records (a truncated download or a
 * swapped file would otherwise run and produce garbage).
 */
export async function verifySha256(onnxPath: string, expected: string): Promise<void> {
  const hash = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    createReadStream(onnxPath)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve())
      .on('error', reject);
  });
  const actual = hash.digest('hex');
  if (actual !== expected) {
    throw new ModelContractError(
      `${onnxPath} does not match its manifest: sha256 is ${actual}, the manifest records ${expected}`,
    );
  }
}
