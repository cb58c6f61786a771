/**
 * Chooses the background denoiser's settings (gpu-task/src/photo/background-denoise.ts) on
 * backgrounds of the whole-photo evaluation's scenes, without faces and without the model:
 * each background (a window of `--background`, or a synthetic one with `synthetic`, drawn as
 * `dr2e eval-photos` draws them for `--seeds`) is degraded like a scene of each split (blur,
 * x4 downsampling, noise, JPEG; eval/photo-scenes.ts degradePhoto), then enlarged x4 with and
 * without the denoiser; the mean PSNR and SSIM gains over the plain enlargement are printed per
 * split and setting, with how many photos lost PSNR or SSIM.
 *
 *   npx tsx scripts/background-denoise-sweep.ts \
 *     --background ../shared/data/whole-photos/insightface_view_noface.jpg --seeds 1,2 --photos 6
 *   # settings to compare, as JSON (fields of DenoiseSettings; absent ones take the defaults):
 *   npx tsx scripts/background-denoise-sweep.ts --settings '[{"lumaRadius":1},{"lumaStrength":2}]'
 *
 * `--enlarged 4` checks photos that are themselves enlargements instead: each degraded background
 * enlarged x4 (bicubic) is the photo sent, measured against its clean twin (the background
 * brought to the degraded one's size, enlarged the same way), with and without the denoiser.
 *
 * Seed 0 is what the docs' val runs use: choose on other seeds. About 1 min per setting and
 * 36 photos on the 2 shared cores (the SSIM at 1600 x 1200 is most of it).
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { type RgbImage, decodeImageToRgb } from '../gpu-task/src/engine/index.js';
import {
  DEFAULT_SCENE_OPTIONS,
  degradationSplit,
  degradePhoto,
  psnr,
  resizeRgb,
  sampleDegradation,
  sceneBackground,
  scenePhotoId,
  ssim,
} from '../gpu-task/src/eval/index.js';
import {
  DEFAULT_DENOISE_SETTINGS,
  type DenoiseSettings,
  cubicBackground,
  denoiseBackground,
} from '../gpu-task/src/photo/index.js';

const { values } = parseArgs({
  options: {
    background: { type: 'string', default: '../shared/data/whole-photos/insightface_view_noface.jpg' },
    seeds: { type: 'string', default: '1,2' },
    photos: { type: 'string', default: '6' },
    splits: { type: 'string', default: 'mild,medium,severe' },
    settings: { type: 'string' },
    enlarged: { type: 'string', default: '1' },
  },
});

/** A face side typical of the scenes (40-160 px at x4): the blur is scaled to it, as in degradePhoto's callers. */
const MEAN_FACE_SIDE = 4 * 75;

const seeds = values.seeds.split(',').map(Number);
const photos = Number(values.photos);
const settings: DenoiseSettings[] = values.settings
  ? (JSON.parse(values.settings) as Partial<DenoiseSettings>[]).map((s) => ({
      ...DEFAULT_DENOISE_SETTINGS,
      ...s,
    }))
  : [{ ...DEFAULT_DENOISE_SETTINGS }];
const source: RgbImage | null =
  values.background === 'synthetic'
    ? null
    : (await decodeImageToRgb(new Uint8Array(await readFile(values.background)))).image;
const upscale = DEFAULT_SCENE_OPTIONS.upscale;
const enlarged = Number(values.enlarged);
if (![1, 2, 4, 8].includes(enlarged)) throw new Error(`--enlarged must be 1, 2, 4 or 8, got ${values.enlarged}`);

console.log(
  `backgrounds: ${values.background}; seeds ${seeds.join(', ')}; ${photos} photos per seed` +
    (enlarged > 1 ? `; sent enlarged x${enlarged}` : ''),
);
for (const name of values.splits.split(',')) {
  const split = degradationSplit(name);
  const totals = settings.map(() => ({ psnr: 0, ssim: 0, psnrLost: 0, ssimLost: 0, denoised: 0, count: 0 }));
  for (const seed of seeds) {
    for (let index = 0; index < photos; index++) {
      const truth = await sceneBackground(source, DEFAULT_SCENE_OPTIONS, seed, index);
      const id = scenePhotoId(index);
      const { low } = await degradePhoto(
        truth,
        sampleDegradation(seed, id, upscale, split),
        MEAN_FACE_SIDE,
        seed,
        id,
      );
      // What is sent and what it is measured against: the degraded photo, enlarged x4 after the
      // denoiser against the clean background; or (--enlarged f) the degraded photo enlarged by f
      // before it is sent, measured at that size against its clean twin.
      const sent = enlarged > 1 ? (await cubicBackground(low, enlarged)).image : low;
      const reference =
        enlarged > 1 ? (await cubicBackground(resizeRgb(truth, low.width, low.height), enlarged)).image : truth;
      const finish = async (image: typeof low) =>
        enlarged > 1 ? image : (await cubicBackground(image, upscale)).image;
      const plain = await finish(sent);
      const [plainPsnr, plainSsim] = [psnr(plain, reference), ssim(plain, reference)];
      for (const [k, setting] of settings.entries()) {
        const result = denoiseBackground(sent, [], setting);
        const out = result.denoised ? await finish(result.image) : plain;
        const gain = { psnr: psnr(out, reference) - plainPsnr, ssim: ssim(out, reference) - plainSsim };
        const total = totals[k]!;
        total.psnr += gain.psnr;
        total.ssim += gain.ssim;
        total.psnrLost += Number(gain.psnr < 0);
        total.ssimLost += Number(gain.ssim < 0);
        total.denoised += Number(result.denoised);
        total.count++;
      }
    }
  }
  for (const [k, setting] of settings.entries()) {
    const t = totals[k]!;
    console.log(
      `${name} ${JSON.stringify(setting)}: ΔPSNR ${(t.psnr / t.count).toFixed(3)} dB, ΔSSIM ${(t.ssim / t.count).toFixed(4)}; ` +
        `denoised ${t.denoised}/${t.count}, lost PSNR on ${t.psnrLost}, SSIM on ${t.ssimLost}`,
    );
  }
}
