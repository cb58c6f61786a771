/**
 * The README's whole-photo figure: a photo restored by `restoreImages` (default model, upscale 2,
 * seed 1) beside the plain enlargement it starts from (the photo stage's own centre-aligned
 * bicubic, `enlargeCentred`), cropped around the faces, with the detected face boxes drawn on
 * the input side.
 *
 *   node --import tsx scripts/photo-figure.ts [photo] [-o docs/photo-before-after.png] [--fidelity 0.5]
 *
 * Default photo: ../shared/data/whole-photos/Blake_Lively.jpg (a GFPGAN example, Apache-2.0).
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { Dr2eEngine, packageRoot } from '../gpu-task/src/engine/index.js';
import { enlargeCentred } from '../gpu-task/src/photo/index.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    output: { type: 'string', short: 'o', default: 'docs/photo-before-after.png' },
    fidelity: { type: 'string', default: '0.5' },
  },
});
const input =
  positionals[0] ?? path.join(packageRoot(), '..', 'shared', 'data', 'whole-photos', 'Blake_Lively.jpg');
const bytes = new Uint8Array(await readFile(input));
const engine = await Dr2eEngine.load({ device: 'cpu' });
const fidelity = Number(values.fidelity);
if (!(fidelity >= 0 && fidelity <= 1))
  throw new Error(`--fidelity must be in [0, 1], got ${values.fidelity}`);
const [result] = await engine.restoreImages([{ id: input, bytes, seed: 1 }], {
  upscale: 2,
  params: { fidelity },
});
await engine.dispose();
if (!result?.ok) throw new Error(`restore failed: ${result?.ok === false ? result.error.message : '?'}`);

const up = result.upscale;
const decoded = await sharp(bytes).rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true });
const enlarged = await enlargeCentred(decoded.data, decoded.info.width, decoded.info.height, 3, up);
const before = await sharp(enlarged, { raw: { width: result.width, height: result.height, channels: 3 } })
  .png()
  .toBuffer();
// The faces' bounding region with a margin, in output pixels.
const boxes = result.faces.map((f) => f.box.map((v) => v * up) as [number, number, number, number]);
const x0 = Math.max(0, Math.min(...boxes.map((b) => b[0] - b[2] * 0.4)));
const y0 = Math.max(0, Math.min(...boxes.map((b) => b[1] - b[3] * 0.4)));
const x1 = Math.min(result.width, Math.max(...boxes.map((b) => b[0] + b[2] * 1.4)));
const y1 = Math.min(result.height, Math.max(...boxes.map((b) => b[1] + b[3] * 1.4)));
const region = {
  left: Math.round(x0),
  top: Math.round(y0),
  width: Math.round(x1 - x0),
  height: Math.round(y1 - y0),
};
const outline = Buffer.from(
  `<svg xmlns="http://www.w3.org/2000/svg" width="${region.width}" height="${region.height}">${boxes
    .map(
      (b) =>
        `<rect x="${b[0] - region.left}" y="${b[1] - region.top}" width="${b[2]}" height="${b[3]}" fill="none" stroke="#ffd400" stroke-width="${Math.max(2, region.width / 300)}"/>`,
    )
    .join('')}</svg>`,
);
const left = await sharp(before)
  .extract(region)
  .composite([{ input: outline }])
  .png()
  .toBuffer();
const right = await sharp(result.restored).removeAlpha().extract(region).png().toBuffer();
const gap = 8;
const figure = sharp({
  create: { width: region.width * 2 + gap, height: region.height, channels: 3, background: '#ffffff' },
})
  .composite([
    { input: left, left: 0, top: 0 },
    { input: right, left: region.width + gap, top: 0 },
  ])
  .png();
const width = Math.min(1400, region.width * 2 + gap);
await mkdir(path.dirname(path.resolve(values.output)), { recursive: true });
await sharp(await figure.toBuffer())
  .resize(width)
  .png({ compressionLevel: 9 })
  .toFile(values.output);
console.log(
  `${values.output}: ${path.basename(input)} ${result.width / up}x${result.height / up} -> ${result.width}x${result.height}, ` +
    `${result.faces.length} faces, left: bicubic x${up} with the detected boxes, right: restored at fidelity ${fidelity}`,
);
