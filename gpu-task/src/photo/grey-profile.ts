/**
 * The ICC profile of a greyscale output: monochrome, with sRGB's tone curve, so a grey photo is
 * tagged as what its levels mean (the grey axis of sRGB), as colour outputs carry sRGB's own
 * profile (encode.ts). An RGB profile cannot tag a one-channel PNG or JPEG: PNG requires a grey
 * profile for grey images, and colour-managed viewers refuse or ignore a mismatched one.
 *
 * Built here, field by field (ICC.1:2001-04, version 2.1, which every colour engine reads): a
 * 128-byte header, a tag table, and four tags: the description, the copyright, the media white
 * point (D50, the profile connection space's white) and the grey tone curve, IEC 61966-2-1's
 * curve sampled at GREY_CURVE_POINTS points (the colour engine interpolates between them).
 */

/** Samples of the grey tone curve: enough that linear interpolation stays within 1/4 of a level. */
export const GREY_CURVE_POINTS = 1024;

const DESCRIPTION = 'sRGB grey (dr2e)';
const COPYRIGHT = 'No copyright, use freely';

/** D50 in s15Fixed16 (ICC's profile connection space white). */
const D50: readonly [number, number, number] = [0x0000f6d6, 0x00010000, 0x0000d32d];

/** IEC 61966-2-1's decoding curve: an sRGB level in [0, 1] to linear light in [0, 1]. */
export function srgbToLinear(v: number): number {
  return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
}

class Writer {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  constructor(length: number) {
    this.bytes = new Uint8Array(length);
    this.view = new DataView(this.bytes.buffer);
  }
  u32(offset: number, value: number): void {
    this.view.setUint32(offset, value);
  }
  u16(offset: number, value: number): void {
    this.view.setUint16(offset, value);
  }
  ascii(offset: number, text: string): void {
    for (let i = 0; i < text.length; i++) this.bytes[offset + i] = text.charCodeAt(i) & 0x7f;
  }
}

/** One tag's bytes (type signature first) and its length; the bytes are padded to a multiple of 4. */
interface Tag {
  bytes: Uint8Array;
  length: number;
}

function tag(build: (w: Writer) => void, length: number): Tag {
  const w = new Writer(Math.ceil(length / 4) * 4);
  build(w);
  return { bytes: w.bytes, length };
}

/** textDescriptionType: ASCII, then empty Unicode and ScriptCode descriptions. */
function descriptionTag(text: string): Tag {
  const ascii = text.length + 1;
  return tag(
    (w) => {
      w.ascii(0, 'desc');
      w.u32(8, ascii);
      w.ascii(12, text);
      // Unicode language code and count (0), ScriptCode code and count (0), 67 bytes of ScriptCode.
    },
    12 + ascii + 4 + 4 + 2 + 1 + 67,
  );
}

function textTag(text: string): Tag {
  return tag(
    (w) => {
      w.ascii(0, 'text');
      w.ascii(8, text);
    },
    8 + text.length + 1,
  );
}

function xyzTag([x, y, z]: readonly [number, number, number]): Tag {
  return tag((w) => {
    w.ascii(0, 'XYZ ');
    w.u32(8, x);
    w.u32(12, y);
    w.u32(16, z);
  }, 20);
}

function curveTag(points: number): Tag {
  return tag(
    (w) => {
      w.ascii(0, 'curv');
      w.u32(8, points);
      for (let i = 0; i < points; i++) {
        w.u16(12 + 2 * i, Math.round(srgbToLinear(i / (points - 1)) * 65535));
      }
    },
    12 + 2 * points,
  );
}

let built: Uint8Array | undefined;

/**
 * The profile's bytes (built once).
 *
 * @example
 * ```ts
 * const icc = greyProfile(); // 'GRAY' colour space at bytes 16-19, 'mntr' class at 12-15
 * ```
 */
export function greyProfile(): Uint8Array {
  if (built) return built;
  const tags: [string, Tag][] = [
    ['desc', descriptionTag(DESCRIPTION)],
    ['cprt', textTag(COPYRIGHT)],
    ['wtpt', xyzTag(D50)],
    ['kTRC', curveTag(GREY_CURVE_POINTS)],
  ];
  const tableLength = 4 + 12 * tags.length;
  const length = 128 + tableLength + tags.reduce((sum, [, { bytes }]) => sum + bytes.length, 0);
  const w = new Writer(length);
  // Header: size, CMM (none), version 2.1, class display, colour space grey, PCS XYZ, date,
  // 'acsp', platform, flags, device (none), rendering intent perceptual, illuminant D50.
  w.u32(0, length);
  w.u32(8, 0x02100000);
  w.ascii(12, 'mntr');
  w.ascii(16, 'GRAY');
  w.ascii(20, 'XYZ ');
  // Creation date and time (the spec requires one): when this profile was first written.
  [2026, 12, 3, 0, 0, 0].forEach((value, i) => w.u16(24 + 2 * i, value));
  w.ascii(36, 'acsp');
  w.u32(68, D50[0]);
  w.u32(72, D50[1]);
  w.u32(76, D50[2]);
  w.u32(128, tags.length);
  let offset = 128 + tableLength;
  tags.forEach(([signature, { bytes, length: tagLength }], i) => {
    w.ascii(132 + 12 * i, signature);
    w.u32(136 + 12 * i, offset);
    w.u32(140 + 12 * i, tagLength);
    w.bytes.set(bytes, offset);
    offset += bytes.length;
  });
  built = w.bytes;
  return built;
}
