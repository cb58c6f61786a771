/**
 * Format sniffing from magic bytes. The file name and the declared content type are never
 * trusted: an upload called `face.jpg` may be a PNG, a HEIC from a phone, or a text file.
 */
import { readUint32BE } from './bmff.js';

/** Raster formats the engine decodes. `heic` means HEIF with HEVC-coded images. */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'avif' | 'tiff' | 'heic';

/** Every accepted input format, in the order the docs list them. */
export const SUPPORTED_IMAGE_FORMATS: readonly ImageFormat[] = [
  'jpeg',
  'png',
  'webp',
  'avif',
  'tiff',
  'heic',
];

/** Human name of a format for error messages ("truncated or corrupt PNG: ..."). */
export function formatLabel(format: ImageFormat): string {
  return format === 'webp' ? 'WebP' : format.toUpperCase();
}

/**
 * What the first bytes say the data is.
 * - `image`: one of the supported formats (for HEIF containers the codec is confirmed later
 *   from the header: AV1 makes it `avif`, HEVC `heic`).
 * - `unsupported`: a recognised format we refuse (GIF, SVG, BMP...), with its name.
 * - `text`: printable text that is not SVG.
 * - `unknown`: binary data matching no known signature.
 * - `empty`: zero bytes.
 */
export type SniffResult =
  | { kind: 'image'; format: ImageFormat; brands?: readonly string[] }
  | { kind: 'unsupported'; name: string }
  | { kind: 'text' }
  | { kind: 'unknown' }
  | { kind: 'empty' };

/** ISO-BMFF brands of still-image HEIF files coded with AV1 (checked before the HEVC ones). */
const AVIF_BRANDS = new Set(['avif', 'avis']);
/**
 * ISO-BMFF brands of HEIF files. `mif1`/`msf1` are codec-neutral: such a file is routed by the
 * codec that its header names (see decode.ts), the brand only says it is a HEIF container.
 */
const HEIF_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'heif', 'mif1', 'msf1', 'miaf']);

function startsWith(bytes: Uint8Array, signature: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + signature.length) return false;
  for (let i = 0; i < signature.length; i++) if (bytes[offset + i] !== signature[i]) return false;
  return true;
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  let text = '';
  for (let i = start; i < end && i < bytes.length; i++) text += String.fromCharCode(bytes[i] ?? 0);
  return text;
}

/** The major and compatible brands of an ISO-BMFF `ftyp` box at the start of the data, or null. */
export function readFtypBrands(bytes: Uint8Array): string[] | null {
  if (bytes.length < 16 || ascii(bytes, 4, 8) !== 'ftyp') return null;
  const boxSize = readUint32BE(bytes, 0);
  if (boxSize < 16) return null;
  const end = Math.min(boxSize, bytes.length);
  // Layout: size(4) 'ftyp'(4) major_brand(4) minor_version(4) compatible_brands(4 each).
  const brands = [ascii(bytes, 8, 12)];
  for (let offset = 16; offset + 4 <= end; offset += 4) brands.push(ascii(bytes, offset, offset + 4));
  return brands.map((brand) => brand.replace(/\0/g, ' ').trim()).filter((brand) => brand.length > 0);
}

const TEXT_PROBE_BYTES = 4096;

/**
 * Whether the start of the data reads as text: valid UTF-8 (a code point cut at the probe's end
 * is allowed) with no control characters other than tab, line feed, carriage return and form
 * feed. Binary formats nearly always contain NUL or other control bytes in their first kilobytes.
 */
function looksLikeText(bytes: Uint8Array): boolean {
  const probe = bytes.subarray(0, TEXT_PROBE_BYTES);
  let decoded: string | null = null;
  // A multi-byte character cut by the probe boundary is not a reason to call it binary.
  for (let trim = 0; trim <= 3 && decoded === null; trim++) {
    if (trim > 0 && probe.length < TEXT_PROBE_BYTES) break;
    try {
      decoded = new TextDecoder('utf-8', { fatal: true }).decode(probe.subarray(0, probe.length - trim));
    } catch {
      decoded = null;
    }
  }
  if (decoded === null) return false;
  // eslint-disable-next-line no-control-regex -- matching control characters is the point here
  return !/[\u0000-\u0008\u000b\u000e-\u001f\u007f]/.test(decoded);
}

/**
 * Identify the format of `bytes` from its signature.
 *
 * @example
 * ```ts
 * sniffImageFormat(await readFile('photo.jpg')); // { kind: 'image', format: 'heic', brands: [...] }
 * sniffImageFormat(new TextEncoder().encode('hello')); // { kind: 'text' }
 * ```
 */
export function sniffImageFormat(bytes: Uint8Array): SniffResult {
  if (bytes.length === 0) return { kind: 'empty' };

  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return { kind: 'image', format: 'jpeg' };
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    return { kind: 'image', format: 'png' };
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP')
    return { kind: 'image', format: 'webp' };
  // Classic TIFF ("II*\0", "MM\0*") and BigTIFF ("II+\0", "MM\0+"), both read by libtiff.
  if (
    startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) ||
    startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a]) ||
    startsWith(bytes, [0x49, 0x49, 0x2b, 0x00]) ||
    startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2b])
  ) {
    return { kind: 'image', format: 'tiff' };
  }

  const brands = readFtypBrands(bytes);
  if (brands !== null) {
    if (brands.some((brand) => AVIF_BRANDS.has(brand))) return { kind: 'image', format: 'avif', brands };
    if (brands.some((brand) => HEIF_BRANDS.has(brand))) return { kind: 'image', format: 'heic', brands };
    if (
      brands.some(
        (brand) => brand === 'qt' || brand.startsWith('mp4') || brand === 'isom' || brand === '3gp4',
      )
    ) {
      return { kind: 'unsupported', name: `MP4/QuickTime video (brands ${brands.join(', ')})` };
    }
    return { kind: 'unsupported', name: `ISO-BMFF file with brands ${brands.join(', ')} (not HEIF/AVIF)` };
  }

  if (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a')
    return { kind: 'unsupported', name: 'GIF' };
  if (ascii(bytes, 0, 4) === '%PDF') return { kind: 'unsupported', name: 'PDF' };
  if (ascii(bytes, 0, 4) === '8BPS') return { kind: 'unsupported', name: 'Photoshop PSD' };
  if (startsWith(bytes, [0xff, 0x0a]) || startsWith(bytes, [0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20])) {
    return { kind: 'unsupported', name: 'JPEG XL' };
  }
  if (
    startsWith(bytes, [0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20]) ||
    startsWith(bytes, [0xff, 0x4f, 0xff, 0x51])
  ) {
    return { kind: 'unsupported', name: 'JPEG 2000' };
  }
  if (startsWith(bytes, [0x00, 0x00, 0x01, 0x00])) return { kind: 'unsupported', name: 'ICO' };

  if (looksLikeText(bytes)) {
    const head = new TextDecoder('utf-8').decode(bytes.subarray(0, TEXT_PROBE_BYTES)).toLowerCase();
    if (head.includes('<svg')) return { kind: 'unsupported', name: 'SVG' };
    return { kind: 'text' };
  }

  // BMP's two-byte "BM" is weak, so it is tested after text ("BMW..." is text) and needs at
  // least a whole 14-byte file header.
  if (ascii(bytes, 0, 2) === 'BM' && bytes.length >= 14) return { kind: 'unsupported', name: 'BMP' };

  return { kind: 'unknown' };
}
