/**
 * Decoding untrusted image bytes into what the models take.
 *
 * Order of checks (cheapest first, nothing decoded until all pass):
 * 1. byte count (empty file, `maxFileBytes`);
 * 2. format from magic bytes (the file name is never consulted);
 * 3. for HEIC/AVIF, the top-level ISO-BMFF boxes must fit in the data (catches cut-off uploads);
 * 4. width and height from the header (for HEIC too: libvips parses the HEIF header even though
 *    it cannot decode HEVC), checked against `maxInputPixels` and `minSide`.
 * Only then are pixels decoded: by sharp/libvips (JPEG, PNG, WebP, AVIF, TIFF) with
 * `failOn: 'error'` and `limitInputPixels` (JPEGs are refused when their entropy-coded data is
 * corrupt: decodeCheckingJpegData), or by `heic-decode` (libheif in WebAssembly) for HEIC.
 *
 * Normalisation applied to every image: EXIF orientation (JPEG, PNG, WebP, TIFF; HEIF rotations
 * `irot`/`imir` are applied by libheif), alpha flattened onto a background (default white),
 * grey -> RGB, 16-bit -> 8-bit, CMYK -> sRGB, embedded ICC profiles converted to sRGB and dropped.
 */
import sharp from 'sharp';
import type { Metadata, OutputInfo, Sharp } from 'sharp';
import type HeicDecode from 'heic-decode';
import {
  ImageDecodeError,
  ImageTooLargeError,
  ImageTooSmallError,
  InvalidParametersError,
  UnsupportedImageFormatError,
} from '../errors.js';
import {
  findBmffTruncation,
  formatLabel,
  type ImageFormat,
  sniffImageFormat,
  SUPPORTED_IMAGE_FORMATS,
} from '../../../../shared/src/index.js';
import { planFraming } from './framing.js';
import type { FitMode, Framing, PadMode } from './framing.js';
import {
  RESAVE_SMALLER,
  describeBytes,
  describeOverLimit,
  describePixels,
  resolveImageLimits,
} from './limits.js';
import type { ImageLimits } from './limits.js';
import { rgb8ToTensor } from './tensor.js';
import type { RgbImage } from './tensor.js';

/** An sRGB colour, channels 0-255. */
export interface RgbColor {
  r: number;
  g: number;
  b: number;
}

/** White: transparent areas of logos and cut-out portraits become a neutral studio background. */
export const DEFAULT_BACKGROUND: Readonly<RgbColor> = Object.freeze({ r: 255, g: 255, b: 255 });

/** What the header says about an accepted image (see probeImage). */
export interface ImageInfo {
  format: ImageFormat;
  /** Upright width in pixels, i.e. after EXIF orientation or HEIF rotation. */
  width: number;
  /** Upright height in pixels. */
  height: number;
  /**
   * EXIF orientation (1-8) that decoding undoes; 1 when absent. HEIC/AVIF report 1: their
   * container rotations (irot/imir) are always applied by libheif, and per the HEIF spec their
   * EXIF orientation tag is informative only, so it is not applied a second time.
   */
  orientation: number;
  /** Whether the image has an alpha channel (flattened onto the background when decoded). */
  hasAlpha: boolean;
  /** Size of the encoded file. */
  byteLength: number;
  /**
   * Frames or pages in the file (an animated WebP, a multi-page TIFF); only the first (HEIC and
   * AVIF: the primary image) is decoded. 1 for a still image.
   */
  frames: number;
}

/**
 * Whether decoding gave only part of what the file holds: the first frame of an animated WebP or
 * the first page of a multi-page TIFF (warning `first_frame_only`). A HEIC's or AVIF's other
 * images are bursts, thumbnails and alternates of its primary image, which is the photo.
 *
 * @example
 * ```ts
 * restoresFirstFrameOnly(await probeImage(animatedWebp)); // true
 * ```
 */
