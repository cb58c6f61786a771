/**
 * `npm run bench:engine`: where the time of a DR2E restore goes, per sampler step, at batch 1
 * and 8. Phases: the diffusion model call, the sampler's arithmetic, the low-pass filter Phi_N,
 * noise generation, the enhancer, and image I/O (decode + encode).
 *
 * The sampler overlaps noise, y-diffusion and Phi_N(y) with the model call (onnxruntime runs
 * off the JS thread). "JS thread outside model" is the wall time of a step spent while no model
 * call is in flight (what the 5% goal is about); arithmetic, low-pass and noise are each phase's
 * whole time, of which "overlapped" ran while the model was busy.
 *
 *   npm run bench:engine -- [--model <pipeline.json>] [--repeats 5] [--threads N]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { Dr2eEngine } from '../src/engine/dr2e-engine.js';
import { decodeImage, encodeRgbImage, tensorToRgb8 } from '../src/engine/image/index.js';
import { defaultModelManifest } from '../src/engine/model/default-model.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    repeats: { type: 'string', default: '5' },
    threads: { type: 'string' },
    preset: { type: 'string', default: 'mild' },
  },
});
const repeats = Number(values.repeats);

async function syntheticImage(seed: number): Promise<Uint8Array> {
  const size = 256;
  const raw = Buffer.alloc(size * size * 3);
  let state = seed >>> 0;
  for (let i = 0; i < raw.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    raw[i] = (((i / 3) % size) + (state >>> 26)) & 0xff;
  }
  return new Uint8Array(
    await sharp(raw, { raw: { width: size, height: size, channels: 3 } })
      .jpeg()
      .toBuffer(),
  );
}

const engine = await Dr2eEngine.load({
  model: values.model ?? defaultModelManifest(),
  ...(values.threads ? { intraOpThreads: Number(values.threads) } : {}),
});
const params = engine.resolveParams({ preset: values.preset });
const s = engine.resolution;
const o = engine.outputSize;
console.log(
  `# bench:engine — model ${engine.name} (${s}px -> ${o}px), N=${params.n} tau=${params.tau} omega=${params.omega} (${params.omega - params.tau + 1} model calls), ${repeats} repeats`,
);
console.log(
  `machine: ${os.cpus()[0]?.model ?? 'unknown'} x${os.cpus().length}, node ${process.version}, ${os.platform()}`,
);
console.log('');
console.log(
  '| batch | model call ms/step | JS thread outside model ms/step | arithmetic ms/step | low-pass ms/step | noise ms/step | overlapped with model ms/step | enhancer ms/img | decode ms/img | encode ms/img | non-model share of sampler | non-model share incl. I/O |',
);
console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');

for (const batch of [1, 8]) {
  const images = await Promise.all(Array.from({ length: batch }, (_, i) => syntheticImage(i + 1)));
  const totals = {
    model: 0,
    outside: 0,
    arithmetic: 0,
    lowPass: 0,
    noise: 0,
    overlapped: 0,
    steps: 0,
    enhance: 0,
    decode: 0,
    encode: 0,
  };
  for (let r = 0; r <= repeats; r++) {
    const decodeStart = performance.now();
    const decoded = await Promise.all(images.map((bytes) => decodeImage(bytes, { size: s })));
    const decodeMs = performance.now() - decodeStart;
    const y = new Float32Array(batch * 3 * s * s);
    decoded.forEach((d, b) => y.set(d.tensor, b * 3 * s * s));
    const result = await engine.restoreTensors({ y, batch, params, seeds: decoded.map((_, i) => i) });
    const encodeStart = performance.now();
    await Promise.all(
      decoded.map((_, b) =>
        encodeRgbImage(
          {
            data: tensorToRgb8(result.restored.subarray(b * 3 * o * o, (b + 1) * 3 * o * o), o, o),
            width: o,
            height: o,
          },
          'png',
        ),
      ),
    );
    const encodeMs = performance.now() - encodeStart;
    if (r === 0) continue; // warm-up
    const t = result.sampler;
    totals.model += t.modelMs;
    totals.outside += t.totalMs - t.modelMs - t.callbackMs;
    totals.arithmetic += t.arithmeticMs;
    totals.lowPass += t.lowPassMs;
    totals.noise += t.noiseMs;
    totals.overlapped += t.overlappedMs;
    totals.steps += t.steps;
    totals.enhance += result.timings.enhanceMs;
    totals.decode += decodeMs;
    totals.encode += encodeMs;
  }
  const perStep = (v: number) => v / totals.steps;
  const perImage = (v: number) => v / (repeats * batch);
  const samplerShare = totals.outside / (totals.model + totals.outside);
  const ioShare =
    (totals.outside + totals.decode + totals.encode) /
    (totals.model + totals.outside + totals.decode + totals.encode);
  console.log(
    `| ${batch} | ${perStep(totals.model).toFixed(2)} | ${perStep(totals.outside).toFixed(3)} | ${perStep(totals.arithmetic).toFixed(3)} | ${perStep(totals.lowPass).toFixed(3)} | ${perStep(totals.noise).toFixed(3)} | ${perStep(totals.overlapped).toFixed(3)} | ${perImage(totals.enhance).toFixed(2)} | ${perImage(totals.decode).toFixed(2)} | ${perImage(totals.encode).toFixed(2)} | ${(samplerShare * 100).toFixed(1)}% | ${(ioShare * 100).toFixed(1)}% |`,
  );
}
await engine.dispose();
