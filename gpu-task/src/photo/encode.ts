/**
 * Writing a restored photo: sRGB with an embedded sRGB ICC profile, the input's alpha channel
 * kept (PNG and WebP; JPEG has none, so the photo is flattened onto white: nothing that was
 * transparent shows), greyscale inputs written back as greyscale (a restored face in a
 * black-and-white scan must not gain a tint) with a grey profile of sRGB's tone curve
 * (grey-profile.ts; WebP has no grey images and gets the sRGB one).
 *
 * **Why the profile is spliced in.** The pixels are already sRGB; sharp's `withIccProfile`
 * attaches a profile only through a colour transform of every pixel: an identity here (0.3 s
 * of CPU on a 48 MP output). Every format gets the very profile sharp would
 * write, copied from a 1 x 1 image encoded once with `withIccProfile('srgb')` and inserted
 * into the file: PNG's iCCP chunk, JPEG's APP2 segments, WebP's ICCP chunk (with the extended
 * header, VP8X, that a WebP with a profile needs).
 */
import { deflateSync } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import {
  InvalidParametersError,
  DEFAULT_ENCODE_QUALITY,
  encodeSharp,
  type OutputFormat,
  type RgbImage,
} from '../engine/core.js';
import { greyProfile } from './grey-profile.js';

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
  const alpha = options.alpha ?? null;
  if (alpha && options.format === 'jpeg') {
    // JPEG has no alpha: the photo is flattened onto white, as a viewer shows it on a page.
    // What was transparent must not show (the colours under alpha 0 are whatever the sender's
    // editor left there, e.g. a person cut out of the picture). sharp flattens before it joins
    // bands, so the alpha comes interleaved.
    const flat = rgbaPipeline(image, alpha).flatten({ background: '#ffffff' });
    return options.grey
      ? encodeGrey(flat.toColourspace('b-w'), options.format, quality)
      : encodeSrgb(flat, options.format, quality);
  }
  if (options.grey) {
    return encodeGrey(rgbaPipeline(image, alpha).toColourspace('b-w'), options.format, quality);
  }
  let pipeline = sharp(image.data, { raw: { width, height, channels: 3 }, limitInputPixels: false });
  if (alpha) {
    // Joined by libvips as it streams, not interleaved here into another full-size buffer.
    pipeline = pipeline.joinChannel(Buffer.from(alpha.buffer, alpha.byteOffset, alpha.byteLength), {
      raw: { width, height, channels: 1 },
    });
  }
  return encodeSrgb(pipeline, options.format, quality);
}

/**
 * A photo the engine wrote as PNG, written again as `format` exactly as encodePhoto would have
 * written it: alpha kept in WebP and flattened onto white in JPEG, greyscale kept grey, the
 * sRGB profile spliced in. For callers that re-encode one engine call's PNGs per image (the
 * worker: jobs of a batch share a call but not a format). PNG is returned unchanged.
 *
 * @example
 * ```ts
 * const webp = await reencodePhoto(result.restored, 'webp');
 * ```
 */
export async function reencodePhoto(
  png: Uint8Array,
  format: OutputFormat,
  quality?: number,
): Promise<Uint8Array> {
  if (format === 'png') return png;
  // The engine wrote it within the configured limits, which may exceed sharp's default.
  const grey = ((await sharp(png, { limitInputPixels: false }).metadata()).channels ?? 3) <= 2;
  // sharp hands a grey PNG back as RGB (alpha last when it has one).
  const { data, info } = await sharp(png, { limitInputPixels: false })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width, height, channels } = info;
  const rgb = new Uint8Array(width * height * 3);
  const alpha = channels === 4 ? new Uint8Array(width * height) : null;
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) rgb[i * 3 + c] = data[i * channels + c] as number;
    if (alpha) alpha[i] = data[i * channels + 3] as number;
  }
  return encodePhoto(
    { data: rgb, width, height },
    { format, ...(quality !== undefined ? { quality } : {}), alpha, grey },
  );
}

/**
 * encodePhoto for a photo without alpha given as a sharp pipeline of 8-bit, 3-band RGB (the
 * photo stage's streaming output, see withEnlargedWindows): the same bytes as encodePhoto of its
 * pixels, `grey` written as greyscale as there.
 *
 * @example
 * ```ts
 * const png = await encodeRgbPipeline(sharp(raw, { raw: { width, height, channels: 3 } }), { format: 'png' });
 * ```
 */
