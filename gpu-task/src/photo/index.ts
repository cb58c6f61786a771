/**
 * The photo stage beside the engine: find every face of a whole photo (BlazeFace on an image
 * pyramid), align each onto the model's five-point template, and paste the restored faces
 * back into the photo enlarged by `upscale`. The engine's `restoreImages` drives it; the CLI,
 * the worker and the tests all go through that call.
 */
export { BLAZEFACE_INPUT, BlazeFaceModel, decodeBlazeFace, iou, weightedNms } from './blazeface.js';
export { blazeFaceModelPath } from './blazeface-files.js';
export {
  FACEBOXES_ALIGN,
  FACEBOXES_LAYERS,
  FaceBoxesModel,
  decodeFaceBoxes,
  faceBoxesAnchors,
  faceBoxesModelPath,
  faceBoxesNms,
} from './faceboxes.js';
export type { FaceBox } from './faceboxes.js';
export {
  FULL_RANGE_ALIGN,
  FULL_RANGE_STRIDE,
  FullRangeModel,
  decodeFullRange,
  fullRangeModelPath,
} from './full-range.js';
export {
  RETINAFACE_ALIGN,
  RETINAFACE_ANCHORS,
  RETINAFACE_LANDMARK_STD,
  RetinaFaceModel,
  decodeRetinaFace,
  retinaFaceModelPath,
  retinaFaceNms,
} from './retinaface.js';
export type { RetinaFaceDetection, RetinaFaceStrideOutput } from './retinaface.js';
export {
  FACEBOXES_ENLARGEMENTS,
  FACEBOXES_LAYOUT,
  FACEBOXES_MAX_PHOTO_SIDE,
  FACEBOXES_ONLY_SCORE,
  FACEBOXES_SIDE,
  FACEBOXES_SURE,
  FULL_RANGE_MAX_PHOTO_SIDE,
  FULL_RANGE_SCALE,
  FULL_RANGE_SURE,
  FULL_RANGE_THRESHOLD,
  faceBoxesProposals,
  faceBoxesScales,
  fullRangeFaces,
  fullRangeProposals,
  nearPhotoEdge,
  proposalAsDetection,
  RETINAFACE_AGREED,
  RETINAFACE_ENLARGEMENTS,
  RETINAFACE_SMALLEST_BOX,
  RETINAFACE_SURE,
  RETINAFACE_THRESHOLD,
  retinaFaceAsDetection,
  retinaFaceFaces,
  retinaFaceProposals,
  retinaFaceScales,
  retinaFaceSmallest,
  UNSEEN_FACE_MAX_SCORE,
  UNSEEN_FACE_MIN_SIDE,
  faceOverFaces,
  withLandmarksSeen,
  withSmoothedProposals,
} from './second-detector.js';
export type { RetinaFaceProposal } from './second-detector.js';
export type { RawDetection, TileRunner } from './blazeface.js';
export type { DetectorGraphs, DetectorWeights } from './detect.js';
export {
  DEFAULT_SCORE_THRESHOLD,
  DEFAULT_SMALLEST_FACE,
  DETECTOR_WEIGHTS,
  detectorWeights,
  FaceDetector,
  inHairOf,
  mergePasses,
  withinHeadOf,
} from './detect.js';
export {
  ENLARGED_CANDIDATE_FACE,
  ENLARGED_CANDIDATE_MAX_BOX,
  ENLARGED_CANDIDATE_MAX_TILES,
  MAX_LEVEL_STEP,
  MIN_DETECTOR_FACE,
  planPyramid,
  tileOrigins,
  WHOLE_PHOTO_VIEWS,
} from './pyramid.js';
export type { DetectOptions, DetectedFace } from './detect.js';
export {
  DEFAULT_DENOISE_SETTINGS,
  DENOISE_FROM_NOISE,
  backgroundNoise,
  photoEnlargement,
  denoiseBackground,
} from './background-denoise.js';
export type { DenoiseSettings, DenoisedBackground, FaceLeftAlone } from './background-denoise.js';
export { boxMean, filterWithGuide, guidedFilter, guideStatistics } from './guided-filter.js';
export { DENOISED_PASS_NOISE, SMOOTHING_SIGMA, photoNoise, smoothedCopy } from './denoised-pass.js';
export {
  CANDIDATE_THRESHOLD,
  CONSENSUS_LOOKS,
  CONSENSUS_SCORE,
  MAX_CANDIDATES,
  UNTRUSTED_CANDIDATE_THRESHOLD,
  FRONT_FACE_SIDES,
  VERIFY_FACE_SIDES,
  consensus,
  mirrorTile,
  plausibleLandmarks,
  unmirror,
  verifyCandidate,
} from './verify.js';
export type { Look } from './verify.js';
export {
  ORIENTATION_CHECK_BELOW,
  STRONG_FRONT_MARGIN,
  SURE_TURNED_SCORE,
  UPSIDE_DOWN_MARGIN,
  turnTile,
  unturn,
  uprightFace,
} from './orientation.js';
export {
  TURN_LOOK_FACES,
  type QuarterTurns,
  type TiltedFace,
  facesLean,
  fromTurned,
  mergeTurnedSearch,
  tiltOf,
  turnLookTotals,
  turnToStandUp,
  TURN_LOOK_FACE_SIDES,
  turnedPhoto,
  turnedTile,
} from './turned-photos.js';
export { encodePhoto, encodeRgbPipeline, reencodePhoto } from './encode.js';
export {
  type EnlargeLevels,
  enlargeCentred,
  enlargeWindow,
  toPreciseSamples,
  withEnlargedWindows,
} from './enlarge.js';
export type { OutputWindow } from './enlarge.js';
export {
  upsampledFaceBounds,
  layUpsampledFace,
  loadFaceUpsampler,
  upsampleWindow,
} from './face-upsampler.js';
export type { FaceUpsamplerBank } from './face-upsampler.js';
export { faceEstimateRegion } from './estimate-region.js';
export type { FaceEstimateRegion } from './estimate-region.js';
export type { EncodePhotoOptions } from './encode.js';
export {
  MAX_PASTE_SIDE,
  alignmentFor,
  capUpscale,
  prepareFace,
  preparePhoto,
  resizeRgb,
  resolvePhotoOptions,
  toPixels,
} from './prepare.js';
export type { PhotoOptions, PreparedFace, PreparedPhoto } from './prepare.js';
export { MAX_UPSAMPLED_FACE, cubicBackground, pasteFaces } from './paste.js';
export type { BackgroundUpscaler, FaceToPaste, UpscaledBackground } from './paste.js';
export { denoisePhotoBackground, finishPhoto, resizeAlpha } from './finish.js';
export type { FinishPhotoOptions, FinishedPhoto } from './finish.js';
export { facesInOutput } from './output-faces.js';
export {
  chromaSpread,
  COLOURLESS_CHROMA_STD,
  matchLowFrequencies,
  refineFace,
  withInputColourIfColourless,
} from './refine.js';
export type { RefineOptions } from './refine.js';
export {
  applySimilarity,
  composeSimilarity,
  estimateSimilarity,
  invertSimilarity,
  similarityAngle,
  similarityScale,
} from './similarity.js';
export type { Point, Similarity } from './similarity.js';
export { DEFAULT_MAX_FACES, DEFAULT_UPSCALE, UPSCALE_FACTORS } from './types.js';
export type {
  FaceEstimate,
  FaceReport,
  FaceSettings,
  PhotoWarning,
  SkipReason,
  UpscaleFactor,
} from './types.js';
export {
  DEFAULT_PASTE_MASK,
  frameBounds,
  pasteFrame,
  pasteMaskAt,
  resizeCubic,
  warpToFrame,
} from './warp.js';
export type { KeptPart, PasteMask, PixelBounds } from './warp.js';
