/**
 * Aligned face crops through the engine (`restoreImages` with `aligned`): each input is one face
 * in the model's or FFHQ framing (engine/framing), restored whole and returned at input size x
 * `upscale`; no detection.
 */
import { MAX_OUTPUT_SIDE } from '../../../shared/src/index.js';
import {
  capUpscale,
  encodePhoto,
  type FaceReport,
  type UpscaleFactor,
  withInputColourIfColourless,
} from '../photo/index.js';
import { asEngineError, InvalidParametersError } from './errors.js';
import {
  type AdaptedFaceInput,
  FFHQ_FRAMING,
  type FaceFraming,
  cutSquare,
  decodeAdaptedFace,
  framingTemplate,
  pasteFace,
  resizeRgbImage,
} from './framing/index.js';
import {
  decodeImage,
  decodeImageToRgb,
  restoresFirstFrameOnly,
  tensorToRgbImage,
  type Framing,
  type RgbImage,
} from './image/index.js';
import { resolveImageLimits } from './image/limits.js';
import {
  type FacePlan,
  faceQualityReport,
  finishFace,
  isAutoRequest,
  keepsFace,
  resizeRgb8,
} from './quality/index.js';
import { randomSeed } from './random/seeds.js';
import {
  type EngineImageInput,
  type FaceCrop,
  type FaceRunner,
  type ImageRestoration,
  type RestoreImagesOptions,
  type StageTimings,
  qualityOption,
  runOptions,
  strictestFormat,
} from './restore-api.js';
import type { Dr2ParamsRequest } from './sampler/dr2-params.js';

/**
 * Longest side over shorter side of an aligned crop taken without the warning `aligned_not_square`:
 * FFHQ and model-framed crops are square, portrait cuts of them 4:5; a 4:3 or 16:9 input is more
 * likely a photo sent with `aligned` by mistake (restored whole as one face, it comes back a smear).
 */
const ALIGNED_MAX_ASPECT = 1.25;

/**
 * Aligned face crops (`aligned`; the behaviour before whole photos): each input restored whole,
 * in batches of `batchSize` images, then enlarged to input size x `upscale`.
 */
