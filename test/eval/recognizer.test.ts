/**
 * The face recognizer behind the evaluation's identity metric: the committed ONNX file loads and
 * matches its recorded checksum, alignment gives the network's 112 px input, embeddings are unit
 * vectors that tell one person from another (a face against its mirror image and a blurred copy,
 * against other people), and bad inputs are refused by name.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeImageToRgb,
  FFHQ_FRAMING,
  InvalidParametersError,
  type RgbImage,
} from '../../gpu-task/src/engine/index.js';
import {
  alignForRecognition,
  ARCFACE_FRAMING,
  DEFAULT_RECOGNIZER,
  embeddingCosine,
  FaceRecognizer,
} from '../../gpu-task/src/eval/recognizer.js';
import { listCleanFaces, resizeRgb } from '../../gpu-task/src/eval/index.js';
import { sharedDir } from '../engine/helpers/fixture-paths.js';
import { patternImage } from './helpers.js';

const UTKFACE = path.join(sharedDir, 'data', 'utkface', 'utkface-200.tar');
const UTK_FRAMING = { name: 'utkface-200', eyeDistance: 0.4025, eyeY: 0.2855, mouthY: 0.6876 };

function mirror(image: RgbImage): RgbImage {
  const out = new Uint8Array(image.data.length);
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const s = (y * image.width + (image.width - 1 - x)) * 3;
      out.set(image.data.subarray(s, s + 3), (y * image.width + x) * 3);
    }
  }
  return { ...image, data: out };
}

function norm(v: Float32Array): number {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

let recognizer: FaceRecognizer;
beforeAll(async () => {
  recognizer = await FaceRecognizer.load();
});
afterAll(async () => {
  await recognizer.dispose();
});

describe('the committed recognizer', () => {
  it('is the file its source.json describes', async () => {
    // Prepare
    const source = JSON.parse(
      await readFile(DEFAULT_RECOGNIZER.replace(/mobileface\.onnx$/, 'source.json'), 'utf8'),
    ) as { sha256: string };
    // Act
    const digest = createHash('sha256')
      .update(await readFile(DEFAULT_RECOGNIZER))
      .digest('hex');
    // Assess
    expect(digest).toBe(source.sha256);
  });

  it('embeds faces as unit vectors, one per face, in input order, across batches', async () => {
    // Prepare: 35 different pictures (more than one batch of 32).
    const faces = Array.from({ length: 35 }, (_, i) => patternImage(96, i));
    // Act
    const together = await recognizer.embed(faces, FFHQ_FRAMING);
    const alone = [
      ...(await recognizer.embed([faces[0]!], FFHQ_FRAMING)),
      ...(await recognizer.embed([faces[34]!], FFHQ_FRAMING)),
    ];
    // Assess
    expect(together).toHaveLength(35);
    for (const e of together) expect(norm(e)).toBeCloseTo(1, 5);
    expect(embeddingCosine(together[0]!, alone[0]!)).toBeCloseTo(1, 5);
    expect(embeddingCosine(together[34]!, alone[1]!)).toBeCloseTo(1, 5);
    expect(embeddingCosine(together[0]!, together[34]!)).toBeLessThan(0.999);
  });

  it('tells the sample faces apart: each is closer to its own mirror image than to the others', async () => {
    // Prepare: the three demo faces are FFHQ-aligned crops of three people.
    const faces: RgbImage[] = [];
    for (const name of ['mild', 'medium', 'severe']) {
      const { image } = await decodeImageToRgb(await readFile(`samples/sample-${name}.jpg`));
      faces.push(image);
    }
    // Act
    const own = await recognizer.embed(faces, FFHQ_FRAMING);
    const mirrored = await recognizer.embed(faces.map(mirror), FFHQ_FRAMING);
    // Assess
    for (let i = 0; i < faces.length; i++) {
      const self = embeddingCosine(own[i]!, mirrored[i]!);
      for (let j = 0; j < faces.length; j++) {
        if (j !== i) expect(self).toBeGreaterThan(embeddingCosine(own[i]!, own[j]!));
      }
    }
  });

  it.skipIf(!existsSync(UTKFACE))(
    `separates people on UTKFace train faces: a mirror image or a blurred copy scores far above another person${existsSync(UTKFACE) ? '' : ` (skipped: ${UTKFACE} is absent)`}`,
    async () => {
      // Prepare
      const refs = await listCleanFaces(UTKFACE, { prefix: 'train/', limit: 24 });
      const faces: RgbImage[] = [];
      for (const ref of refs) faces.push((await decodeImageToRgb(await ref.read())).image);
      // Act
      const own = await recognizer.embed(faces, UTK_FRAMING);
      const mirrored = await recognizer.embed(faces.map(mirror), UTK_FRAMING);
      const blurred = await recognizer.embed(
        faces.map((f) => resizeRgb(resizeRgb(f, 48, 48), f.width, f.height)),
        UTK_FRAMING,
      );
      // Assess
      const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
      const others: number[] = [];
      for (let i = 0; i < own.length; i++)
        for (let j = i + 1; j < own.length; j++) others.push(embeddingCosine(own[i]!, own[j]!));
      const selfMirror = mean(own.map((e, i) => embeddingCosine(e, mirrored[i]!)));
      const selfBlurred = mean(own.map((e, i) => embeddingCosine(e, blurred[i]!)));
      expect(selfMirror).toBeGreaterThan(0.85);
      expect(selfBlurred).toBeGreaterThan(0.85);
      expect(mean(others)).toBeLessThan(0.4);
    },
  );
});

describe('alignForRecognition', () => {
  it('gives the 112 px input and maps the framing onto the ArcFace template', () => {
    // Prepare
    const face = patternImage(200, 3);
    // Act
    const aligned = alignForRecognition(face, ARCFACE_FRAMING);
    // Assess: a face already in the template's framing is only resized.
    expect([aligned.width, aligned.height]).toEqual([112, 112]);
    expect(Array.from(aligned.data)).toEqual(Array.from(resizeRgb(face, 112, 112).data));
  });

  it("puts an FFHQ-aligned face's eyes where the ArcFace template has them", () => {
    // Prepare: a white 256 px face with dark eyes at FFHQ's eye positions.
    const side = 256;
    const data = new Uint8Array(side * side * 3).fill(255);
    const eyes = [0.5 - FFHQ_FRAMING.eyeDistance / 2, 0.5 + FFHQ_FRAMING.eyeDistance / 2].map((x) => ({
      x: x * side,
      y: FFHQ_FRAMING.eyeY * side,
    }));
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        if (eyes.some((e) => Math.hypot(x + 0.5 - e.x, y + 0.5 - e.y) < 5))
          data.fill(0, (y * side + x) * 3, (y * side + x) * 3 + 3);
      }
    }
    // Act
    const aligned = alignForRecognition({ data, width: side, height: side }, FFHQ_FRAMING);
    // Assess: the dark blobs' centroids, left and right half, against the template's eyes.
    const centroid = (fromX: number, toX: number) => {
      let sx = 0;
      let sy = 0;
      let w = 0;
      for (let y = 0; y < 112; y++) {
        for (let x = fromX; x < toX; x++) {
          const dark = 255 - aligned.data[(y * 112 + x) * 3]!;
          sx += dark * (x + 0.5);
          sy += dark * (y + 0.5);
          w += dark;
        }
      }
      return { x: sx / w, y: sy / w };
    };
    const left = centroid(0, 56);
    const right = centroid(56, 112);
    // Within the framing's compromise between eye distance and eye-to-mouth height (one scale for
    // both, their geometric mean): about a pixel at 112 px.
    expect(Math.abs(left.x - 38.29)).toBeLessThan(1.5);
    expect(Math.abs(right.x - 73.53)).toBeLessThan(1.5);
    expect(Math.abs(left.y - 51.6)).toBeLessThan(2.5);
    expect(Math.abs(right.y - 51.6)).toBeLessThan(2.5);
  });

  it('refuses a face that is not square', () => {
    const tall = { data: new Uint8Array(32 * 128 * 3), width: 32, height: 128 };
    expect(() => alignForRecognition(tall, FFHQ_FRAMING)).toThrow(InvalidParametersError);
  });
});

describe('embeddingCosine and load errors', () => {
  it('refuses embeddings of different lengths and scores a zero vector 0', () => {
    expect(() => embeddingCosine(new Float32Array(3), new Float32Array(4))).toThrow(InvalidParametersError);
    expect(embeddingCosine(new Float32Array(3), Float32Array.of(1, 0, 0))).toBe(0);
  });

  it('names a file that is not a model', async () => {
    await expect(FaceRecognizer.load('package.json')).rejects.toThrow(
      /cannot load the face recognizer package\.json/,
    );
  });
});
