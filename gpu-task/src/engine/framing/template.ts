/**
 * Five-point face templates: where the eyes, the nose tip and the mouth corners sit in a
 * framing, as fractions of the square's side. Whole-photo alignment (gpu-task/src/photo) maps
 * detected landmarks onto the model's template by a least-squares similarity.
 */
import { FFHQ_FRAMING, type FaceFraming, planFaceCrop } from './face-framing.js';

/** A landmark as fractions of the frame side (x right, y down). */
export type TemplatePoint = readonly [x: number, y: number];

/** Left eye, right eye (as seen in the image), nose tip, left and right mouth corner. */
export type FivePointTemplate = readonly [
  TemplatePoint,
  TemplatePoint,
  TemplatePoint,
  TemplatePoint,
  TemplatePoint,
];

/**
 * The FFHQ five-point template at 512 px (the one GFPGAN and CodeFormer align to), in pixels.
 * FFHQ_FRAMING's three numbers are derived from it.
 */
export const FFHQ_TEMPLATE_512: FivePointTemplate = Object.freeze([
  [192.98, 239.95],
  [318.9, 240.19],
  [256.63, 314.02],
  [201.26, 371.41],
  [313.09, 371.15],
]) as FivePointTemplate;

/** The FFHQ template as fractions of the side. */
export const FFHQ_TEMPLATE: FivePointTemplate = FFHQ_TEMPLATE_512.map(
  ([x, y]) => [x / 512, y / 512] as const,
) as unknown as FivePointTemplate;

/**
 * The five-point template of a framing: its declared `landmarks`, else the FFHQ template
 * carried through the same mapping `planFaceCrop` uses to adapt FFHQ inputs to that framing
 * (so eyes and mouth land where the three numbers say, and the nose keeps FFHQ's proportion).
 *
 * @example
 * ```ts
 * framingTemplate(FFHQ_FRAMING); // FFHQ_TEMPLATE
 * framingTemplate(engine.framing)[0]; // the model's left eye, e.g. [0.30, 0.28]
 * ```
 */
export function framingTemplate(framing: FaceFraming | undefined): FivePointTemplate {
  if (framing === undefined) return FFHQ_TEMPLATE;
  if (framing.landmarks) return framing.landmarks as unknown as FivePointTemplate;
  const side = 512;
  const { crop } = planFaceCrop(side, side, FFHQ_FRAMING, framing);
  return FFHQ_TEMPLATE_512.map(
    ([x, y]) => [(x - crop.left) / crop.side, (y - crop.top) / crop.side] as const,
  ) as unknown as FivePointTemplate;
}

/**
 * A template reduced to the points a detector gives: eyes, nose tip and mouth centre (the mean
 * of the two corners), for detectors such as BlazeFace that report the mouth centre.
 */
export function fourPointTemplate(template: FivePointTemplate): readonly TemplatePoint[] {
  const [le, re, nose, ml, mr] = template;
  return [le, re, nose, [(ml[0] + mr[0]) / 2, (ml[1] + mr[1]) / 2]];
}