export function restoresFirstFrameOnly(info: Pick<ImageInfo, 'format' | 'frames'>): boolean {
  return info.frames > 1 && info.format !== 'heic' && info.format !== 'avif';
}

export interface ProbeImageOptions {
  /** Overrides of DEFAULT_IMAGE_LIMITS. */
  limits?: Partial<ImageLimits>;
}

export interface DecodeToRgbOptions extends ProbeImageOptions {
  /** Colour that transparent pixels are composited onto. Default DEFAULT_BACKGROUND (white). */
  background?: RgbColor;
}

export interface DecodeImageOptions extends DecodeToRgbOptions {
  /** Model resolution S: the result is [1, 3, S, S]. DR2 and its enhancers use 512. */
  size: number;
  /** Non-square policy (see framing.ts). Default 'pad'. */
  fit?: FitMode;
  /** Fill of the padding when `fit` is 'pad'. Default 'reflect'. */
  padMode?: PadMode;
}

export interface DecodedImage {
  /** NCHW [1, 3, S, S], RGB, values x / 127.5 - 1 in [-1, 1]. */
  tensor: Float32Array;
  /** Shape of `tensor`. */
  dims: readonly [1, 3, number, number];
  /** The same S x S frame as 8-bit RGB (for previews, debugging, or re-encoding the model input). */
  rgb: RgbImage;
  /** The source as the header described it. */
  source: ImageInfo;
  /** Where the source went in the frame; what a caller needs to put the result back. */
  framing: Framing;
}

/** Format-specific data that decoding needs after the probe. */
interface ProbedImage {
  info: ImageInfo;
  limits: ImageLimits;
  /** For HEIC: index of the primary image among the top-level images. */
  primaryIndex: number;
  /**
   * A 16-bit colour image with an embedded ICC profile: its profile is applied explicitly
   * (openPixels), as libvips leaves 16-bit RGB in its own primaries when converting to sRGB.
   */
  sixteenBitProfile: boolean;
  /**
   * The bytes the pixels are decoded from where they differ from the file's: a JPEG without
   * its end marker gets one (withJpegEnd).
   */
  pixelSource?: Uint8Array;
}

/**
 * A JPEG's bytes ending in its end marker (EOI, FF D9): some cameras, transfers and editors drop
 * it, and libvips refuses such a file ("premature end of JPEG image") although every row is
 * there. Appended, it costs nothing where the picture is whole, and libjpeg stops at the first
 * EOI, so a file whose marker is followed by a trailer (phones write some) is read as before. A
 * file cut inside its scan data still fails: the decoder then warns that data is missing
 * (LOST_JPEG_DATA), and the file is refused as corrupt.
 */
function withJpegEnd(bytes: Uint8Array): Uint8Array | undefined {
  const n = bytes.length;
  if (n >= 2 && bytes[n - 2] === 0xff && bytes[n - 1] === 0xd9) return undefined;
  const completed = new Uint8Array(n + 2);
  completed.set(bytes);
  completed.set([0xff, 0xd9], n);
  return completed;
}

const SUPPORTED_LIST = SUPPORTED_IMAGE_FORMATS.map(formatLabel).join(', ');

/**
 * A libvips/libheif error reduced to one readable line (they repeat and span several lines),
 * without the loaders' own prefixes (`vipspng:`, `VipsJpeg:`) and lines that say nothing
 * (`Unknown error`), ending in what to do about a damaged file.
 */
function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const lines = [
    ...new Set(
      message
        .split('\n')
        // sharp's own prefixes repeat what our message already says.
        .map((line) =>
          line
            .replace(/^Input buffer (has corrupt header:|contains)\s*/, '')
            .replace(/^(vipspng|VipsJpeg|vipsjpeg|heifload|webpload|tiff2vips|VipsForeignLoad\w*):\s*/, '')
            .trim(),
        ),
    ),
  ].filter((line) => line.length > 0 && !/^(unknown error|libpng read error)$/i.test(line));
  const reason = lines.join('; ');
  const said = reason.length > 300 ? `${reason.slice(0, 297)}...` : reason || 'the decoder could not read it';
  return `${said}; ${DAMAGED_FILE_ADVICE}`;
}