export async function restoreAlignedCrops(
  runner: FaceRunner,
  inputs: readonly EngineImageInput[],
  options: RestoreImagesOptions,
  request: Dr2ParamsRequest,
  batchSize: number,
  requestedUpscale: UpscaleFactor,
): Promise<ImageRestoration[]> {
  const auto = isAutoRequest(request);
  const format = options.format ?? 'png';
  const maxPixels = resolveImageLimits(options.limits).maxInputPixels;
  const s = runner.resolution;
  const results = new Map<string, ImageRestoration>();

  interface Ready {
    input: EngineImageInput;
    seed: number;
    tensor: Float32Array;
    /** Where the picture went in the model frame (plain decoding; null when adapted). */
    framing: Framing | null;
    /** The face cut for a model of another framing, to be pasted back (null when not adapted). */
    adapted: AdaptedFaceInput | null;
    /** The face's estimate and setting (engine/quality). */
    plan: FacePlan;
    /** The face at its own pixels, for the fusion (auto, square faces only). */
    face: RgbImage | null;
    decodeMs: number;
    inputSize: { width: number; height: number };
    /** The framing the crop was taken to have (for its face report). */
    alignedTemplate: FaceFraming;
    /** Whether the file held more frames or pages than the one restored. */
    firstFrameOnly: boolean;
  }
  const decoded = await Promise.all(
    inputs.map(async (input): Promise<Ready | null> => {
      const start = performance.now();
      try {
        const adapted = await decodeAdaptedFace(input.bytes, {
          size: s,
          mode: options.inputFraming ?? 'auto',
          modelFraming: runner.framing,
          ...(options.fit ? { fit: options.fit } : {}),
          ...(options.limits ? { limits: options.limits } : {}),
        });
        if (adapted) {
          const face = cutSquare(adapted.source, adapted.crop);
          const decodeMs = performance.now() - start;
          return {
            input,
            seed: input.seed ?? randomSeed(),
            tensor: adapted.tensor,
            framing: null,
            adapted,
            plan: runner.planFace(face, request, face.width, {
              decoded: {
                image: adapted.source,
                left: adapted.crop.left,
                top: adapted.crop.top,
                orientation: adapted.sourceOrientation,
              },
            }),
            face: auto ? face : null,
            decodeMs,
            inputSize: { width: adapted.source.width, height: adapted.source.height },
            alignedTemplate: adapted.inputFraming,
            firstFrameOnly: restoresFirstFrameOnly(adapted.sourceInfo),
          };
        }
        const image = await decodeImage(input.bytes, {
          size: s,
          ...(options.fit ? { fit: options.fit } : {}),
          ...(options.limits ? { limits: options.limits } : {}),
        });
        // The estimate needs the face at its own pixels: decoded again, whole (square inputs),
        // or the model frame when the input is padded or cropped to a square.
        const { modelRect, size } = image.framing;
        const square = modelRect.width === size && modelRect.height === size;
        const own = square && auto ? await decodeImageToRgb(input.bytes) : null;
        const face = own && own.image.width === own.image.height ? own.image : null;
        return {
          input,
          seed: input.seed ?? randomSeed(),
          tensor: image.tensor,
          framing: image.framing,
          adapted: null,
          plan: runner.planFace(
            face ?? image.rgb,
            request,
            image.source.width,
            face ? { decoded: { image: face, left: 0, top: 0, orientation: own!.info.orientation } } : {},
          ),
          face,
          decodeMs: performance.now() - start,
          inputSize: { width: image.source.width, height: image.source.height },
          // Not adapted: the crop has the model's framing (mode model, or a model of FFHQ
          // framing), or is not square in mode auto (then assumed FFHQ, as best guess).
          alignedTemplate: options.inputFraming === 'model' ? (runner.framing ?? FFHQ_FRAMING) : FFHQ_FRAMING,
          firstFrameOnly: restoresFirstFrameOnly(image.source),
        };
      } catch (error) {
        results.set(input.id, { id: input.id, ok: false, error: asEngineError(error) });
        return null;
      }
    }),
  );
  const ready = decoded.filter((d): d is Ready => d !== null);

  /** Finish one crop from its restored frame (O x O) and DR2 frame (S x S, with keepDr2). */
  const finish = async (
    item: Ready,
    restoredFrame: RgbImage,
    dr2Frame: RgbImage | null,
    share: StageTimings,
    kept: boolean,
  ): Promise<void> => {
    const encodeStart = performance.now();
    try {
      // What the model saw. A black-and-white crop stays so: the model paints colour into grey
      // faces. A kept crop is its own pixels: nothing was painted (its faint tone stays as it is).
      const seenFrame = tensorToRgbImage(item.tensor, 0, s);
      const fusedFrame = fuseWithInput(restoredFrame, item);
      const fused = kept ? fusedFrame : await withInputColourIfColourless(fusedFrame, seenFrame);
      const framed = await toInputFraming(fused, item);
      const { width: inW, height: inH } = item.inputSize;
      const maxSide = MAX_OUTPUT_SIDE[strictestFormat(item.input.finalFormat, format)];
      const upscale = capUpscale(inW, inH, requestedUpscale, maxPixels, maxSide);
      // At least the input's size: the face's resolution may be below it (a 512 px crop
      // through a 128 px model); the enlargement is the user's upscale of the whole crop.
      const restored = await resizeRgbImage(framed, inW * upscale, inH * upscale);
      // Written as whole photos are (photo/encode.ts): with the sRGB profile, which sharp's
      // plain encoding leaves out.
      const encoding = { format, ...qualityOption(options.quality) };
      const restoredBytes = await encodePhoto(restored, encoding);
      let dr2Bytes: Uint8Array | undefined;
      if (dr2Frame) {
        const dr2 = await toInputFraming(dr2Frame, item);
        dr2Bytes = await encodePhoto(dr2, encoding);
      }
      // The pair is what the model saw and what it gave, the same size. A crop cut to the
      // model's framing (adapted) pairs in that framing: pasted back, most of its picture
      // would be source pixels the model never saw. A crop used whole pairs in its own framing.
      let faceCrops: FaceCrop[] | undefined;
      if (options.saveFaces) {
        const restoredFace = item.adapted ? fused : framed;
        const seen = item.adapted ? seenFrame : await toInputFraming(seenFrame, item);
        const input = await resizeRgbImage(seen, restoredFace.width, restoredFace.height);
        faceCrops = [
          {
            index: 0,
            input: await encodePhoto(input, { format: 'png' }),
            restored: await encodePhoto(restoredFace, { format: 'png' }),
          },
        ];
      }
      results.set(item.input.id, {
        id: item.input.id,
        ok: true,
        restored: restoredBytes,
        ...(dr2Bytes ? { dr2: dr2Bytes } : {}),
        ...(faceCrops ? { faceCrops } : {}),
        width: restored.width,
        height: restored.height,
        seed: item.seed,
        params: item.plan.params,
        upscale,
        faces: [
          {
            ...alignedFaceReport(inW, inH, item.alignedTemplate),
            ...faceQualityReport(item.plan, kept),
          },
        ],
        skippedFaces: [],
        warnings: [
          ...(upscale === requestedUpscale ? [] : ['upscale_capped' as const]),
          ...(item.firstFrameOnly ? ['first_frame_only' as const] : []),
          ...(Math.max(inW, inH) > ALIGNED_MAX_ASPECT * Math.min(inW, inH)
            ? ['aligned_not_square' as const]
            : []),
        ],
        timings: {
          decodeMs: item.decodeMs,
          detectMs: 0,
          ...share,
          encodeMs: performance.now() - encodeStart,
        },
      });
    } catch (error) {
      results.set(item.input.id, { id: item.input.id, ok: false, error: asEngineError(error) });
    }
  };

  // A crop `auto` keeps as it is, fused with its own pixels (a square crop or an adapted
  // one), comes out as its input whatever the model gives (the restored bands weigh 0), so it
  // skips the model; without its own pixels the fusion is not applied and it is restored.
  // With keepDr2 it is run all the same: DR2's output was asked for.
  const keptAsIs = (item: Ready): boolean => item.face !== null && keepsFace(item.plan) && !options.keepDr2;
  const o = runner.outputSize;
  const noModel = { dr2Ms: 0, modelMs: 0, enhanceMs: 0 };
  for (const item of ready.filter(keptAsIs)) {
    const unused: RgbImage = { data: new Uint8Array(o * o * 3), width: o, height: o };
    await finish(item, unused, null, noModel, true);
  }
  const toRun = ready.filter((item) => !keptAsIs(item));
  await runner.runFaces(
    toRun,
    (item) => ({
      write: (y: Float32Array, offset: number) => y.set(item.tensor, offset),
      params: item.plan.params,
      seed: item.seed,
      image: item.input.id,
    }),
    { ...runOptions(options), batchSize },
    async (outcomes) => {
      await Promise.all(
        outcomes.map(async (outcome) => {
          const item = outcome.member;
          if ('error' in outcome) {
            results.set(item.input.id, { id: item.input.id, ok: false, error: outcome.error });
            return;
          }
          // A face auto keeps, run only for DR2's output (keepDr2), is still reported kept:
          // its restored output is its input, as without keepDr2.
          const kept = item.face !== null && keepsFace(item.plan);
          await finish(item, outcome.restored, outcome.dr2, outcome.share, kept);
        }),
      );
    },
  );
  return inputs.map((input) => results.get(input.id) as ImageRestoration);
}

