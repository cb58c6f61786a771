/**
 * onnxruntime-node sessions for the engine: execution provider by configuration, graph
 * optimisation on, thread counts configurable, and errors translated into the engine's
 * named errors.
 */
import * as ort from 'onnxruntime-node';
import { RESTORE_DEFAULTS } from '../../../../shared/src/index.js';
import { InferenceError, ModelContractError, ProviderUnavailableError } from '../errors.js';
import { type Device, deviceHint, resolveExecutionProviders } from './providers.js';

/** How to run models. Every field has a sensible default for a CPU-only machine. */
export interface SessionConfig {
  /** Execution device; `RESTORE_DEFAULTS.device` (the CPU) unless configured. */
  device?: Device;
  /** GPU ordinal for cuda. */
  deviceId?: number;
  /** Threads used inside one operator (CPU). 0 or undefined lets onnxruntime choose (one per core). */
  intraOpThreads?: number;
  /** Threads used across independent operators (CPU). */
  interOpThreads?: number;
}

/**
 * Create a session with the configured provider. A provider that cannot start (no GPU
 * adapter, missing driver) becomes a {@link ProviderUnavailableError}; a file onnxruntime
 * cannot parse becomes a {@link ModelContractError}.
 *
 * @example
 * ```ts
 * const session = await createInferenceSession('gpu-task/models/tiny/denoiser.onnx', { device: 'cpu', intraOpThreads: 2 });
 * ```
 */
export async function createInferenceSession(
  modelPath: string,
  config: SessionConfig = {},
): Promise<ort.InferenceSession> {
  const device = config.device ?? RESTORE_DEFAULTS.device;
  const executionProviders = resolveExecutionProviders(device, config.deviceId ?? 0);
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    ...(config.intraOpThreads ? { intraOpNumThreads: config.intraOpThreads } : {}),
    ...(config.interOpThreads ? { interOpNumThreads: config.interOpThreads } : {}),
  };
  try {
    return await ort.InferenceSession.create(modelPath, options);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (device !== 'cpu' && /adapter|provider|shared library|cuda|vulkan|webgpu/i.test(message)) {
      throw new ProviderUnavailableError(
        `execution provider "${device}" failed to start: ${firstLine(message)} (${deviceHint(device)})`,
        { cause: error },
      );
    }
    throw new ModelContractError(`cannot load ONNX model ${modelPath}: ${firstLine(message)}`, {
      cause: error,
    });
  }
}

/** Run a session and translate failures into a retryable {@link InferenceError}. */
export async function runSession(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
  outputName: string,
  what: string,
): Promise<ort.Tensor> {
  let results: ort.InferenceSession.ReturnType;
  try {
    results = await session.run(feeds, [outputName]);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new InferenceError(`${what} failed: ${firstLine(message)}`, { cause: error });
  }
  const output = results[outputName];
  if (!output) throw new InferenceError(`${what} returned no "${outputName}" output`);
  return output;
}

function firstLine(message: string): string {
  const line = message.split('\n').find((l) => l.trim().length > 0) ?? message;
  return line.length > 400 ? `${line.slice(0, 400)}...` : line;
}
