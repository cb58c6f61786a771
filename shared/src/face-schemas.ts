/**
 * Photo-mode schemas: the options of a whole-photo job (how much to upscale, which faces to
 * restore) and the faces a job found, as stored on the job and shown to clients.
 *
 * Coordinates are always in the pixels of the uploaded photo after its EXIF orientation is
 * applied, before upscaling, so a client can draw them on the photo it sent.
 *
 * @example A face as it appears in a job view
 * ```json
 * { "box": [412.5, 230.1, 180.2, 180.2], "score": 0.97,
 *   "landmarks": [[470.1, 290.3], [540.8, 288.9], [505.2, 330.0], [506.1, 370.7]],
 *   "crops": { "input": { "url": "...", "expiresAt": "..." }, "restored": { "url": "...", "expiresAt": "..." } } }
 * ```
 */
import { z } from 'zod';

// Defined with the other restore options; re-exported for this module's existing importers.
export {
  MAX_FACES_LIMIT,
  MAX_MIN_FACE,
  PHOTO_DEFAULTS,
  UPSCALE_FACTORS,
  type UpscaleFactor,
} from './restore-options.js';

/**
 * Warnings a succeeded job may carry. Not an exhaustive enum: the engine may add codes, so
 * clients should show unknown ones as they are.
 */
export const KNOWN_WARNINGS = {
  /** The photo was returned upscaled, no face was restored. */
  no_face_detected: 'no face was found; the photo was upscaled only',
  /** The output would have exceeded the megapixel limit: a smaller upscale was applied. */
  upscale_capped:
    'the requested upscale was reduced to stay under the output size limit or the longest side of the output format',
  /** An animated image or a multi-page file: the first frame was restored, as a still image. */
  first_frame_only: 'the input holds several frames or pages; only the first was restored',
  /**
   * `fidelity` was given but changed nothing: the deployment's model defaults to a fixed preset,
   * which replaces auto's per-face choice that fidelity moves (a request naming a fixed preset
   * or n/tau/omega beside fidelity is refused instead).
   */
  fidelity_unused:
    "fidelity changed nothing: the schedule was fixed (the model's default preset, or explicit n/tau/omega), and fidelity moves only auto's per-face choice",
  /**
   * `aligned` on an input far from square (over 5:4): an aligned face crop is square, so this is
   * most likely a photo, restored whole as one face; without `aligned` its faces are found.
   */
  aligned_not_square:
    'the input was restored whole as one aligned face crop, but it is not square as such a crop is; if it is a photo, send it without `aligned` so its faces are found',
} as const;

/** Why a face that was found was left untouched. */
export const SKIP_REASONS = ['max_faces', 'min_face'] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

const coordinate = z.number().refine(Number.isFinite, { message: 'must be finite' });

/**
 * `[x, y, width, height]` of a face in input pixels. A face cut by the photo's edge keeps its
 * whole box (the face's extent, not the visible part), so x and y can be negative and the box can
 * reach past the right or bottom edge; clip it to draw it.
 */
export const FaceBoxSchema = z.tuple([coordinate, coordinate, coordinate.min(0), coordinate.min(0)]).meta({
  description:
    '`[x, y, width, height]` in input pixels (before upscaling). The whole face: for a face cut by the ' +
    "photo's edge, x or y can be negative and the box can reach past the right or bottom edge (clip it to draw it).",
});

/** DR2 settings chosen for one face (quality selection, when the engine reports it). */
export const FaceSettingsSchema = z.strictObject({
  n: z.int().min(1),
  tau: z.int().min(0),
  omega: z.int().min(1),
  /** `auto`: the fidelity this face was chosen with (small faces found in a photo lean toward their input). */
  fidelity: z.number().min(0).max(1).optional(),
  /** `auto`: the input's share of the bands the model represents (0..1). */
  inputWeight: z.number().min(0).max(1).optional(),
  /** `auto`: the most of the input's finer bands kept (0..1; its noise may keep less). */
  detailWeight: z.number().min(0).max(1).optional(),
  /**
   * `auto`: the share of the noise attenuation applied to the finer bands (0..1), where it is not
   * the whole of it: a face just past the edge of what `auto` keeps ramps toward keeping its
   * finer bands unattenuated (0). Absent: 1, or a kept face.
   */
  detailAttenuation: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .meta({
      description:
        "`auto`: the share of the noise attenuation applied to the face's finer bands (0..1), present where it " +
        'is not 1: a face just past the edge of what `auto` keeps ramps toward keeping its fine bands whole (0). ' +
        'Absent for kept faces.',
    }),
  /**
   * `auto` kept the face as it is (input weight 1, detail weight 1: the fused face would be the
   * input whatever DR2 gave): it was not run through the model, and the output there is the
   * input enlarged (in a photo enlarged x2 or x4, by the model's face upsampler where its
   * pipeline names one, photo/face-upsampler.ts).
   * `n`, `tau`, `omega` are the DR2 setting `auto` had chosen, unused.
   */
  kept: z
    .literal(true)
    .optional()
    .meta({
      description:
        '`auto` kept this face as it is (input and detail weight 1): not run through the model ' +
        '(no model time, not counted in `usage.faces`); the output there is the input enlarged ' +
        "(in a photo enlarged x2 or x4, by the model's learned face upsampler where it has one).",
    }),
});