export async function encodeRgbPipeline(
  pipeline: Sharp,
  options: { format: OutputFormat; quality?: number; grey?: boolean },
): Promise<Uint8Array> {
  const quality = checkedQuality(options.quality);
  if (options.grey) return encodeGrey(pipeline.toColourspace('b-w'), options.format, quality);
  return encodeSrgb(pipeline, options.format, quality);
}

function checkedQuality(quality = DEFAULT_ENCODE_QUALITY): number {
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new InvalidParametersError(`quality must be an integer 1-100, got ${String(quality)}`);
  }
  return quality;
}

/** Encode sRGB pixels with the sRGB profile spliced in (see the module comment). */
async function encodeSrgb(pipeline: Sharp, format: OutputFormat, quality: number): Promise<Uint8Array> {
  const bytes = await encodeSharp(pipeline, format, quality);
  return withProfile(bytes, format, await srgbProfileSegment(format));
}

/**
 * Encode grey pixels with the grey profile (grey-profile.ts) spliced in; WebP, which has no grey
 * images (libwebp writes the grey as equal R, G and B), gets the sRGB profile.
 */
async function encodeGrey(pipeline: Sharp, format: OutputFormat, quality: number): Promise<Uint8Array> {
  const bytes = await encodeSharp(pipeline, format, quality);
  return withProfile(
    bytes,
    format,
    format === 'webp' ? await srgbProfileSegment(format) : greyProfileSegment(format),
  );
}

const greySegments = new Map<OutputFormat, Uint8Array>();

/** The grey profile as a PNG iCCP chunk or as JPEG APP2 ICC_PROFILE segment (one: it is 2 kB). */
function greyProfileSegment(format: 'png' | 'jpeg'): Uint8Array {
  let segment = greySegments.get(format);
  if (!segment) {
    const profile = greyProfile();
    segment =
      format === 'png' ? pngChunk('iCCP', iccpData(GREY_PROFILE_NAME, profile)) : jpegIccSegment(profile);
    greySegments.set(format, segment);
  }
  return segment;
}

/** The PNG profile name of grey outputs (iCCP's keyword: Latin-1, 1 to 79 characters). */
const GREY_PROFILE_NAME = 'sRGB grey';

/** iCCP's data: the profile's name, a NUL, compression method 0, the zlib-compressed profile. */
function iccpData(name: string, profile: Uint8Array): Uint8Array {
  return Buffer.concat([Buffer.from(`${name}\0\0`, 'latin1'), deflateSync(profile)]);
}

/** A PNG chunk: data length, type, data, CRC-32 of type and data. */
function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write(type, 4, 'latin1');
  chunk.set(data, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
  return chunk;
}

/** JPEG's APP2 ICC_PROFILE segment holding a whole profile (part 1 of 1; under 64 kB). */
function jpegIccSegment(profile: Uint8Array): Uint8Array {
  const signature = Buffer.from('ICC_PROFILE\0', 'latin1');
  const length = 2 + signature.length + 2 + profile.length;
  if (length > 0xffff)
    throw new Error(`internal: a ${profile.length} B profile needs more than one APP2 segment`);
  const segment = Buffer.alloc(2 + length);
  segment.set([0xff, 0xe2, length >> 8, length & 0xff]);
  segment.set(signature, 4);
  segment.set([1, 1], 4 + signature.length);
  segment.set(profile, 6 + signature.length);
  return segment;
}

/** CRC-32 (ISO 3309, PNG's), table-driven. */
function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/**
 * RGB (or RGBA, interleaved here) as one raw input: a joined alpha band would not survive
 * sharp's conversion to greyscale (the image would stay 4-band sRGB).
 */
function rgbaPipeline(image: RgbImage, alpha: Uint8Array | null): Sharp {
  const { width, height } = image;
  if (!alpha) return sharp(image.data, { raw: { width, height, channels: 3 }, limitInputPixels: false });
  const rgba = Buffer.allocUnsafe(width * height * 4);
  for (let i = 0, j = 0; i < width * height; i++, j += 4) {
    rgba[j] = image.data[i * 3]!;
    rgba[j + 1] = image.data[i * 3 + 1]!;
    rgba[j + 2] = image.data[i * 3 + 2]!;
    rgba[j + 3] = alpha[i]!;
  }
  return sharp(rgba, { raw: { width, height, channels: 4 }, limitInputPixels: false });
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

/** A WebP file's chunks after its 12-byte RIFF header: [four-character code, offset, payload size]. */
function webpChunks(bytes: Uint8Array): [string, number, number][] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: [string, number, number][] = [];
  for (let offset = 12; offset + 8 <= bytes.length;) {
    const size = view.getUint32(offset + 4, true);
    chunks.push([String.fromCharCode(...bytes.subarray(offset, offset + 4)), offset, size]);
    offset += 8 + size + (size & 1); // payloads are padded to an even length
  }
  return chunks;
}