/** What a user can do about a file the decoders cannot read. */
const DAMAGED_FILE_ADVICE = 'send the original file again, or re-save it as PNG or JPEG';

function isPixelLimitError(error: unknown): boolean {
  return error instanceof Error && /pixel limit/i.test(error.message);
}

function checkBackground(background: RgbColor): RgbColor {
  for (const channel of ['r', 'g', 'b'] as const) {
    const value = background[channel];
    if (!Number.isInteger(value) || value < 0 || value > 255) {
      throw new InvalidParametersError(
        `background.${channel} must be an integer 0-255, got ${String(value)}`,
      );
    }
  }
  return background;
}

/** Which format sharp's metadata names for each of ours (HEIC and AVIF share libvips' heifload). */
const SHARP_FORMAT: Record<ImageFormat, string> = {
  jpeg: 'jpeg',
  png: 'png',
  webp: 'webp',
  avif: 'heif',
  tiff: 'tiff',
  heic: 'heif',
};

async function probe(bytes: Uint8Array, options: ProbeImageOptions): Promise<ProbedImage> {
  const limits = resolveImageLimits(options.limits);
  if (bytes.length === 0) throw new ImageDecodeError('empty file (0 bytes)');
  if (bytes.length > limits.maxFileBytes) {
    const [size, limit] = describeOverLimit(bytes.length, limits.maxFileBytes, describeBytes, 'bytes');
    throw new ImageTooLargeError(`file is ${size}; the limit is ${limit}: ${RESAVE_SMALLER}`);
  }

  const sniffed = sniffImageFormat(bytes);
  switch (sniffed.kind) {
    case 'empty':
      throw new ImageDecodeError('empty file (0 bytes)');
    case 'text':
      throw new ImageDecodeError('not an image: the bytes look like text');
    case 'unknown':
      throw new ImageDecodeError(
        `not an image: the bytes match no known image format (accepted: ${SUPPORTED_LIST})`,
      );
    case 'unsupported':
      throw new UnsupportedImageFormatError(
        `${sniffed.name} images are not supported (accepted: ${SUPPORTED_LIST}); convert it to PNG or JPEG`,
      );
    case 'image':
      break;
  }
  let format = sniffed.format;

  if (format === 'heic' || format === 'avif') {
    const problem = findBmffTruncation(bytes);
    if (problem !== null)
      throw new ImageDecodeError(
        `truncated or corrupt ${formatLabel(format)}: ${problem}; ${DAMAGED_FILE_ADVICE}`,
      );
  }
  if (format === 'webp') {
    // The RIFF header declares the payload size, so a cut-off WebP is recognised as such.
    const declared = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true) + 8;
    if (declared > bytes.length) {
      throw new ImageDecodeError(
        `truncated or corrupt WebP: its RIFF header declares ${declared} bytes but the file has ${bytes.length}; ${DAMAGED_FILE_ADVICE}`,
      );
    }
  }

  let metadata: Metadata;
  try {
    // The pixel limit is ours to check (with a clear message), so sharp's is lifted for the header read.
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    // libvips says "unsupported image format" when no loader can open the data, which here,
    // after the signature matched, means the header is cut or damaged.
    const reason = reasonOf(error).replace(/^unsupported image format;/, 'libvips cannot read it;');
    throw new ImageDecodeError(`truncated or corrupt ${formatLabel(format)} header: ${reason}`, {
      cause: error,
    });
  }
  if (metadata.format !== SHARP_FORMAT[format]) {
    throw new ImageDecodeError(
      `corrupt ${formatLabel(format)}: its signature says ${formatLabel(format)} but the header reads as ${String(metadata.format)}`,
    );
  }
  if (metadata.format === 'heif') {
    // HEIF is a container; the codec decides who decodes it. Brands like mif1 do not say.
    if (metadata.compression === 'av1') format = 'avif';
    else if (metadata.compression === 'hevc') format = 'heic';
    else {
      throw new UnsupportedImageFormatError(
        `HEIF images coded with ${String(metadata.compression)} are not supported (accepted: HEVC (HEIC) and AV1 (AVIF))`,
      );
    }
  }

  const width = metadata.autoOrient?.width ?? metadata.width;
  const height = metadata.autoOrient?.height ?? metadata.height;
  if (!width || !height) throw new ImageDecodeError(`corrupt ${formatLabel(format)} header: no image size`);
  const pixels = width * height;
  if (pixels > limits.maxInputPixels) {
    const [count, limit] = describeOverLimit(pixels, limits.maxInputPixels, describePixels, 'pixels');
    throw new ImageTooLargeError(`image is ${width}x${height} (${count}); the limit is ${limit}`);
  }
  if (Math.min(width, height) < limits.minSide) {
    throw new ImageTooSmallError(
      `image is ${width}x${height} px; its shorter side must be at least ${limits.minSide} px`,
    );
  }

  const pixelSource = format === 'jpeg' ? withJpegEnd(bytes) : undefined;
  return {
    info: {
      format,
      width,
      height,
      orientation: format === 'heic' || format === 'avif' ? 1 : (metadata.orientation ?? 1),
      hasAlpha: metadata.hasAlpha === true,
      byteLength: bytes.length,
      frames: Math.max(1, metadata.pages ?? 1),
    },
    limits,
    primaryIndex: metadata.pagePrimary ?? 0,
    sixteenBitProfile: metadata.space === 'rgb16' && metadata.hasProfile === true,
    ...(pixelSource ? { pixelSource } : {}),
  };
}

