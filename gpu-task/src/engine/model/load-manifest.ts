/**
 * Reading and validating model manifests. Messages name the file and every field that is
 * wrong, since a manifest is usually hand-edited by an ML engineer bringing weights.
 *
 * A graph saved with ONNX external data keeps its weights in side files that the `.onnx` names;
 * the manifest lists them under `externalData` with their own sha256, since the `.onnx` file's
 * checksum says nothing about them. Reading a manifest checks those files against what the graph
 * references (see {@link externalDataLocations}, in onnx-external-data.ts).
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
  type License,
  type ModelManifest,
  type PipelineManifest,
  PipelineManifestSchema,
} from './manifest.js';
import { externalDataLocations } from './onnx-external-data.js';

/** A validated manifest with the absolute path of its ONNX file. */
export interface ResolvedModelManifest<M> {
  manifest: M;
  manifestPath: string;
  onnxPath: string;
  /** Absolute paths of the side files the graph reads its weights from (ONNX external data); usually none. */
  externalDataPaths: string[];
}

/** Which manifest the caller wants, for the hints of messages: what `--model` or `--enhancer` takes. */
type ManifestKind = 'model' | 'denoiser' | 'enhancer';

const FOLDER_HINT: Record<ManifestKind, string> = {
  model: "pass the model's manifest in it (pipeline.json)",
  denoiser: "pass the denoiser's manifest in it (denoiser.json)",
  enhancer: "pass the enhancer's manifest in it (enhancer.json, not pipeline.json)",
};

const ONNX_HINT: Record<ManifestKind, string> = {
  model: 'pass its manifest (pipeline.json, or the .json the exporter wrote beside the graph)',
  denoiser: 'pass its manifest (the denoiser.json the exporter wrote beside the graph)',
  enhancer: 'pass its manifest (the enhancer.json the exporter wrote beside the graph, not pipeline.json)',
};

