/**
 * The background's own restoration (photo/background-denoise.ts) and the guided filter under it
 * (photo/guided-filter.ts): a clean photo is left as it is, a noisy one comes out closer to its
 * clean original with its edges kept, faces left as they were keep their own pixels, and the
 * strip-wise filtering equals the filter run on the whole photo at once.
 */
import { describe, expect, it } from 'vitest';
import {
  InvalidParametersError,
  type RgbImage,
  SeededRandom,
  resizeRgb8,
} from '../../gpu-task/src/engine/index.js';
import {
  DEFAULT_DENOISE_SETTINGS,
  DENOISE_FROM_NOISE,
  type PreparedPhoto,
  type Similarity,
  backgroundNoise,
  boxMean,
  denoiseBackground,
  filterWithGuide,
  finishPhoto,
  guidedFilter,
  guideStatistics,
  loadFaceUpsampler,
  photoEnlargement,
} from '../../gpu-task/src/photo/index.js';
import path from 'node:path';
import { repoRoot } from '../engine/helpers/fixture-paths.js';
import { decodeImageToRgb } from '../../gpu-task/src/engine/index.js';
import { withNoise } from '../engine/quality/cards.js';

/** A scene: a vertical gradient, a dark disc and a bright bar with sharp edges (no noise). */
function scene(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inDisc = (x - width * 0.3) ** 2 + (y - height * 0.5) ** 2 < (height * 0.2) ** 2;
      const inBar = x > width * 0.6 && x < width * 0.7;
      const base = inDisc ? 40 : inBar ? 220 : 90 + (80 * y) / height;
      const o = (y * width + x) * 3;
      data[o] = Math.round(base);
      data[o + 1] = Math.round(base * 0.9 + 10);
      data[o + 2] = Math.round(base * 0.7 + 20);
    }
  }
  return { data, width, height };
}

function meanSquaredError(a: RgbImage, b: RgbImage): number {
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += (a.data[i]! - b.data[i]!) ** 2;
  return sum / a.data.length;
}

describe('guidedFilter', () => {
  it('averages the window where eps dwarfs the variation, and keeps the plane where eps is 0', () => {
    // Prepare: a random plane.
    const random = new SeededRandom(3);
    const plane = Float32Array.from({ length: 40 * 30 }, () => 255 * random.uniform());
    // Act
    const flat = guidedFilter(plane, plane, 40, 30, 2, 1e12);
    const kept = guidedFilter(plane, plane, 40, 30, 2, 0);
    // Assess: the box mean of the box mean (a = 0, b = the window's mean), and the plane itself.
    const twice = boxMean(boxMean(plane, 40, 30, 2), 40, 30, 2);
    for (let i = 0; i < plane.length; i++) {
      expect(flat[i]).toBeCloseTo(twice[i]!, 2);
      expect(kept[i]).toBeCloseTo(plane[i]!, 1);
    }
  });

  it('takes the mean over the window cut at the borders', () => {
    expect(Array.from(boxMean(new Float32Array([0, 3, 6]), 3, 1, 1))).toEqual([1.5, 3, 4.5]);
  });

  it('gives every window mean, at the borders, on planes narrower or shorter than a window, and in place', () => {
    const random = new SeededRandom(5);
    for (const [width, height, r] of [
      [37, 23, 2],
      [5, 3, 4],
      [1, 9, 1],
      [12, 1, 3],
      [1, 1, 2],
    ] as const) {
      // Prepare: a random plane and its window means summed directly.
      const plane = Float32Array.from({ length: width * height }, () => 255 * random.uniform());
      const direct = new Float64Array(width * height);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          let [sum, count] = [0, 0];
          for (let v = Math.max(0, y - r); v <= Math.min(height - 1, y + r); v++) {
            for (let u = Math.max(0, x - r); u <= Math.min(width - 1, x + r); u++, count++)
              sum += plane[v * width + u]!;
          }
          direct[y * width + x] = sum / count;
        }
      }
      // Act
      const means = boxMean(plane, width, height, r);
      const inPlace = plane.slice();
      boxMean(inPlace, width, height, r, inPlace);
      // Assess
      for (let i = 0; i < direct.length; i++) expect(means[i]).toBeCloseTo(direct[i]!, 3);
      expect(inPlace).toEqual(means);
    }
  });

  it('filters several planes with the statistics of one guide exactly as one at a time', () => {
    // Prepare: a guide and two targets (the chroma planes' case) and the guide itself.
    const random = new SeededRandom(9);
    const [width, height, r] = [41, 29, 2];
    const plane = () => Float32Array.from({ length: width * height }, () => 255 * random.uniform() - 60);
    const [guide, first, second] = [plane(), plane(), plane()];
    // Act
    const stats = guideStatistics(guide, width, height, r);
    const shared = [first, second, guide].map((target) => filterWithGuide(stats, target, 300));
    // Assess: the same samples as separate filters, and the guide's statistics left as they were.
    const separate = [first, second, guide].map((target) =>
      guidedFilter(guide, target, width, height, r, 300),
    );
    expect(shared).toEqual(separate);
    expect(stats.mean).toEqual(boxMean(guide, width, height, r));
  });
});