/**
 * Check an upload without decoding its pixels: size, real format, header, pixel and side limits.
 * Cheap (header only), so the API can refuse a bad upload before queueing a GPU job.
 *
 * @throws ImageDecodeError (empty, text, unknown or corrupt data), UnsupportedImageFormatError
 *   (GIF, SVG, BMP, PDF, ...), ImageTooLargeError, ImageTooSmallError, InvalidParametersError (bad limits).
 *
 * @example
 * ```ts
 * const info = await probeImage(bytes); // { format: 'heic', width: 3024, height: 4032, orientation: 1, ... }
 * ```
 */
export async function probeImage(bytes: Uint8Array, options: ProbeImageOptions = {}): Promise<ImageInfo> {
  return (await probe(bytes, options)).info;
}

// heic-decode loads a ~2 MB WebAssembly build of libheif; only workers that meet a HEIC pay for it.
let heicModule: Promise<{ default: typeof HeicDecode }> | undefined;

/** Decode the primary image of a HEIC into an upright RGBA sharp pipeline. */
async function openHeic(bytes: Uint8Array, probed: ProbedImage): Promise<Sharp> {
  heicModule ??= import('heic-decode');
  const { default: heicDecode } = await heicModule;
  const { width, height } = probed.info;
  let pixels: Uint8ClampedArray;
  try {
    const images = await heicDecode.all({ buffer: bytes });
    try {
      // libvips and libheif-js list top-level images in the same order, so the primary's index
      // from the header applies here (heic-decode's plain call would take the first image).
      const primary = images[probed.primaryIndex] ?? images[0];
      if (primary === undefined) throw new Error('the file holds no image');
      const decoded = await primary.decode();
      if (decoded.width !== width || decoded.height !== height) {
        throw new Error(`decoded ${decoded.width}x${decoded.height} but the header says ${width}x${height}`);
      }
      pixels = decoded.data;
    } finally {
      images.dispose();
    }
  } catch (error) {
    throw new ImageDecodeError(`truncated or corrupt HEIC: ${reasonOf(error)}`, { cause: error });
  }
  const rgba = new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  return sharp(rgba, { raw: { width, height, channels: 4 }, limitInputPixels: probed.limits.maxInputPixels });
}

