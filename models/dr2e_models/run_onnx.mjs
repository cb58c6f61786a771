#!/usr/bin/env node
/**
 * Run an ONNX model through onnxruntime-node on raw tensors, for the Python exporter's parity
 * check (Python here has no onnxruntime).
 *
 * Usage: node models/dr2e_models/run_onnx.mjs <request.json>
 *
 * request.json:
 *   {
 *     "model": "/abs/model.onnx",
 *     "inputs": { "x": { "dtype": "float32", "shape": [2, 3, 64, 64], "file": "/abs/x.bin" },
 *                 "t": { "dtype": "int64", "shape": [2], "file": "/abs/t.bin" } },
 *     "outputDir": "/abs/dir",
 *     "threads": 0
 *   }
 * Raw files are little-endian, C order. Supported dtypes: float32, float16, int64, int32.
 *
 * Writes <outputDir>/<outputName>.bin for each output and prints one JSON line on stdout:
 *   { "inputNames": [...], "outputNames": [...], "inputMetadata": [...],
 *     "outputs": { "out": { "dtype": "float32", "shape": [...], "file": "..." } },
 *     "loadMs": 12.3, "runMs": 45.6 }
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';

const typedArrays = {
  float32: Float32Array,
  int64: BigInt64Array,
  int32: Int32Array,
  float16: Uint16Array,
};

function toTensor(spec, bytes) {
  const ArrayType = typedArrays[spec.dtype];
  if (!ArrayType) throw new Error(`unsupported dtype ${spec.dtype}`);
  const count = spec.shape.reduce((a, b) => a * b, 1);
  if (bytes.byteLength !== count * ArrayType.BYTES_PER_ELEMENT) {
    throw new Error(`${spec.file}: ${bytes.byteLength} bytes, shape ${JSON.stringify(spec.shape)} needs ${count * ArrayType.BYTES_PER_ELEMENT}`);
  }
  // Copy into an aligned buffer: Buffer slices may start at any offset.
  const aligned = new ArrayType(count);
  new Uint8Array(aligned.buffer).set(bytes);
  return new ort.Tensor(spec.dtype, aligned, spec.shape);
}

async function main() {
  const requestPath = process.argv[2];
  if (!requestPath) {
    console.error('usage: node models/dr2e_models/run_onnx.mjs <request.json>');
    process.exit(2);
  }
  const request = JSON.parse(await readFile(requestPath, 'utf8'));
  const options = { graphOptimizationLevel: 'all' };
  if (request.threads) options.intraOpNumThreads = request.threads;

  const loadStart = performance.now();
  const session = await ort.InferenceSession.create(request.model, options);
  const loadMs = performance.now() - loadStart;

  const feeds = {};
  for (const [name, spec] of Object.entries(request.inputs)) {
    feeds[name] = toTensor(spec, await readFile(spec.file));
  }
  const runStart = performance.now();
  const results = await session.run(feeds);
  const runMs = performance.now() - runStart;

  const outputs = {};
  for (const name of session.outputNames) {
    const tensor = results[name];
    const file = join(request.outputDir, `${name}.bin`);
    const data = tensor.data;
    await writeFile(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    outputs[name] = { dtype: tensor.type, shape: tensor.dims, file };
  }
  const describe = (list) =>
    (list ?? []).map((m) => ({ name: m.name, isTensor: m.isTensor, type: m.type, shape: m.shape }));
  process.stdout.write(
    JSON.stringify({
      inputNames: session.inputNames,
      outputNames: session.outputNames,
      inputMetadata: describe(session.inputMetadata),
      outputMetadata: describe(session.outputMetadata),
      outputs,
      loadMs,
      runMs,
    }) + '\n',
  );
  await session.release();
}

main().catch((error) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