/**
 * With `auto`, fuse the restored face with the input face at max(output, face) pixels, so a face
 * larger than the model keeps its own finer bands (engine/quality); else the frame as it is.
 */
function fuseWithInput(frame: RgbImage, item: { plan: FacePlan; face: RgbImage | null }): RgbImage {
  if (!item.face || !item.plan.choice) return frame;
  const side = Math.max(frame.width, item.face.width);
  return finishFace(resizeRgb8(frame, side, side), resizeRgb8(item.face, side, side), item.plan);
}

/** Put a square result back into its input's framing: paste an adapted face, or cut padding off. */
async function toInputFraming(
  frame: RgbImage,
  item: { framing: Framing | null; adapted: AdaptedFaceInput | null },
): Promise<RgbImage> {
  if (item.adapted) return pasteFace(item.adapted.source, item.adapted.crop, frame);
  if (!item.framing) throw new InvalidParametersError('internal: an image without framing');
  return cutToContent(frame, item.framing);
}

/**
 * Cut the picture out of a square result: for padded inputs, drop the padding (scaled to the
 * result's size) so the output has the input's aspect ratio; cropped inputs are already square.
 */
async function cutToContent(frame: RgbImage, framing: Framing): Promise<RgbImage> {
  const { modelRect, size } = framing;
  if (modelRect.width === size && modelRect.height === size) return frame;
  const scale = frame.width / size;
  const left = Math.round(modelRect.left * scale);
  const top = Math.round(modelRect.top * scale);
  const width = Math.max(1, Math.min(frame.width - left, Math.round(modelRect.width * scale)));
  const height = Math.max(1, Math.min(frame.height - top, Math.round(modelRect.height * scale)));
  const out = new Uint8Array(width * height * 3);
  for (let row = 0; row < height; row++) {
    const from = ((top + row) * frame.width + left) * 3;
    out.set(frame.data.subarray(from, from + width * 3), row * width * 3);
  }
  return { data: out, width, height };
}

/** The face of an aligned crop: where its framing puts the eyes, nose and mouth. */
function alignedFaceReport(width: number, height: number, framing: FaceFraming): FaceReport {
  const side = Math.max(width, height);
  const left = (width - side) / 2;
  const top = (height - side) / 2;
  const [le, re, nose, ml, mr] = framingTemplate(framing);
  const at = ([x, y]: readonly [number, number]): [number, number] => [
    Math.round((left + x * side) * 100) / 100,
    Math.round((top + y * side) * 100) / 100,
  ];
  return {
    box: [0, 0, width, height],
    score: 1,
    landmarks: [at(le), at(re), at(nose), at([(ml[0] + mr[0]) / 2, (ml[1] + mr[1]) / 2])],
  };
}