/** How strictly libvips decodes: 'error' refuses truncated data, 'warning' any decoder warning too. */
type FailOn = 'error' | 'warning';

/**
 * A sharp pipeline over the upright source pixels (nothing decoded until it runs, except HEIC).
 * `failOn: 'error'` refuses truncated data, yet accepts files with mere warnings (stray bytes
 * after a JPEG's end marker), which phones and editors produce and which 'warning' would refuse;
 * JPEGs first go through 'warning' (see decodeCheckingJpegData).
 */
async function openPixels(bytes: Uint8Array, probed: ProbedImage, failOn: FailOn = 'error'): Promise<Sharp> {
  if (probed.info.format === 'heic') return openHeic(bytes, probed);
  const pipeline = sharp(probed.pixelSource ?? bytes, {
    failOn,
    limitInputPixels: probed.limits.maxInputPixels,
    autoOrient: true,
  });
  // libvips converts an 8-bit image's embedded profile to sRGB by itself, but takes a 16-bit
  // one's samples as sRGB already: a Display-P3 16-bit PNG came out in P3's numbers (sRGB red
  // as 234/51/34). Asking for sRGB as the output profile makes it convert from the embedded one.
  return probed.sixteenBitProfile ? pipeline.withIccProfile('srgb') : pipeline;
}

/**
 * libjpeg's warnings that mean entropy-coded data was lost: the decoder fills what follows with
 * grey (or smears the last rows) and goes on, so `failOn: 'error'` returns a half-grey picture.
 */
const LOST_JPEG_DATA =
  /Corrupt JPEG data: (premature end of data segment|bad Huffman code|found marker 0x[0-9a-f]+ instead of RST\d)/i;

/**
 * Run a decode, refusing JPEGs whose data is corrupt. A JPEG is decoded with `failOn: 'warning'`
 * first; when that fails because data was lost (LOST_JPEG_DATA) the image is refused with
 * ImageDecodeError, and for any other warning it is decoded again as before ('error'), which
 * costs a second decode only for such files. Other formats decode once with 'error'.
 *
 * Why: a JPEG with a run of flipped bytes mid-file decodes under 'error' to its first rows, then
 * grey or smeared rows to the bottom, and the photo came back "restored" with no face found.
 */
async function decodeCheckingJpegData<T>(
  probed: ProbedImage,
  decode: (failOn: FailOn) => Promise<T>,
): Promise<T> {
  if (probed.info.format !== 'jpeg') return decode('error');
  try {
    return await decode('warning');
  } catch (error) {
    const lost = LOST_JPEG_DATA.exec(causeMessages(error));
    if (lost) {
      throw new ImageDecodeError(
        `corrupt JPEG data (${lost[1]}): part of the picture is lost and would come out grey or smeared; send the original file again`,
        { cause: error },
      );
    }
    if (error instanceof ImageTooLargeError) throw error;
    return decode('error');
  }
}

/** An error's message with those of its causes. */
function causeMessages(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e instanceof Error && parts.length < 5; e = e.cause) parts.push(e.message);
  return parts.length > 0 ? parts.join('\n') : String(error);
}

/** Flatten alpha, convert to 8-bit sRGB and read 3-channel raw pixels of the expected size. */
async function finishToRgb(
  pipeline: Sharp,
  probed: ProbedImage,
  background: RgbColor,
  width: number,
  height: number,
): Promise<RgbImage> {
  let output: { data: Buffer; info: OutputInfo };
  try {
    output = await pipeline
      .flatten({ background })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    if (error instanceof ImageDecodeError) throw error;
    if (isPixelLimitError(error)) {
      throw new ImageTooLargeError(
        `image exceeds the limit of ${describePixels(probed.limits.maxInputPixels)}`,
        { cause: error },
      );
    }
    throw new ImageDecodeError(
      `truncated or corrupt ${formatLabel(probed.info.format)}: ${reasonOf(error)}`,
      {
        cause: error,
      },
    );
  }
  const { info } = output;
  if (info.channels !== 3 || info.width !== width || info.height !== height) {
    throw new ImageDecodeError(
      `${formatLabel(probed.info.format)} decoded to ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x3`,
    );
  }
  return {
    data: new Uint8Array(output.data.buffer, output.data.byteOffset, output.data.byteLength),
    width,
    height,
  };
}

