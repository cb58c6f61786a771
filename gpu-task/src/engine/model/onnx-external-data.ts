/**
 * Which side files (ONNX external data) a graph reads its weights from, found by a bounded walk
 * of its protobuf, without loading it (see {@link externalDataLocations}). Used by the manifest
 * loader to hold those files to the manifest's checksums.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { ModelContractError } from '../errors.js';

/** Protobuf messages of onnx.proto that can hold a TensorProto, and the fields that lead to one. */
type OnnxMessage = 'model' | 'graph' | 'node' | 'attribute' | 'function' | 'trainingInfo' | 'sparseTensor';
const TENSOR_PATHS: Record<OnnxMessage, Record<number, OnnxMessage | 'tensor'>> = {
  model: { 7: 'graph', 20: 'trainingInfo', 25: 'function' },
  graph: { 1: 'node', 5: 'tensor', 15: 'sparseTensor' },
  node: { 5: 'attribute' },
  // t, g, tensors, graphs, sparse_tensor, sparse_tensors
  attribute: { 5: 'tensor', 6: 'graph', 10: 'tensor', 11: 'graph', 22: 'sparseTensor', 23: 'sparseTensor' },
  function: { 7: 'node' },
  trainingInfo: { 1: 'graph', 2: 'graph' },
  sparseTensor: { 1: 'tensor', 2: 'tensor' },
};
/** TensorProto fields: external_data (repeated key/value entries) and data_location (1 = EXTERNAL). */
const TENSOR_EXTERNAL_DATA = 13;
const TENSOR_DATA_LOCATION = 14;
const DATA_LOCATION_EXTERNAL = 1;
/** Bound on message nesting (subgraphs of subgraphs), against a crafted file. */
const MAX_DEPTH = 64;
/** Bound on one key or value of an external_data entry; a location is a relative path. */
const MAX_ENTRY_TEXT = 4096;

type FieldValue = { wire: 0; value: number } | { wire: 2; start: number; end: number } | { wire: 1 | 5 };

/** Buffered positional reads of a protobuf file, so a walk reads headers, not the weights it skips. */
class ProtoFile {
  private chunk = Buffer.alloc(0);
  private chunkStart = 0;

  constructor(
    private readonly handle: FileHandle,
    readonly file: string,
  ) {}

  broken(at: number): ModelContractError {
    return new ModelContractError(
      `${this.file} is not a readable ONNX graph: its protobuf breaks off at byte ${at} (a truncated or damaged file?)`,
    );
  }

  private async bytes(pos: number, length: number): Promise<Buffer> {
    const offset = pos - this.chunkStart;
    if (offset < 0 || offset + length > this.chunk.length) {
      const size = Math.max(length, 64 * 1024);
      const { bytesRead, buffer } = await this.handle.read(Buffer.alloc(size), 0, size, pos);
      this.chunk = buffer.subarray(0, bytesRead);
      this.chunkStart = pos;
      if (bytesRead < length) throw this.broken(pos + bytesRead);
      return this.chunk.subarray(0, length);
    }
    return this.chunk.subarray(offset, offset + length);
  }

