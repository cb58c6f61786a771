/**
 * Checks that an ONNX graph honours its manifest, so a wrong file is refused at load with a
 * message that names the problem ("input 'x' has 4 channels, the contract needs 3") instead
 * of failing deep inside a job.
 */
import type * as ort from 'onnxruntime-node';
import { ModelContractError, NonFiniteOutputError } from '../errors.js';

type Dim = number | string;

/** What one graph input or output must look like; `null` dims are free (batch, dynamic sizes). */
export interface TensorExpectation {
  name: string;
  type: ort.Tensor.Type;
  dims: (number | null)[];
  /** Meaning of each axis, for messages. */
  axes: string[];
}

function metadataByName(
  list: readonly ort.InferenceSession.ValueMetadata[],
): Map<string, ort.InferenceSession.ValueMetadata> {
  return new Map(list.map((m) => [m.name, m]));
}

function describe(dims: readonly Dim[]): string {
  return `[${dims.join(', ')}]`;
}

/**
 * Compare a session's inputs and outputs to the expectations; collects every violation and
 * throws one {@link ModelContractError} listing them all.
 */
export function assertGraphContract(
  session: Pick<ort.InferenceSession, 'inputNames' | 'outputNames' | 'inputMetadata' | 'outputMetadata'>,
  modelLabel: string,
  inputs: TensorExpectation[],
  outputs: TensorExpectation[],
): void {
  const problems: string[] = [];
  const check = (
    kind: 'input' | 'output',
    available: readonly string[],
    metadata: Map<string, ort.InferenceSession.ValueMetadata>,
    expected: TensorExpectation,
  ): void => {
    if (!available.includes(expected.name)) {
      problems.push(
        `missing ${kind} "${expected.name}" (the graph's ${kind}s are: ${available.map((n) => `"${n}"`).join(', ') || 'none'})`,
      );
      return;
    }
    const meta = metadata.get(expected.name);
    if (!meta || !meta.isTensor) {
      problems.push(`${kind} "${expected.name}" is not a tensor`);
      return;
    }
    if (meta.type !== expected.type) {
      problems.push(`${kind} "${expected.name}" has type ${meta.type}, the contract needs ${expected.type}`);
    }
    const dims = meta.shape;
    if (dims.length !== expected.dims.length) {
      problems.push(
        `${kind} "${expected.name}" has rank ${dims.length} ${describe(dims)}, the contract needs rank ${expected.dims.length} [${expected.axes.join(', ')}]`,
      );
      return;
    }
    expected.dims.forEach((want, axis) => {
      const got = dims[axis];
      if (expected.axes[axis] === 'batch' && typeof got === 'number') {
        // The engine batches every face of a call (and several jobs) through one model call.
        problems.push(
          `${kind} "${expected.name}" has a fixed batch of ${got} (shape ${describe(dims)}); the contract needs a dynamic batch axis: re-export with it (models/dr2e_models/export.py does)`,
        );
        return;
      }
      if (want !== null && typeof got === 'number' && got !== want) {
        problems.push(
          `${kind} "${expected.name}" has ${expected.axes[axis]} = ${got}, the contract needs ${want} (shape ${describe(dims)})`,
        );
      }
    });
  };

  const inputMeta = metadataByName(session.inputMetadata);
  const outputMeta = metadataByName(session.outputMetadata);
  for (const expected of inputs) check('input', session.inputNames, inputMeta, expected);
  for (const expected of outputs) check('output', session.outputNames, outputMeta, expected);
  const extra = session.inputNames.filter((name) => !inputs.some((i) => i.name === name));
  if (extra.length > 0) {
    problems.push(`unexpected extra inputs the engine cannot feed: ${extra.map((n) => `"${n}"`).join(', ')}`);
  }
  if (problems.length > 0) {
    throw new ModelContractError(`${modelLabel} breaks the model contract: ${problems.join('; ')}`);
  }
}

/** Check the dims of a tensor a model actually returned (dynamic graphs are only checked here). */
export function assertOutputDims(
  modelLabel: string,
  outputName: string,
  got: readonly number[],
  want: readonly number[],
  axes: readonly string[],
): void {
  const same = got.length === want.length && got.every((d, i) => d === want[i]);
  if (!same) {
    throw new ModelContractError(
      `${modelLabel} returned "${outputName}" with shape [${got.join(', ')}], the contract needs [${want.join(', ')}] (${axes.join(', ')})`,
    );
  }
}

/**
 * Check that a model returned finite numbers. A NaN or an infinity (a broken export, a float16
 * graph that overflows) would otherwise come out as a black or saturated image reported as a
 * success; the scan costs far less than the inference that produced the values.
 *
 * @param batch - images in `data` (equal parts), to name the one that broke.
 * @example
 * ```ts
 * assertFiniteOutput('denoiser dr2-ffhq', 'eps', output.data as Float32Array, 4);
 * ```
 * @throws NonFiniteOutputError naming the model, the output, the image and the first bad value.
 */
export function assertFiniteOutput(
  modelLabel: string,
  outputName: string,
  data: Float32Array,
  batch = 1,
): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (v - v !== 0) {
      const perImage = Math.max(1, Math.floor(data.length / batch));
      const where =
        batch > 1 ? `image ${Math.floor(i / perImage) + 1} of ${batch}, value ${i % perImage}` : `value ${i}`;
      throw new NonFiniteOutputError(
        `${modelLabel} returned ${String(v)} in "${outputName}" (${where} of ${perImage}): the network is broken or overflows its precision (a float16 export?); check the export's parity`,
      );
    }
  }
}
