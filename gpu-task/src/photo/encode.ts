/**
 * Writing a restored photo: sRGB with an embedded sRGB ICC profile, the input's alpha channel
 * kept (PNG and WebP; JPEG has none, so it is flattened onto white), greyscale inputs written
 * back as greyscale (a restored face in a black-and-white scan must not gain a tint).
 *
 * **Why the profile is spliced in.** The pixels are already sRGB; sharp's `withIccProfile`
 * attaches a profile only through an sRGB-to-sRGB colour transform of every pixel (an identity
 * here, 0.3 s of CPU on a 48 MP output). PNG and JPEG get the very profile sharp would write,
 * copied from a 1 x 1 image encoded once with `withIccProfile('srgb')` and inserted into the
 * file's header; WebP, whose extended header would have to be rebuilt, goes through sharp.
 */
import sharp, { type Sharp } from 'sharp';
import {
  InvalidParametersError,
  DEFAULT_ENCODE_QUALITY,
  encodeSharp,
  type OutputFormat,
  type RgbImage,
} from '../engine/core.js';

export interface EncodePhotoOptions {
  format: OutputFormat;
  quality?: number;
  /** Alpha plane at the image's size, or null. */
  alpha?: Uint8Array | null;
  grey?: boolean;
}

/**
 * @example
 * ```ts
 * const png = await encodePhoto(restored, { format: 'png', alpha: decoded.alpha, grey: decoded.grey });
 * ```
 */
export async function encodePhoto(image: RgbImage, options: EncodePhotoOptions): Promise<Uint8Array> {
  const { width, height } = image;
  const quality = checkedQuality(options.quality);
  const alpha = options.format === 'jpeg' ? null : (options.alpha ?? null);
  if (options.grey) {
    return encodeSharp(rgbaPipeline(image, alpha).toColourspace('b-w'), options.format, quality);
  }
  let pipeline = sharp(image.data, { raw: { width, height, channels: 3 } });
  if (alpha) {
    // Joined by libvips as it streams, not interleaved here into another full-size buffer.
    pipeline = pipeline.joinChannel(Buffer.from(alpha.buffer, alpha.byteOffset, alpha.byteLength), {
      raw: { width, height, channels: 1 },
    });
  }
  return encodeSrgb(pipeline, options.format, quality);
}

/**
 * encodePhoto for a colour photo given as a sharp pipeline of 3-band RGB without alpha (the
 * photo stage's streaming output, see withEnlargedWindows), as PNG or JPEG: the same bytes as
 * encodePhoto of its pixels. Greyscale and WebP photos are encoded from their pixels
 * (encodePhoto): the stream carries 16-bit samples, which libvips converts to grey with its own
 * rounding, and which sharp takes to be Display P3, so WebP's sRGB profile (applied by sharp,
 * not spliced in as for PNG and JPEG) would convert the colours.
 *
 * @example
 * ```ts
 * const png = await encodeRgbPipeline(sharp(raw, { raw: { width, height, channels: 3 } }), { format: 'png' });
 * ```
 */
export async function encodeRgbPipeline(
  pipeline: Sharp,
  options: { format: Exclude<OutputFormat, 'webp'>; quality?: number },
): Promise<Uint8Array> {
  return encodeSrgb(pipeline, options.format, checkedQuality(options.quality));
}

function checkedQuality(quality = DEFAULT_ENCODE_QUALITY): number {
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new InvalidParametersError(`quality must be an integer 1-100, got ${String(quality)}`);
  }
  return quality;
}

/** Encode sRGB pixels with the sRGB profile embedded (spliced in for PNG and JPEG, see the module comment). */
async function encodeSrgb(pipeline: Sharp, format: OutputFormat, quality: number): Promise<Uint8Array> {
  if (format === 'webp') return encodeSharp(pipeline.withIccProfile('srgb'), 'webp', quality);
  const bytes = await encodeSharp(pipeline, format, quality);
  return withSrgbProfile(bytes, format, await srgbProfileSegment(format));
}

/**
 * RGB (or RGBA, interleaved here) as one raw input: a joined alpha band would not survive
 * sharp's conversion to greyscale (the image would stay 4-band sRGB).
 */