/**
 * The canvas of a simple lossy WebP (one VP8 chunk, what encodeSharp writes without alpha):
 * [width, height], read from the bitstream's frame header.
 */
function webpCanvas(bytes: Uint8Array, [type, offset]: [string, number, number]): [number, number] {
  const p = offset + 8;
  if (type !== 'VP8 ' || bytes[p + 3] !== 0x9d || bytes[p + 4] !== 0x01 || bytes[p + 5] !== 0x2a) {
    throw new Error(`internal: expected a lossy WebP (VP8 with its start code), got a ${type} chunk first`);
  }
  // frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height (2 scale bits each)
  return [(bytes[p + 6]! | (bytes[p + 7]! << 8)) & 0x3fff, (bytes[p + 8]! | (bytes[p + 9]! << 8)) & 0x3fff];
}

/** The ICC flag of VP8X, the WebP container's extended header. */
const VP8X_ICC = 0x20;

/**
 * Insert an ICCP chunk into a WebP: right after its VP8X header, whose ICC flag is set; a simple
 * WebP (one VP8 chunk) first gets that header, with its canvas size. The RIFF size is
 * rewritten.
 */
function withWebpProfile(bytes: Uint8Array, iccp: Uint8Array): Uint8Array {
  const chunks = webpChunks(bytes);
  if (chunks.some(([type]) => type === 'ICCP')) return bytes;
  const first = chunks[0];
  if (!first) throw new Error('internal: a WebP without chunks');
  let head: Uint8Array;
  let rest: Uint8Array;
  if (first[0] === 'VP8X') {
    const end = first[1] + 8 + first[2];
    head = bytes.slice(0, end);
    head[first[1] + 8] = head[first[1] + 8]! | VP8X_ICC;
    rest = bytes.subarray(end);
  } else {
    const [width, height] = webpCanvas(bytes, first);
    head = new Uint8Array(12 + 18);
    head.set(bytes.subarray(0, 12));
    head.set([0x56, 0x50, 0x38, 0x58, 10, 0, 0, 0], 12); // 'VP8X', payload 10 bytes
    head[20] = VP8X_ICC;
    for (let i = 0; i < 3; i++) {
      head[24 + i] = ((width - 1) >>> (8 * i)) & 0xff;
      head[27 + i] = ((height - 1) >>> (8 * i)) & 0xff;
    }
    rest = bytes.subarray(12);
  }
  const out = Buffer.concat([head, iccp, rest]);
  out.writeUInt32LE(out.length - 8, 4);
  return out;
}

const profileSegments = new Map<OutputFormat, Promise<Uint8Array>>();

/**
 * The bytes that carry sharp's sRGB profile: the iCCP chunk of a PNG, the APP2 ICC_PROFILE
 * segments of a JPEG, the ICCP chunk of a WebP (read once from a 1 x 1 image sharp encoded with
 * the profile).
 */
function srgbProfileSegment(format: OutputFormat): Promise<Uint8Array> {
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
      } else if (format === 'jpeg') {
        for (const [offset, length, marker] of jpegAppSegments(bytes)) {
          if (marker === 0xe2) parts.push(bytes.slice(offset, offset + length));
        }
      } else {
        for (const [type, offset, size] of webpChunks(bytes)) {
          if (type === 'ICCP') parts.push(bytes.slice(offset, offset + 8 + size + (size & 1)));
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
 * Insert the profile segment into an encoded PNG (after IHDR, where iCCP belongs), JPEG (after
 * SOI and the JFIF APP0 segment, where APP2 belongs) or WebP (withWebpProfile). A file that
 * already has a profile is returned as it is.
 */
function withProfile(bytes: Uint8Array, format: OutputFormat, segment: Uint8Array): Uint8Array {
  if (format === 'webp') return withWebpProfile(bytes, segment);
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