/**
 * Decode to full-resolution upright 8-bit sRGB, for callers that need the original pixels
 * (pasting a restored crop back, previews). Same checks and normalisation as decodeImage.
 *
 * @throws the errors of probeImage, and ImageDecodeError when the pixel data is truncated or corrupt.
 *
 * @example
 * ```ts
 * const { image, info } = await decodeImageToRgb(bytes, { background: { r: 0, g: 0, b: 0 } });
 * ```
 */
export async function decodeImageToRgb(
  bytes: Uint8Array,
  options: DecodeToRgbOptions = {},
): Promise<{ image: RgbImage; info: ImageInfo }> {
  const background = checkBackground(options.background ?? DEFAULT_BACKGROUND);
  const probed = await probe(bytes, options);
  const image = await decodeCheckingJpegData(probed, async (failOn) =>
    finishToRgb(
      await openPixels(bytes, probed, failOn),
      probed,
      background,
      probed.info.width,
      probed.info.height,
    ),
  );
  return { image, info: probed.info };
}

/**
 * The resampling kernel for a scale factor: Lanczos-3 when shrinking (libvips' reduce widens the
 * kernel by the shrink factor, so it averages the whole footprint and does not alias), Catmull-Rom
 * cubic when enlarging (less ringing than Lanczos, and bicubic is how DR2's training degradations
 * bring low-resolution faces back to 512 px).
 */
export function resizeKernelFor(scale: number): 'lanczos3' | 'cubic' {
  return scale < 1 ? 'lanczos3' : 'cubic';
}

/**
 * Decode untrusted bytes into the model input: checks, normalisation, framing to S x S (see
 * framing.ts), resize, then NCHW float [1, 3, S, S] in [-1, 1].
 *
 * Supported formats: JPEG, PNG, WebP, AVIF, TIFF (first page), HEIC/HEIF (HEVC, primary image).
 * Refused: GIF, SVG, BMP, ICO, PDF, PSD, JPEG XL, JPEG 2000, videos, text, unknown data.
 * Limits (DEFAULT_IMAGE_LIMITS): 25 MiB, 50 megapixels, shorter side >= 32 px.
 *
 * @throws ImageDecodeError, UnsupportedImageFormatError, ImageTooLargeError, ImageTooSmallError,
 *   InvalidParametersError (bad size, fit, padMode, background or limits).
 *
 * @example
 * ```ts
 * const decoded = await decodeImage(await readFile('portrait.heic'), { size: 512 });
 * decoded.tensor; // Float32Array(3 * 512 * 512)
 * decoded.framing; // { fit: 'pad', modelRect: { left: 64, top: 0, width: 384, height: 512 }, ... }
 * ```
 */
export async function decodeImage(bytes: Uint8Array, options: DecodeImageOptions): Promise<DecodedImage> {
  const { size } = options;
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new InvalidParametersError(`size must be a positive integer, got ${String(size)}`);
  }
  const background = checkBackground(options.background ?? DEFAULT_BACKGROUND);
  const probed = await probe(bytes, options);
  const framing = planFraming(probed.info.width, probed.info.height, size, options.fit, options.padMode);
  const { sourceRect, modelRect } = framing;

  const rgb = await decodeCheckingJpegData(probed, async (failOn) => {
    let pipeline = await openPixels(bytes, probed, failOn);
    if (sourceRect.width !== probed.info.width || sourceRect.height !== probed.info.height) {
      // Called before resize, so sharp crops the upright source first (after autoOrient).
      pipeline = pipeline.extract(sourceRect);
    }
    pipeline = pipeline.resize(modelRect.width, modelRect.height, {
      fit: 'fill',
      kernel: resizeKernelFor(modelRect.width / sourceRect.width),
    });
    if (modelRect.width !== size || modelRect.height !== size) {
      pipeline = pipeline.extend({
        left: modelRect.left,
        top: modelRect.top,
        right: size - modelRect.left - modelRect.width,
        bottom: size - modelRect.top - modelRect.height,
        extendWith: framing.padMode === 'edge' ? 'copy' : 'mirror',
      });
    }
    return finishToRgb(pipeline, probed, background, size, size);
  });
  return {
    tensor: rgb8ToTensor(rgb.data, size, size),
    dims: [1, 3, size, size],
    rgb,
    source: probed.info,
    framing,
  };
}

