/**
 * Image I/O of the DR2E engine.
 *
 * **Supported input formats** (detected from the bytes, never from the file name):
 * JPEG, PNG, WebP, AVIF, TIFF (first page) and HEIC/HEIF (HEVC-coded, primary image).
 * JPEG/PNG/WebP/AVIF/TIFF are decoded by sharp (libvips); HEIC by `heic-decode` (libheif in
 * WebAssembly), because the bundled libvips has no HEVC decoder.
 * Refused with `UnsupportedImageFormatError`: GIF, SVG, BMP, ICO, PDF, PSD, JPEG XL, JPEG 2000,
 * MP4/QuickTime and other ISO-BMFF files, HEIF coded with anything but HEVC or AV1.
 * Refused with `ImageDecodeError`: empty files, text, unknown binary data, truncated or corrupt files.
 *
 * **Limits** (`DEFAULT_IMAGE_LIMITS`, overridable per call): at most 25 MiB
 * (`ImageTooLargeError`), at most 50 megapixels, read from the header before any decoding
 * (`ImageTooLargeError`), shorter side at least 32 px (`ImageTooSmallError`).
 *
 * **Normalisation**: EXIF orientation applied (HEIF irot/imir via libheif), alpha flattened onto
 * white (configurable), grey -> RGB, 16-bit -> 8-bit, CMYK -> sRGB, ICC profiles converted to
 * sRGB (HEIC: libheif's YCbCr -> RGB conversion; an embedded ICC profile is not applied).
 *
 * **Model framing**: `fit: 'pad'` (default; reflect padding) or `'crop'` (centre square), resize
 * with Lanczos-3 when shrinking and Catmull-Rom cubic when enlarging, then NCHW float
 * [1, 3, S, S] in [-1, 1] (x / 127.5 - 1). `unframeImage` maps a result back.
 *
 * **Output**: PNG, JPEG (4:4:4, quality 92 by default) or WebP, from tensors or RGB8.
 */
export {
  DEFAULT_BACKGROUND,
  decodeImage,
  decodeImageToRgb,
  decodeImageWithAlpha,
  probeImage,
  resizeKernelFor,
  restoresFirstFrameOnly,
} from './decode.js';
export type {
  DecodedImage,
  DecodedPhoto,
  DecodeImageOptions,
  DecodeToRgbOptions,
  ImageInfo,
  ProbeImageOptions,
  RgbColor,
} from './decode.js';
export { DEFAULT_ENCODE_QUALITY, encodeImage, encodeRgbImage, encodeSharp, unframeImage } from './encode.js';
export type { EncodeOptions, OutputFormat } from './encode.js';
export { IMAGE_FILE_EXTENSIONS, IMAGE_FORMAT_EXTENSIONS, isImageFileName, listImageFiles } from './files.js';
export type { ListImageFilesOptions } from './files.js';
// Format sniffing lives in shared/ (the API checks uploads with it too); re-exported as part of image I/O.
export {
  findBmffTruncation,
  formatLabel,
  sniffImageFormat,
  SUPPORTED_IMAGE_FORMATS,
} from '../../../../shared/src/index.js';
export type { ImageFormat, SniffResult } from '../../../../shared/src/index.js';
export { DEFAULT_FIT, FIT_MODES, planFraming } from './framing.js';
export type { FitMode, Framing, PadMode, Rect } from './framing.js';
export {
  DEFAULT_IMAGE_LIMITS,
  RESAVE_SMALLER,
  describeBytes,
  describeOverLimit,
  resolveImageLimits,
} from './limits.js';
export type { ImageLimits } from './limits.js';
export { rgbFromSharp, sharpFromRgb } from './raw.js';
export { rgb8ToTensor, tensorToRgb8, tensorToRgbImage } from './tensor.js';
export type { RgbImage } from './tensor.js';