async function readJson(file: string, kind: ManifestKind): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelContractError(
      code === 'ENOENT'
        ? `model manifest not found: ${file}`
        : code === 'EISDIR'
          ? `${file} is a folder: ${FOLDER_HINT[kind]}`
          : `cannot read model manifest ${file}: ${code}`,
      { cause: error },
    );
  }
  if (file.toLowerCase().endsWith('.onnx')) {
    throw new ModelContractError(`${file} is an ONNX graph: ${ONNX_HINT[kind]}`);
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

function pipelineHint(file: string, raw: unknown, role: string): string {
  // `--enhancer pipeline.json` is an easy slip: name the enhancer manifest the pipeline points at.
  if (role !== 'enhancer' || roleOf(raw) !== 'pipeline') return '';
  const named = (raw as { enhancer?: unknown }).enhancer;
  return typeof named === 'string'
    ? `: an enhancer is given by its own manifest, e.g. ${path.resolve(path.dirname(file), named)} (the one this pipeline names)`
    : ': an enhancer is given by its own manifest (enhancer.json)';
}

async function parseWith<S extends z.ZodType>(
  file: string,
  schema: S,
  role: 'denoiser' | 'enhancer' | 'pipeline',
): Promise<z.infer<S>> {
  const raw = await readJson(file, role === 'pipeline' ? 'model' : role);
  const actualRole = roleOf(raw);
  if (actualRole !== role) {
    throw new ModelContractError(
      `${file} has role ${actualRole === undefined ? '(missing)' : `"${actualRole}"`}, expected "${role}"${pipelineHint(file, raw, role)}`,
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

async function resolveModel<M extends ModelManifest>(
  manifestPath: string,
  manifest: M,
): Promise<ResolvedModelManifest<M>> {
  const onnxPath = await resolveOnnx(manifestPath, manifest.file);
  let externalDataPaths: string[];
  try {
    externalDataPaths = await checkExternalData(manifestPath, manifest, onnxPath);
  } catch (error) {
    // A graph the walk cannot read (truncated, damaged) whose manifest records a sha256: the
    // mismatch says plainly what to fix (copy the file again), a protobuf offset does not.
    const expected = manifest.provenance.sha256;
    const actual = expected ? await sha256Of(onnxPath) : undefined;
    if (expected && actual !== expected) {
      const walk = error instanceof Error ? error.message : String(error);
      throw new ModelContractError(`${sha256Mismatch(onnxPath, actual, expected)} (${walk})`, {
        cause: error,
      });
    }
    throw error;
  }
  return { manifest, manifestPath, onnxPath, externalDataPaths };
}

/**
 * Read and validate a denoiser manifest, and check the side files its graph reads weights from
 * (ONNX external data) against its `externalData`, hashes included. The `.onnx` file's own
 * sha256 is checked by {@link verifySha256}.
 *
 * @example
 * ```ts
 * const { manifest, onnxPath } = await readDenoiserManifest('gpu-task/models/tiny/denoiser.json');
 * if (manifest.provenance.sha256) await verifySha256(onnxPath, manifest.provenance.sha256);
 * ```
 * Listed side files are hashed here, whatever a loader's `verifyChecksum` option says: this is
 * where the manifest and the graph meet, and the loaders hand only the `.onnx` to `verifySha256`.
 * @throws ModelContractError for an invalid manifest, a missing file, or side files that are
 *   missing, unlisted (when the manifest records a sha256), unreferenced or changed.
 */
export async function readDenoiserManifest(file: string): Promise<ResolvedModelManifest<DenoiserManifest>> {
  const manifestPath = path.resolve(file);
  return resolveModel(manifestPath, await parseWith(manifestPath, DenoiserManifestSchema, 'denoiser'));
}

/**
 * Read and validate an enhancer manifest; side files are checked as by {@link readDenoiserManifest}.
 *
 * @example
 * ```ts
 * const { manifest } = await readEnhancerManifest('gpu-task/models/tiny/enhancer.json'); // 64 -> 128
 * ```
 */
export async function readEnhancerManifest(file: string): Promise<ResolvedModelManifest<EnhancerManifest>> {
  const manifestPath = path.resolve(file);
  return resolveModel(manifestPath, await parseWith(manifestPath, EnhancerManifestSchema, 'enhancer'));
}

/**
 * The licence a denoiser or enhancer manifest declares, read and validated without touching its
 * graph or side files (hashing a published pair's external data takes seconds): what a
 * deployment declaring commercial use checks before it loads anything.
 *
 * @example
 * ```ts
 * const { commercialUse } = await readManifestLicense('gpu-task/models/tiny/denoiser.json', 'denoiser');
 * ```
 */
export async function readManifestLicense(file: string, role: 'denoiser' | 'enhancer'): Promise<License> {
  const manifestPath = path.resolve(file);
  const schema = role === 'denoiser' ? DenoiserManifestSchema : EnhancerManifestSchema;
  return (await parseWith(manifestPath, schema, role)).license;
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
  return roleOf(await readJson(path.resolve(file), 'model'));
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve())
      .on('error', reject);
  });
  return hash.digest('hex');
}

/**
 * Check an ONNX file against the SHA-256 its manifest records (a truncated download or a
 * swapped file would otherwise run and produce garbage). Side files of a graph saved with
 * external data are checked when the manifest is read ({@link readDenoiserManifest}).
 */
export async function verifySha256(onnxPath: string, expected: string): Promise<void> {
  const actual = await sha256Of(onnxPath);
  if (actual !== expected) throw new ModelContractError(sha256Mismatch(onnxPath, actual, expected));
}

function sha256Mismatch(onnxPath: string, actual: string | undefined, expected: string): string {
  return `${onnxPath} does not match its manifest: sha256 is ${actual}, the manifest records ${expected}`;
}

// --- External data ----------------------------------------------------------------------------

/**
 * Check the side files a graph reads its weights from against the manifest's `externalData`:
 * every referenced file must exist; a manifest that records a sha256 must list each one (else
 * those weights would load unverified, the gap the list closes); every listed file must be
 * referenced and match its sha256. Returns the referenced files' absolute paths.
 */
async function checkExternalData(
  manifestPath: string,
  manifest: ModelManifest,
  onnxPath: string,
): Promise<string[]> {
  const referenced = new Map<string, string>(); // absolute path -> location as the graph writes it
  for (const location of await externalDataLocations(onnxPath)) {
    referenced.set(path.resolve(path.dirname(onnxPath), location), location);
  }
  const listed = new Map(
    (manifest.externalData ?? []).map((e) => [path.resolve(path.dirname(manifestPath), e.path), e]),
  );
  for (const [file, location] of referenced) {
    if (!(await isFile(file))) {
      throw new ModelContractError(
        `${onnxPath} keeps weights in the external data file "${location}", but ${file} does not exist: copy it beside the graph (a model folder travels whole)`,
      );
    }
    if (!listed.has(file) && manifest.provenance.sha256 !== undefined) {
      const entry = {
        path: path.relative(path.dirname(manifestPath), file).split(path.sep).join('/'),
        sha256: '…',
      };
      throw new ModelContractError(
        `${manifestPath} records a sha256 for ${manifest.file}, but its graph also reads weights from the external data file "${location}", which the manifest does not list, so they would load unverified: add "externalData": [${JSON.stringify(entry)}] with that file's sha256 as exported (models/dr2e_models/export.py writes the list; dr2e_models.make_pipeline prints the entry)`,
      );
    }
  }
  for (const [file, entry] of listed) {
    if (!referenced.has(file)) {
      throw new ModelContractError(
        `${manifestPath} lists the external data file "${entry.path}", which its graph ${manifest.file} does not reference: the manifest and the graph do not belong together (re-export, or remove the entry)`,
      );
    }
    const actual = await sha256Of(file);
    if (actual !== entry.sha256) {
      throw new ModelContractError(
        `${file} does not match its manifest: sha256 is ${actual}, ${manifestPath} records ${entry.sha256}`,
      );
    }
  }
  return [...referenced.keys()];
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}