/** A decoded photo with its alpha plane kept (see decodeImageWithAlpha). */
export interface DecodedPhoto {
  /** Upright 8-bit sRGB; transparent areas keep their colour (not flattened). */
  image: RgbImage;
  /** 8-bit alpha, row-major, or null when the input has none. */
  alpha: Uint8Array | null;
  /** Whether the input is greyscale (a scan, a black-and-white photo). */
  grey: boolean;
  info: ImageInfo;
}

/**
 * Decode to full-resolution upright 8-bit sRGB like decodeImageToRgb, but keep the alpha
 * channel apart instead of flattening it, and say whether the input is greyscale, so a
 * whole-photo result can be written back with the input's transparency and colour mode.
 *
 * @throws the errors of decodeImageToRgb.
 *
 * @example
 * ```ts
 * const { image, alpha, grey } = await decodeImageWithAlpha(bytes); // alpha: null for a JPEG
 * ```
 */
export async function decodeImageWithAlpha(
  bytes: Uint8Array,
  options: ProbeImageOptions = {},
): Promise<DecodedPhoto> {
  const probed = await probe(bytes, options);
  const metadata = await sharp(bytes, { limitInputPixels: false })
    .metadata()
    .catch(() => undefined);
  const grey = metadata?.space === 'b-w' || metadata?.space === 'grey16' || (metadata?.channels ?? 3) <= 2;
  const { width, height } = probed.info;
  if (!probed.info.hasAlpha) {
    const image = await decodeCheckingJpegData(probed, async (failOn) =>
      finishToRgb(await openPixels(bytes, probed, failOn), probed, DEFAULT_BACKGROUND, width, height),
    );
    return { image, alpha: null, grey, info: probed.info };
  }
  // (JPEG has no alpha: decoded once, with 'error', like the other formats.)
  const pipeline = await openPixels(bytes, probed);
  let output: { data: Buffer; info: OutputInfo };
  try {
    output = await pipeline
      .toColourspace('srgb')
      .ensureAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    if (isPixelLimitError(error)) {
      throw new ImageTooLargeError(
        `image exceeds the limit of ${describePixels(probed.limits.maxInputPixels)}`,
        {
          cause: error,
        },
      );
    }
    throw new ImageDecodeError(
      `truncated or corrupt ${formatLabel(probed.info.format)}: ${reasonOf(error)}`,
      {
        cause: error,
      },
    );
  }
  if (output.info.channels !== 4 || output.info.width !== width || output.info.height !== height) {
    throw new ImageDecodeError(
      `${formatLabel(probed.info.format)} decoded to ${output.info.width}x${output.info.height}x${output.info.channels}, expected ${width}x${height}x4`,
    );
  }
  const rgba = output.data;
  const rgb = new Uint8Array(width * height * 3);
  const alpha = new Uint8Array(width * height);
  for (let i = 0, j = 0; i < alpha.length; i++, j += 4) {
    rgb[i * 3] = rgba[j]!;
    rgb[i * 3 + 1] = rgba[j + 1]!;
    rgb[i * 3 + 2] = rgba[j + 2]!;
    alpha[i] = rgba[j + 3]!;
  }
  return { image: { data: rgb, width, height }, alpha, grey, info: probed.info };
}