/** DR2 settings chosen for one face. */
export type FaceSettings = z.infer<typeof FaceSettingsSchema>;

/** Degradation the engine estimated on one face (when it reports it). */
export const FaceEstimateSchema = z.strictObject({
  noise: z.number(),
  blur: z.number(),
  jpeg: z.number(),
  /** Noise measured at half resolution (survives JPEG; what `auto` bins faces by). */
  coarseNoise: z.number().optional(),
  /** Share of 8x8 DCT AC coefficients near zero: JPEG compression strength (0..1). */
  acZeros: z.number().min(0).max(1).optional(),
  /** Noise of the chroma planes at half resolution: colour noise, which a face's own texture lacks. */
  colourNoise: z.number().min(0).optional(),
  faceSize: z.number(),
});

/** Degradation estimated on one face. */
export type FaceEstimate = z.infer<typeof FaceEstimateSchema>;

const faceFields = {
  box: FaceBoxSchema,
  score: z.number().min(0).max(1).meta({ description: 'Detector confidence, 0 to 1.' }),
  landmarks: z.array(z.tuple([coordinate, coordinate])).meta({
    description:
      "Detector keypoints `[x, y]` in input pixels: eye on the image's left, eye on the image's right, " +
      "nose tip, mouth centre, then the ear tragions (image's left, right) when the detector gives them. " +
      'For a face upside down in the photo, left and right are as seen with the face upright.',
  }),
  settings: FaceSettingsSchema.optional().meta({ description: 'DR2 settings used for this face.' }),
  estimate: FaceEstimateSchema.optional().meta({ description: 'Estimated degradation of this face.' }),
};

/** A face the engine found: the part of the face report every view and record shares. */
export const FaceReportSchema = z.strictObject(faceFields);
export type FaceReport = z.infer<typeof FaceReportSchema>;

/** A face found but not restored (left untouched in the output), with the reason. */
export const SkippedFaceSchema = z.strictObject({
  ...faceFields,
  reason: z.enum(SKIP_REASONS).meta({
    description: '`max_faces`: beyond the `maxFaces` largest faces; `min_face`: smaller than `minFace`.',
  }),
});
export type SkippedFace = z.infer<typeof SkippedFaceSchema>;

/** Blob keys of one face's aligned crops (stored with `output.faces`). */
export const FaceCropKeysSchema = z.strictObject({
  inputKey: z.string().min(1),
  restoredKey: z.string().min(1),
});
export type FaceCropKeys = z.infer<typeof FaceCropKeysSchema>;

/** A restored face as stored on the job record. */
export const StoredFaceSchema = z.strictObject({ ...faceFields, crops: FaceCropKeysSchema.optional() });
export type StoredFace = z.infer<typeof StoredFaceSchema>;

/** A time-limited link to a result. */
export const SignedUrlSchema = z.strictObject({ url: z.string(), expiresAt: z.iso.datetime() });
export type SignedUrl = z.infer<typeof SignedUrlSchema>;

/** A restored face as clients see it: with signed links to its crops when `output.faces` was set. */
export const FaceViewSchema = z.strictObject({
  ...faceFields,
  crops: z
    .strictObject({
      input: SignedUrlSchema.meta({ description: 'The aligned input face (PNG, model resolution).' }),
      restored: SignedUrlSchema.meta({ description: 'The restored aligned face (PNG).' }),
    })
    .optional()
    .meta({ description: 'With `output.faces: true`: the aligned face before and after restoration.' }),
});
export type FaceView = z.infer<typeof FaceViewSchema>;

/** What the background denoiser of a whole photo read and did (`background: denoise` jobs). */
export const BackgroundReportSchema = z
  .strictObject({
    noise: z
      .number()
      .min(0)
      .meta({ description: "The photo's noise as the denoiser read it (std per channel, 0-255)." }),
    denoised: z.boolean().meta({
      description: 'Whether the background was denoised (the noise read 4 or more) or only enlarged.',
    }),
    enlargement: z
      .int()
      .min(2)
      .max(16)
      .optional()
      .meta({
        description:
          'Present when the photo is itself an enlargement (a small photo blown up before it was sent): the factor found. ' +
          'Its noise was then read, and denoised, at 1 / `enlargement` of its size. Absent: read at its own size.',
      }),
  })
  .meta({
    description:
      'Whole photos with `background: denoise`: the noise read and whether the background around the faces was denoised.',
  });
export type BackgroundReport = z.infer<typeof BackgroundReportSchema>;

/** Warning codes, e.g. `no_face_detected`. */
export const WarningSchema = z
  .string()
  .min(1)
  .max(200)
  .meta({ description: `Warning code; known: ${Object.keys(KNOWN_WARNINGS).join(', ')}.` });