describe('denoiseBackground', () => {
  it('leaves a clean photo as it is', () => {
    // Prepare
    const clean = scene(320, 240);
    // Act
    const result = denoiseBackground(clean);
    // Assess: under the threshold, the very same pixels come back.
    expect(result.noise).toBeLessThan(DENOISE_FROM_NOISE);
    expect(result.denoised).toBe(false);
    expect(result.image).toBe(clean);
  });

  it('brings a noisy photo closer to its clean original and keeps its edges', () => {
    // Prepare: noise of std 12 on every channel.
    const clean = scene(320, 240);
    const noisy = withNoise(clean, 12);
    // Act
    const result = denoiseBackground(noisy);
    // Assess: the noise read near its std, the error more than halved.
    expect(result.denoised).toBe(true);
    expect(result.noise).toBeGreaterThan(8);
    expect(result.noise).toBeLessThan(16);
    expect(meanSquaredError(result.image, clean)).toBeLessThan(0.5 * meanSquaredError(noisy, clean));
    // The bar's edge (x = 192..224) stays a step: the contrast 3 px either side of it is kept.
    const row = 40;
    const at = (x: number) => result.image.data[(row * 320 + x) * 3]!;
    expect(at(200) - at(188)).toBeGreaterThan(0.85 * (220 - (90 + (80 * row) / 240)));
  });

  it('filters strip by strip exactly as over the whole photo at once', () => {
    // Prepare: a photo taller than several strips, filtered here whole with the same settings.
    const noisy = withNoise(scene(90, 400), 10, 5);
    const { width, height } = noisy;
    const n = width * height;
    const [y, cb, cr] = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
    for (let i = 0; i < n; i++) {
      const [r, g, b] = [noisy.data[3 * i]!, noisy.data[3 * i + 1]!, noisy.data[3 * i + 2]!];
      y[i] = 0.299 * r + 0.587 * g + 0.114 * b;
      cb[i] = -0.168736 * r - 0.331264 * g + 0.5 * b;
      cr[i] = 0.5 * r - 0.418688 * g - 0.081312 * b;
    }
    const result = denoiseBackground(noisy);
    const lumaNoise = result.noise * Math.hypot(0.299, 0.587, 0.114);
    const s = DEFAULT_DENOISE_SETTINGS;
    const sy = guidedFilter(y, y, width, height, s.lumaRadius, (s.lumaStrength * lumaNoise) ** 2);
    const chromaEps = (s.chromaStrength * lumaNoise) ** 2;
    const scb = guidedFilter(sy, cb, width, height, s.chromaRadius, chromaEps);
    const scr = guidedFilter(sy, cr, width, height, s.chromaRadius, chromaEps);
    // Act / Assess: every sample equal (the same float operations in the same order).
    expect(result.denoised).toBe(true);
    const level = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));
    let differing = 0;
    for (let i = 0; i < n; i++) {
      const rgb = [
        level(sy[i]! + 1.402 * scr[i]!),
        level(sy[i]! - 0.344136 * scb[i]! - 0.714136 * scr[i]!),
        level(sy[i]! + 1.772 * scb[i]!),
      ];
      for (let c = 0; c < 3; c++) differing += Number(result.image.data[3 * i + c] !== rgb[c]);
    }
    expect(differing).toBe(0);
  });

  it('keeps the pixels of faces left as they were under their paste mask', () => {
    // Prepare: a face frame of 80 px centred at (100, 120).
    const noisy = withNoise(scene(320, 240), 12, 7);
    const side = 80;
    const frame: Similarity = { a: 1 / side, b: 0, tx: 0.5 - 100 / side, ty: 0.5 - 120 / side };
    // Act
    const result = denoiseBackground(noisy, [{ toUnit: frame, share: 1 }]);
    // Assess: where the mask is whole (0.16-0.84 of the side) the input's pixels, elsewhere changed.
    const at = (image: RgbImage, x: number, y: number) => image.data[(y * 320 + x) * 3]!;
    for (let y = 94; y < 146; y++) {
      for (let x = 74; x < 126; x++) expect(at(result.image, x, y)).toBe(at(noisy, x, y));
    }
    let changed = 0;
    for (let y = 0; y < 240; y++)
      for (let x = 200; x < 320; x++) changed += Number(at(result.image, x, y) !== at(noisy, x, y));
    expect(changed).toBeGreaterThan(0.5 * 240 * 120);
  });

  it('keeps a face partly left as it was by its share, and refuses a share outside 0..1', () => {
    // Prepare: the face frame of the test above.
    const noisy = withNoise(scene(320, 240), 12, 7);
    const side = 80;
    const frame: Similarity = { a: 1 / side, b: 0, tx: 0.5 - 100 / side, ty: 0.5 - 120 / side };
    // Act
    const none = denoiseBackground(noisy).image;
    const half = denoiseBackground(noisy, [{ toUnit: frame, share: 0.5 }]).image;
    const zero = denoiseBackground(noisy, [{ toUnit: frame, share: 0 }]).image;
    // Assess: half-way between the denoised and the input pixels where the mask is whole.
    const at = (image: RgbImage, x: number, y: number) => image.data[(y * 320 + x) * 3]!;
    let moved = 0;
    for (let y = 94; y < 146; y++) {
      for (let x = 74; x < 126; x++) {
        const expected = Math.round(at(none, x, y) + 0.5 * (at(noisy, x, y) - at(none, x, y)));
        expect(Math.abs(at(half, x, y) - expected)).toBeLessThanOrEqual(0.5);
        moved += Number(at(half, x, y) !== at(none, x, y));
      }
    }
    expect(moved).toBeGreaterThan(0.5 * 52 * 52);
    expect(Buffer.compare(Buffer.from(zero.data), Buffer.from(none.data))).toBe(0);
    for (const share of [1.5, -0.5, Number.NaN]) {
      expect(() => denoiseBackground(noisy, [{ toUnit: frame, share }])).toThrow(InvalidParametersError);
    }
  });

  it('reads and denoises a photo that is itself an enlargement at its own scale', () => {
    // Prepare: a small noisy photo enlarged x4 (the DR2 test sets' recipe), and its clean twin
    // enlarged the same way. At the pixel scale its noise reads low: enlarged blobs, not grain.
    const clean = resizeRgb8(scene(96, 72), 384, 288);
    const enlarged = resizeRgb8(withNoise(scene(96, 72), 20, 3), 384, 288);
    expect(backgroundNoise(enlarged)).toBeLessThan(DENOISE_FROM_NOISE);
    // Act
    const result = denoiseBackground(enlarged);
    // Assess: found enlarged x4, its noise read near its std at that scale, the error more than halved.
    expect(photoEnlargement(enlarged)).toBe(4);
    expect(result.enlargement).toBe(4);
    expect(result.denoised).toBe(true);
    expect(result.noise).toBeGreaterThan(14);
    expect(result.noise).toBeLessThan(26);
    expect(meanSquaredError(result.image, clean)).toBeLessThan(0.5 * meanSquaredError(enlarged, clean));
  });

  it('reads a photo at its own resolution, noisy or clean, as not enlarged', () => {
    expect(photoEnlargement(withNoise(scene(320, 240), 12))).toBe(1);
    expect(denoiseBackground(withNoise(scene(320, 240), 12)).enlargement).toBe(1);
    expect(photoEnlargement(withNoise(scene(320, 240), 2))).toBe(1);
  });

  /** A photo of 16 px tiles with a smooth, noiseless centre (sky, a backdrop), noise `sigma` elsewhere. */
  function tilesAroundSmoothCentre(sigma: number): { photo: RgbImage; clean: RgbImage } {
    const [width, height] = [1600, 1200];
    const clean = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const centre = Math.abs(x - width / 2) < 300 && Math.abs(y - height / 2) < 300;
        const tile = (Math.floor(x / 16) + Math.floor(y / 16)) % 2;
        for (let c = 0; c < 3; c++) {
          clean[(y * width + x) * 3 + c] = centre
            ? 150 + Math.round((y - height / 2) / 10) + 10 * c
            : 70 + 60 * tile + 10 * c;
        }
      }
    }
    const noisy = withNoise({ data: clean, width, height }, sigma, 17);
    // The centre stays noiseless: it is what reads as an enlargement on its own.
    for (let y = height / 2 - 299; y < height / 2 + 300; y++) {
      const from = (y * width + width / 2 - 299) * 3;
      noisy.data.set(clean.subarray(from, from + 598 * 3), from);
    }
    return { photo: noisy, clean: { data: clean, width, height } };
  }

  it('does not take a photo with a smooth centre for an enlargement: it stays as it was, or denoised at its own size', () => {
    // Prepare: the same tiled photo clean and with noise 12 around its smooth centre.
    const clean = tilesAroundSmoothCentre(0).photo;
    const { photo: noisy, clean: truth } = tilesAroundSmoothCentre(12);
    // Act
    const fromClean = denoiseBackground(clean);
    const fromNoisy = denoiseBackground(noisy);
    // Assess: read at their own size; the clean one untouched, the noisy one's error more than halved.
    expect(photoEnlargement(clean)).toBe(1);
    expect(fromClean).toMatchObject({ denoised: false, enlargement: 1 });
    expect(fromClean.image).toBe(clean);
    expect(fromNoisy.enlargement).toBe(1);
    expect(fromNoisy.noise).toBeGreaterThan(8);
    expect(meanSquaredError(fromNoisy.image, truth)).toBeLessThan(0.5 * meanSquaredError(noisy, truth));
  });

  it('reads texture in a few windows as texture, not as the photo noise', () => {
    // Prepare: a clean scene with a quarter of it strong random texture (foliage-like).
    const photo = scene(256, 256);
    const random = new SeededRandom(11);
    for (let y = 0; y < 128; y++) {
      for (let x = 0; x < 128; x++) {
        const v = Math.round(255 * random.uniform());
        for (let c = 0; c < 3; c++) photo.data[(y * 256 + x) * 3 + c] = v;
      }
    }
    // Act / Assess: the textured quarter does not make the photo read as noisy.
    expect(backgroundNoise(photo)).toBeLessThan(DENOISE_FROM_NOISE);
  });
});