  private async varint(pos: number, end: number): Promise<[value: number, next: number]> {
    const bytes = await this.bytes(pos, Math.min(10, end - pos));
    let value = 0;
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i] as number;
      value += (byte & 0x7f) * 2 ** (7 * i); // not bit shifts: lengths and offsets pass 2^31
      if (byte < 0x80) return [value, pos + i + 1];
    }
    throw this.broken(pos);
  }

  async text(start: number, end: number): Promise<string> {
    if (end - start > MAX_ENTRY_TEXT) throw this.broken(start);
    return (await this.bytes(start, end - start)).toString('utf8');
  }

  /** Call `visit` for each field of the message in [start, end); length-delimited values are not read. */
  async forEachField(
    start: number,
    end: number,
    visit: (field: number, value: FieldValue) => Promise<void> | void,
  ): Promise<void> {
    let pos = start;
    while (pos < end) {
      const [tag, afterTag] = await this.varint(pos, end);
      const field = Math.floor(tag / 8);
      const wire = tag % 8;
      if (field === 0) throw this.broken(pos);
      if (wire === 0) {
        const [value, next] = await this.varint(afterTag, end);
        await visit(field, { wire, value });
        pos = next;
      } else if (wire === 2) {
        const [length, next] = await this.varint(afterTag, end);
        if (next + length > end) throw this.broken(next);
        await visit(field, { wire, start: next, end: next + length });
        pos = next + length;
      } else if (wire === 1 || wire === 5) {
        await visit(field, { wire });
        pos = afterTag + (wire === 1 ? 8 : 4);
      } else {
        throw this.broken(pos); // groups (3, 4) do not occur in onnx.proto
      }
    }
    if (pos !== end) throw this.broken(end);
  }
}

async function walkMessage(
  proto: ProtoFile,
  kind: OnnxMessage,
  start: number,
  end: number,
  found: Set<string>,
  depth: number,
): Promise<void> {
  if (depth > MAX_DEPTH) throw proto.broken(start);
  await proto.forEachField(start, end, async (field, value) => {
    const child = TENSOR_PATHS[kind][field];
    if (child === undefined || value.wire !== 2) return;
    if (child === 'tensor') await readTensor(proto, value.start, value.end, found);
    else await walkMessage(proto, child, value.start, value.end, found, depth + 1);
  });
}

async function readTensor(proto: ProtoFile, start: number, end: number, found: Set<string>): Promise<void> {
  let external = false;
  let location: string | undefined;
  await proto.forEachField(start, end, async (field, value) => {
    if (field === TENSOR_DATA_LOCATION && value.wire === 0) {
      external = value.value === DATA_LOCATION_EXTERNAL;
    } else if (field === TENSOR_EXTERNAL_DATA && value.wire === 2) {
      let key: string | undefined;
      let text: string | undefined;
      await proto.forEachField(value.start, value.end, async (entryField, entryValue) => {
        if (entryValue.wire !== 2) return;
        if (entryField === 1) key = await proto.text(entryValue.start, entryValue.end);
        else if (entryField === 2) text = await proto.text(entryValue.start, entryValue.end);
      });
      if (key === 'location') location = text;
    }
  });
  // As onnxruntime and onnx's external_data_helper judge it: data_location EXTERNAL.
  if (external && location !== undefined) found.add(location);
}

/**
 * The side files an ONNX graph reads its weights from (external data), as the graph writes
 * them (relative to its folder), without loading the graph.
 *
 * How: a walk of the protobuf along the only fields that can hold a TensorProto (graph
 * initializers, sparse initializers, node attributes, subgraphs, functions, training info),
 * collecting the `location` entry of each tensor whose `data_location` is EXTERNAL. Why not
 * onnxruntime: it resolves external data inside session creation and reports no file list, and
 * the check has to come before it runs anything. Why not a byte search for "location": tensor
 * bytes may contain anything. Length-delimited fields that cannot hold a tensor (weights in
 * `raw_data`, names, doc strings) are skipped by offset, so a 2 GB self-contained graph costs a
 * few hundred small reads, not a pass over its weights.
 *
 * @example
 * ```ts
 * await externalDataLocations('models/dr2-ffhq/denoiser.onnx'); // ['denoiser.onnx.data'], or [] when self-contained
 * ```
 * @throws ModelContractError when the file is not a well-formed protobuf (truncated, damaged).
 */
export async function externalDataLocations(onnxPath: string): Promise<string[]> {
  const handle = await open(onnxPath, 'r');
  try {
    const { size } = await handle.stat();
    const found = new Set<string>();
    await walkMessage(new ProtoFile(handle, onnxPath), 'model', 0, size, found, 0);
    return [...found];
  } finally {
    await handle.close();
  }
}
