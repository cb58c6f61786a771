/**
 * Adapting inputs of one face framing (FFHQ alignment) to a model trained on another (tighter
 * crops), and putting the restored face back: geometry in face-framing.ts, pixels in adapt.ts.
 */
export {
  FFHQ_FRAMING,
  INPUT_FRAMING_MODES,
  faceFrame,
  featherMask,
  framingsDiffer,
  inputFramingToAdapt,
  planFaceCrop,
  roundSquare,
} from './face-framing.js';
export type {
  FaceCropPlan,
  FaceFraming,
  InputFramingMode,
  MappedLandmarks,
  SquareRect,
} from './face-framing.js';
export { DEFAULT_FEATHER, cutSquare, decodeAdaptedFace, pasteFace, resizeRgbImage } from './adapt.js';
export type { AdaptOptions, AdaptedFaceInput } from './adapt.js';
export { FFHQ_TEMPLATE, FFHQ_TEMPLATE_512, fourPointTemplate, framingTemplate } from './template.js';
export type { FivePointTemplate, TemplatePoint } from './template.js';