describe('finishPhoto with denoiseBackground', () => {
  /** A decoded photo (no alpha) prepared with no restored face and one skipped face. */
  function prepared(image: RgbImage): PreparedPhoto {
    const { width, height } = image;
    return {
      decoded: {
        image,
        alpha: null,
        grey: false,
        info: { width, height, format: 'png', hasAlpha: false, orientation: 1, byteLength: 0, frames: 1 },
      },
      upscale: 2,
      faces: [],
      skippedFaces: [{ box: [60, 70, 40, 40], score: 0.9, landmarks: [], reason: 'min_face' }],
      warnings: [],
      decodeMs: 0,
      detectMs: 0,
      decodeCpuMs: 0,
      detectCpuMs: 0,
    };
  }

  it('leaves a face kept as it was (not restored) untouched over its whole frame, turned or not', async () => {
    // Prepare: a face frame of 60 px turned by 30 degrees, centred at (90, 80), left as it was.
    const noisy = withNoise(scene(200, 160), 12, 13);
    const side = 60;
    const [cx, cy, angle] = [90, 80, Math.PI / 6];
    const a = Math.cos(-angle) / side;
    const b = Math.sin(-angle) / side;
    // photo -> frame fractions: rotate about the centre, scale to the side, centre at 0.5.
    const toUnit: Similarity = { a, b, tx: 0.5 - (a * cx - b * cy), ty: 0.5 - (b * cx + a * cy) };
    const face = {
      report: { box: [60, 50, 60, 60] as [number, number, number, number], score: 0.9, landmarks: [] },
      toUnit,
      pasteSide: 2 * side,
      alignedInput: scene(120, 120),
      modelInput: scene(64, 64),
    };
    const photo = { ...prepared(noisy), faces: [face], skippedFaces: [] };
    // Act: the plain enlargement under the kept face (no face upsampler), and with it.
    const faceUpsampler = await loadFaceUpsampler(
      path.join(repoRoot, 'gpu-task', 'models', 'default', 'face-upsampler', 'x2.json'),
    );
    const keep = await finishPhoto(photo, [null], { format: 'png' });
    const denoised = await finishPhoto(photo, [null], { format: 'png', denoiseBackground: true });
    const keepLayered = await finishPhoto(photo, [null], { format: 'png', faceUpsampler });
    const denoisedLayered = await finishPhoto(photo, [null], {
      format: 'png',
      denoiseBackground: true,
      faceUpsampler,
    });
    // Assess: every output pixel whose centre lies in the frame is the plain enlargement's; with
    // the face upsampler, whose taps reach a few pixels out, every pixel of the frame's middle.
    const decode = async ({ bytes }: { bytes: Uint8Array }) => (await decodeImageToRgb(bytes)).image;
    const [a0, b0, a1, b1] = [
      await decode(keep),
      await decode(denoised),
      await decode(keepLayered),
      await decode(denoisedLayered),
    ];
    let inside = 0;
    let differing = 0;
    let middle = 0;
    let middleDiffering = 0;
    let layerChanged = 0;
    let outsideChanged = 0;
    for (let y = 0; y < 320; y++) {
      for (let x = 0; x < 400; x++) {
        const [u, v] = [
          toUnit.a * ((x + 0.5) / 2) - toUnit.b * ((y + 0.5) / 2) + toUnit.tx,
          toUnit.b * ((x + 0.5) / 2) + toUnit.a * ((y + 0.5) / 2) + toUnit.ty,
        ];
        const o = (y * 400 + x) * 3;
        if (u >= 0 && u <= 1 && v >= 0 && v <= 1) {
          inside++;
          for (let c = 0; c < 3; c++) differing += Number(a0.data[o + c] !== b0.data[o + c]);
          layerChanged += Number(a0.data[o] !== a1.data[o]);
          if (u >= 0.1 && u <= 0.9 && v >= 0.1 && v <= 0.9) {
            middle++;
            for (let c = 0; c < 3; c++) middleDiffering += Number(a1.data[o + c] !== b1.data[o + c]);
          }
        } else if (x >= 300) {
          outsideChanged += Number(a0.data[o] !== b0.data[o]);
        }
      }
    }
    expect(inside).toBeGreaterThan(0.9 * 4 * side * side);
    expect(differing).toBe(0);
    expect(outsideChanged).toBeGreaterThan(0.5 * 100 * 320);
    expect(middle).toBeGreaterThan(0.6 * 4 * side * side);
    expect(middleDiffering).toBe(0);
    expect(layerChanged).toBeGreaterThan(0.3 * inside);
  });

  it('denoises the background, leaves a skipped face untouched and reports what it read', async () => {
    // Prepare
    const noisy = withNoise(scene(200, 160), 12, 9);
    const photo = prepared(noisy);
    // Act
    const keep = await finishPhoto(photo, [], { format: 'png' });
    const denoised = await finishPhoto(photo, [], { format: 'png', denoiseBackground: true });
    // Assess: the report, the skipped face's middle as enlarged without denoising, elsewhere not.
    expect(keep.background).toBeUndefined();
    expect(denoised.background?.denoised).toBe(true);
    expect(denoised.background?.noise).toBeGreaterThan(DENOISE_FROM_NOISE);
    const [a, b] = [
      (await decodeImageToRgb(keep.bytes)).image,
      (await decodeImageToRgb(denoised.bytes)).image,
    ];
    expect([b.width, b.height]).toEqual([400, 320]);
    const at = (image: RgbImage, x: number, y: number) => image.data[(y * 400 + x) * 3]!;
    for (let y = 150; y < 170; y++) for (let x = 150; x < 170; x++) expect(at(b, x, y)).toBe(at(a, x, y));
    let changed = 0;
    for (let y = 0; y < 320; y++)
      for (let x = 280; x < 400; x++) changed += Number(at(a, x, y) !== at(b, x, y));
    expect(changed).toBeGreaterThan(0.5 * 320 * 120);
  });
});