function rgbaPipeline(image: RgbImage, alpha: Uint8Array | null): Sharp {
  const { width, height } = image;
  if (!alpha) return sharp(image.data, { raw: { width, height, channels: 3 } });
  const rgba = Buffer.allocUnsafe(width * height * 4);
  for (let i = 0, j = 0; i < width * height; i++, j += 4) {
    rgba[j] = image.data[i * 3]!;
    rgba[j + 1] = image.data[i * 3 + 1]!;
    rgba[j + 2] = image.data[i * 3 + 2]!;
    rgba[j + 3] = alpha[i]!;
  }
  return sharp(rgba, { raw: { width, height, channels: 4 } });
}

const PNG_SIGNATURE_LENGTH = 8;

/** Length + type + data + CRC of the PNG chunk at `offset`. */
function pngChunkLength(bytes: Uint8Array, offset: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return 12 + view.getUint32(offset);
}

function pngChunkType(bytes: Uint8Array, offset: number): string {
  return String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
}

/** The JPEG marker segments after SOI: [offset, length with marker] until the first non-APP one. */
function jpegAppSegments(bytes: Uint8Array): [number, number, number][] {
  const segments: [number, number, number][] = [];
  let offset = 2;
  while (offset + 4 <= bytes.length && bytes[offset] === 0xff) {
    const marker = bytes[offset + 1]!;
    if (marker < 0xe0 || marker > 0xef) break;
    const length = 2 + ((bytes[offset + 2]! << 8) | bytes[offset + 3]!);
    segments.push([offset, length, marker]);
    offset += length;
  }
  return segments;
}

const profileSegments = new Map<'png' | 'jpeg', Promise<Uint8Array>>();

/**
 * The bytes that carry sharp's sRGB profile: the iCCP chunk of a PNG, the APP2 ICC_PROFILE
 * segments of a JPEG (read once from a 1 x 1 image sharp encoded with the profile).
 */
function srgbProfileSegment(format: 'png' | 'jpeg'): Promise<Uint8Array> {
  let segment = profileSegments.get(format);
  if (!segment) {
    segment = (async () => {
      const tiny = sharp({
        create: { width: 1, height: 1, channels: 3, background: '#808080' },
      }).withIccProfile('srgb');
      const bytes = new Uint8Array(await encodeSharp(tiny, format, DEFAULT_ENCODE_QUALITY));
      const parts: Uint8Array[] = [];
      if (format === 'png') {
        for (
          let offset = PNG_SIGNATURE_LENGTH;
          offset < bytes.length;
          offset += pngChunkLength(bytes, offset)
        ) {
          if (pngChunkType(bytes, offset) === 'iCCP') {
            parts.push(bytes.slice(offset, offset + pngChunkLength(bytes, offset)));
          }
        }
      } else {
        for (const [offset, length, marker] of jpegAppSegments(bytes)) {
          if (marker === 0xe2) parts.push(bytes.slice(offset, offset + length));
        }
      }
      if (parts.length === 0) throw new Error(`sharp wrote no sRGB profile into a ${format}`);
      return Buffer.concat(parts);
    })();
    profileSegments.set(format, segment);
  }
  return segment;
}

/**
 * Insert the profile segment into an encoded PNG (after IHDR, where iCCP belongs) or JPEG
 * (after SOI and the JFIF APP0 segment, where APP2 belongs). A file that already has a
 * profile is returned as it is.
 */
function withSrgbProfile(bytes: Uint8Array, format: 'png' | 'jpeg', segment: Uint8Array): Uint8Array {
  let at: number;
  if (format === 'png') {
    at = PNG_SIGNATURE_LENGTH + pngChunkLength(bytes, PNG_SIGNATURE_LENGTH); // IHDR is first
    for (let offset = at; offset < bytes.length; offset += pngChunkLength(bytes, offset)) {
      const type = pngChunkType(bytes, offset);
      if (type === 'iCCP' || type === 'sRGB') return bytes;
      if (type === 'IDAT') break;
    }
  } else {
    const segments = jpegAppSegments(bytes);
    if (segments.some(([, , marker]) => marker === 0xe2)) return bytes;
    const jfif = segments.find(([, , marker]) => marker === 0xe0);
    at = jfif ? jfif[0] + jfif[1] : 2;
  }
  return Buffer.concat([bytes.subarray(0, at), segment, bytes.subarray(at)]);
}
