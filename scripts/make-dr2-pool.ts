/**
 * Makes the enhancer's training inputs: DR2 outputs of clean training faces (the paper's Eq. 12),
 * computed by the TypeScript engine itself, so the enhancer learns from exactly what it will be
 * given at inference.
 *
 *   npx tsx scripts/make-dr2-pool.ts --model gpu-task/models/default/denoiser.json \
 *     --faces models/runs/data/utkface-train-64.npy --count 3000 --out models/runs/dr2-pool
 *
 * For each pool entry a training face x (64x64 uint8, from `models/dr2e_models/data.py`'s cache) and a
 * tau from `--taus` (default 5,10,15,20 on the K = 100 grid, i.e. 50..200 of the 1000-step
 * scale) are drawn with a seeded generator; DR2(x; N, tau) runs with omega = the engine's default
 * (tau + 20 for N = 4) and the enhancer switched off. Entries are processed in batches of equal
 * tau (one sampler call per batch).
 *
 * Output in `--out`: `dr2.npy` (float32 `[rows, 3, S, S]` in [-1, 1], in `index.json` order;
 * `--count` faces, times the number of taus with `--every-tau`) and `index.json` (`rows:
 * [{ face, tau, seed }]`, parameters, model, timings). Re-running with `--resume` continues
 * after the last complete batch (the plan is a function of the seed). `--in-order` takes the
 * first `--count` faces instead of a seeded draw (for figures).
 */
import { open, readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Dr2eEngine } from '../gpu-task/src/engine/index.js';

interface PoolRow {
  /** Row of the faces array. */
  face: number;
  /** Stop step on the K-step grid. */
  tau: number;
  /** Noise seed of this entry. */
  seed: number;
}

interface PoolIndex {
  model: string;
  faces: string;
  n: number;
  steps: number;
  taus: number[];
  seed: number;
  rows: PoolRow[];
  /** Rows of `dr2.npy` written so far (all of them when complete). */
  done: number;
  seconds: number;
}

/** Small seeded generator (mulberry32): uniform floats in [0, 1). */
function makeRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

