/**
 * Start-up check of the execution provider: before the worker loads its models or takes a job,
 * it creates a session of a one-node model (`y = x + x`) on the configured device and runs it
 * once. A CUDA provider whose libraries do not load (CUDA or cuDNN major mismatch, driver too
 * old, no GPU visible to the container) fails here, in a second, with one clear log line,
 * instead of failing every job or crash-looping on a billed GPU instance.
 *
 * On failure the worker writes the reason to {@link UNHEALTHY_FILE} (the container health check
 * prints it and fails), takes no job, and exits with {@link PROVIDER_UNAVAILABLE_EXIT_CODE}
 * after a hold period, so ECS sees an unhealthy task and restarts it slowly instead of at once.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { resolveExecutionProviders, type Device } from '../engine/index.js';

/** Written with the reason when the provider check fails; the health check fails while it exists. */
export const UNHEALTHY_FILE = '/tmp/dr2e-worker-unhealthy';
/** EX_CONFIG (sysexits.h): the configuration (device vs image vs host) cannot work. */
export const PROVIDER_UNAVAILABLE_EXIT_CODE = 78;
/**
 * On ECS, how long a worker whose provider check failed stays up (unhealthy, taking no job)
 * before it exits: ECS replaces it after the health check's start period anyway, and a slow
 * cycle costs fewer instance launches than a crash loop.
 */
export const PROVIDER_FAILURE_HOLD_SECONDS = 300;

/** Outcome of {@link checkExecutionProvider}. */
export type ProviderCheck =
  { ok: true; device: Device; ms: number } | { ok: false; device: Device; reason: string };

/**
 * Creates a one-node session on `device` and runs it; never throws.
 *
 * @example
 * ```ts
 * const check = await checkExecutionProvider('cuda');
 * if (!check.ok) log.error('execution provider unavailable', { device: check.device, reason: check.reason });
 * ```
 */
export async function checkExecutionProvider(device: Device): Promise<ProviderCheck> {
  const started = Date.now();
  try {
    const executionProviders = resolveExecutionProviders(device);
    const session = await ort.InferenceSession.create(oneNodeModel(), { executionProviders });
    try {
      const x = new ort.Tensor('float32', Float32Array.from([1.5, -2]), [2]);
      const { y } = await session.run({ x });
      const values = y?.data as Float32Array | undefined;
      if (!values || values[0] !== 3 || values[1] !== -4) {
        return { ok: false, device, reason: `the probe model computed ${String(values)} instead of 3,-4` };
      }
    } finally {
      await session.release();
    }
    return { ok: true, device, ms: Date.now() - started };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, device, reason: message.split('\n')[0] ?? message };
  }
}

/** Records the failure for the health check (best effort: a read-only /tmp only loses the text). */
export async function markUnhealthy(reason: string, file: string = UNHEALTHY_FILE): Promise<void> {
  try {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${reason}\n`);
  } catch {
    // The heartbeat is never written either, so the health check fails anyway.
  }
}

/**
 * The ONNX protobuf of a model with one `Add` node: float input `x` of shape [2], output
 * `y = x + x` (opset 13). Written out by hand so the check needs no model file.
 */
export function oneNodeModel(): Uint8Array {
  // ValueInfoProto { name, type { tensor_type { elem_type: FLOAT, shape { dim { dim_value: 2 } } } } }
  const floatVector = (name: string) => [
    ...stringField(1, name),
    ...field(2, field(1, [...varintField(1, 1), ...field(2, field(1, varintField(1, 2)))])),
  ];
  // NodeProto { input: x, input: x, output: y, name, op_type: Add }
  const node = [
    ...stringField(1, 'x'),
    ...stringField(1, 'x'),
    ...stringField(2, 'y'),
    ...stringField(3, 'add'),
    ...stringField(4, 'Add'),
  ];
  const graph = [
    ...field(1, node),
    ...stringField(2, 'provider_check'),
    ...field(11, floatVector('x')),
    ...field(12, floatVector('y')),
  ];
  return Uint8Array.from([
    ...varintField(1, 8), // ir_version
    ...stringField(2, 'dr2e'), // producer_name
    ...field(7, graph),
    ...field(8, varintField(2, 13)), // opset_import { version: 13 } (default domain)
  ]);
}

function varint(value: number): number[] {
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  bytes.push(rest);
  return bytes;
}

function varintField(fieldNumber: number, value: number): number[] {
  return [...varint(fieldNumber << 3), ...varint(value)];
}

function field(fieldNumber: number, payload: readonly number[]): number[] {
  return [...varint((fieldNumber << 3) | 2), ...varint(payload.length), ...payload];
}

function stringField(fieldNumber: number, text: string): number[] {
  return field(fieldNumber, [...new TextEncoder().encode(text)]);
}
