/**
 * Image width and height from the first bytes of a file, without decoding and without native
 * code (the dispatcher runs in a Lambda bundle free of sharp). Used to refuse at dispatch what
 * would run to a degenerate output; the worker still reads the real header with sharp.
 *
 * Reads PNG (IHDR), JPEG (first SOFn marker), WebP (VP8, VP8L, VP8X), TIFF (IFD0) and
 * HEIC/AVIF (the largest `ispe` property: the primary image or grid, not a tile or thumbnail).
 * EXIF rotation swaps width and height, which changes neither the shorter side nor the aspect
 * ratio, so it is ignored. Returns `undefined` when the size is not within the given bytes.
 */

/** Width and height in pixels as the header states them. */
export interface ImageSize {
  width: number;
  height: number;
}

function u16be(b: Uint8Array, o: number): number {
  return ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
}
function u32be(b: Uint8Array, o: number): number {
  return (
    ((b[o] ?? 0) * 0x1000000 + (((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0))) >>> 0
  );
}
function u16le(b: Uint8Array, o: number): number {
  return (b[o] ?? 0) | ((b[o + 1] ?? 0) << 8);
}
function u24le(b: Uint8Array, o: number): number {
  return (b[o] ?? 0) | ((b[o + 1] ?? 0) << 8) | ((b[o + 2] ?? 0) << 16);
}
function u32le(b: Uint8Array, o: number): number {
  return (u16le(b, o) + u16le(b, o + 2) * 0x10000) >>> 0;
}
function ascii(b: Uint8Array, o: number, n: number): string {
  let text = '';
  for (let i = o; i < o + n; i++) text += String.fromCharCode(b[i] ?? 0);
  return text;
}

function sized(width: number, height: number): ImageSize | undefined {
  return width > 0 && height > 0 ? { width, height } : undefined;
}

function pngSize(b: Uint8Array): ImageSize | undefined {
  if (b.length < 24 || ascii(b, 12, 4) !== 'IHDR') return undefined;
  return sized(u32be(b, 16), u32be(b, 20));
}

/** SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC). */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function jpegSize(b: Uint8Array): ImageSize | undefined {
  let o = 2;
  while (o + 4 <= b.length) {
    if (b[o] !== 0xff) return undefined;
    const marker = b[o + 1] ?? 0;
    if (marker === 0xff) {
      o += 1; // fill byte
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      o += 2; // markers without a length
      continue;
    }
    const length = u16be(b, o + 2);
    if (isStartOfFrame(marker)) {
      if (o + 9 > b.length) return undefined;
      return sized(u16be(b, o + 7), u16be(b, o + 5));
    }
    if (marker === 0xda || length < 2) return undefined; // scan data before any frame header
    o += 2 + length;
  }
  return undefined;
}

function webpSize(b: Uint8Array): ImageSize | undefined {
  const chunk = ascii(b, 12, 4);
  if (chunk === 'VP8X' && b.length >= 30) return sized(u24le(b, 24) + 1, u24le(b, 27) + 1);
  if (chunk === 'VP8L' && b.length >= 25 && b[20] === 0x2f) {
    const bits = u32le(b, 21);
    return sized((bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1);
  }
  if (chunk === 'VP8 ' && b.length >= 30 && b[23] === 0x9d && b[24] === 0x01 && b[25] === 0x2a) {
    return sized(u16le(b, 26) & 0x3fff, u16le(b, 28) & 0x3fff);
  }
  return undefined;
}

function tiffSize(b: Uint8Array): ImageSize | undefined {
  const little = b[0] === 0x49;
  const r16 = (o: number) => (little ? u16le(b, o) : u16be(b, o));
  const r32 = (o: number) => (little ? u32le(b, o) : u32be(b, o));
  const ifd = r32(4);
  if (ifd + 2 > b.length) return undefined;
  const count = r16(ifd);
  let width = 0;
  let height = 0;
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > b.length) return undefined;
    const tag = r16(entry);
    const type = r16(entry + 2);
    const value = type === 3 ? r16(entry + 8) : r32(entry + 8);
    if (tag === 256) width = value;
    if (tag === 257) height = value;
  }
  return sized(width, height);
}

/** The largest `ispe` (image spatial extents) box anywhere in the bytes read. */
function bmffSize(b: Uint8Array): ImageSize | undefined {
  let best: ImageSize | undefined;
  for (let o = 4; o + 16 <= b.length; o++) {
    // 'ispe' = 69 73 70 65; the box is size(4) 'ispe' version/flags(4) width(4) height(4).
    if (b[o] !== 0x69 || b[o + 1] !== 0x73 || b[o + 2] !== 0x70 || b[o + 3] !== 0x65) continue;
    if (u32be(b, o - 4) !== 20) continue;
    const candidate = sized(u32be(b, o + 8), u32be(b, o + 12));
    if (candidate && (!best || candidate.width * candidate.height > best.width * best.height))
      best = candidate;
  }
  return best;
}

/**
 * @example
 * ```ts
 * readImageSize(pngBytes); // { width: 640, height: 480 }
 * readImageSize(new TextEncoder().encode('hello')); // undefined
 * ```
 */
export function readImageSize(bytes: Uint8Array): ImageSize | undefined {
  if (bytes.length >= 8 && bytes[0] === 0x89 && ascii(bytes, 1, 3) === 'PNG') return pngSize(bytes);
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return jpegSize(bytes);
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 4) === 'WEBP') return webpSize(bytes);
  if (ascii(bytes, 0, 4) === 'II*\0' || ascii(bytes, 0, 4) === 'MM\0*') return tiffSize(bytes);
  if (ascii(bytes, 4, 4) === 'ftyp') return bmffSize(bytes);
  return undefined;
}