/** The shape and data offset of a C-ordered `.npy` file with the expected dtype. */
async function readNpyHeader(file: string, dtype: string): Promise<{ shape: number[]; offset: number }> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(4096);
    await handle.read(head, 0, head.length, 0);
    if (head.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file} is not a .npy file`);
    const major = head[6] ?? 1;
    const headerLength = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
    const start = major === 1 ? 10 : 12;
    const header = head.toString('latin1', start, start + headerLength);
    if (!header.includes(`'descr': '${dtype}'`) || header.includes("'fortran_order': True")) {
      throw new Error(`${file}: expected C-ordered ${dtype}, header is ${header.trim()}`);
    }
    const shapeText = /'shape': \(([^)]*)\)/.exec(header)?.[1] ?? '';
    const shape = shapeText
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part.length > 0)
      .map(Number);
    return { shape, offset: start + headerLength };
  } finally {
    await handle.close();
  }
}

/** A version 1.0 `.npy` header for a C-ordered float32 array, padded to a multiple of 64 bytes. */
function npyHeader(shape: readonly number[]): Buffer {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = 10 + dict.length + 1;
  const padded = Math.ceil(unpadded / 64) * 64;
  const text = dict + ' '.repeat(padded - unpadded) + '\n';
  const buffer = Buffer.alloc(10 + text.length);
  buffer.write('\x93NUMPY', 0, 'latin1');
  buffer[6] = 1;
  buffer[7] = 0;
  buffer.writeUInt16LE(text.length, 8);
  buffer.write(text, 10, 'latin1');
  return buffer;
}

/**
 * Pool plan, a pure function of its arguments: `count` distinct faces (a seeded shuffle, or the
 * first ones with `inOrder`), each with a random tau, or with every tau (`everyTau`), and a seed
 * per entry; grouped by tau.
 */
function planPool(
  faceCount: number,
  count: number,
  taus: readonly number[],
  seed: number,
  everyTau: boolean,
  inOrder: boolean,
): PoolRow[] {
  const random = makeRandom(seed);
  const order = Array.from({ length: faceCount }, (_, i) => i);
  for (let i = faceCount - 1; i > 0 && !inOrder; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  const rows = order.slice(0, count).flatMap((face) =>
    (everyTau ? taus : [taus[Math.floor(random() * taus.length)] as number]).map((tau) => ({
      face,
      tau,
      seed: Math.floor(random() * 2 ** 31),
    })),
  );
  // Equal tau per sampler call: stable order by tau, faces in drawn order within a tau.
  return rows.sort((a, b) => a.tau - b.tau);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'gpu-task/models/default/denoiser.json' },
      faces: { type: 'string', default: 'models/runs/data/utkface-train-64.npy' },
      out: { type: 'string', default: 'models/runs/dr2-pool' },
      count: { type: 'string', default: '3000' },
      taus: { type: 'string', default: '5,10,15,20' },
      n: { type: 'string', default: '4' },
      steps: { type: 'string', default: '100' },
      batch: { type: 'string', default: '16' },
      seed: { type: 'string', default: '20230602' },
      threads: { type: 'string', default: '2' },
      resume: { type: 'boolean', default: false },
      'every-tau': { type: 'boolean', default: false },
      'in-order': { type: 'boolean', default: false },
    },
  });
  const count = Number(values.count);
  const taus = values.taus.split(',').map(Number);
  const n = Number(values.n);
  const steps = Number(values.steps);
  const batchSize = Number(values.batch);
  const seed = Number(values.seed);

  const engine = await Dr2eEngine.load({
    model: values.model,
    enhancer: 'none',
    intraOpThreads: Number(values.threads),
  });
  const size = engine.resolution;
  const faces = await readNpyHeader(values.faces, '|u1');
  const [faceCount, height, width, channels] = faces.shape;
  if (height !== size || width !== size || channels !== 3 || faceCount === undefined) {
    throw new Error(`${values.faces} holds ${faces.shape.join('x')}, expected [N, ${size}, ${size}, 3]`);
  }
  if (count > faceCount) throw new Error(`--count ${count} exceeds the ${faceCount} faces`);

  await mkdir(values.out, { recursive: true });
  const indexFile = path.join(values.out, 'index.json');
  const dataFile = path.join(values.out, 'dr2.npy');
  const rows = planPool(faceCount, count, taus, seed, values['every-tau'], values['in-order']);
  const total = rows.length;
  const plane = 3 * size * size;
  const header = npyHeader([total, 3, size, size]);
  let index: PoolIndex = {
    model: path.relative(process.cwd(), path.resolve(values.model)),
    faces: path.relative(process.cwd(), path.resolve(values.faces)),
    n,
    steps,
    taus,
    seed,
    rows,
    done: 0,
    seconds: 0,
  };
  if (values.resume) {
    const previous = JSON.parse(await readFile(indexFile, 'utf8')) as PoolIndex;
    if (JSON.stringify(previous.rows) !== JSON.stringify(rows)) throw new Error('--resume: the plan differs');
    index = previous;
  } else {
    const handle = await open(dataFile, 'w');
    await handle.write(header, 0, header.length, 0);
    await handle.truncate(header.length + total * plane * 4);
    await handle.close();
    await writeFile(indexFile, JSON.stringify(index));
  }

  const source = await open(values.faces, 'r');
  const target = await open(dataFile, 'r+');
  const pixel = Buffer.alloc(size * size * 3);
  const started = performance.now() - index.seconds * 1000;
  try {
    let start = index.done;
    while (start < total) {
      const tau = (rows[start] as PoolRow).tau;
      let end = start;
      while (end < total && end - start < batchSize && (rows[end] as PoolRow).tau === tau) end++;
      const batch = end - start;
      const y = new Float32Array(batch * plane);
      for (let b = 0; b < batch; b++) {
        const row = rows[start + b] as PoolRow;
        await source.read(pixel, 0, pixel.length, faces.offset + row.face * pixel.length);
        // HWC uint8 -> CHW [-1, 1]
        for (let c = 0; c < 3; c++) {
          for (let p = 0; p < size * size; p++) {
            y[b * plane + c * size * size + p] = (pixel[p * 3 + c] as number) / 127.5 - 1;
          }
        }
      }
      const params = engine.resolveParams({ n, tau, steps });
      const result = await engine.restoreTensors({
        y,
        batch,
        params,
        seeds: rows.slice(start, end).map((row) => row.seed),
      });
      const bytes = Buffer.from(result.dr2.buffer, result.dr2.byteOffset, result.dr2.byteLength);
      await target.write(bytes, 0, bytes.length, header.length + start * plane * 4);
      index.done = end;
      index.seconds = (performance.now() - started) / 1000;
      await writeFile(indexFile, JSON.stringify(index));
      const rate = end / index.seconds;
      console.log(
        `${end}/${total} tau=${tau} omega=${params.omega} ${index.seconds.toFixed(0)} s (${rate.toFixed(2)} img/s)`,
      );
      start = end;
    }
  } finally {
    await source.close();
    await target.close();
    await engine.dispose();
  }
}

await main();
