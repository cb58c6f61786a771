/**
 * Enlarging the photo for its output: the centre-aligned bicubic background (`enlargeCentred`),
 * a window of it (`enlargeWindow`, for blending faces into), and the whole output as one
 * streaming libvips pipeline with windows laid over it (`withEnlargedWindows`), so a 48 MP
 * output is enlarged, composed and encoded without being held in memory as raw pixels.
 *
 * Two kinds of levels (EnlargeLevels): `exact`, the float cubic rounded to the nearest level,
 * under every face the stage found, restored, kept or skipped (paste.ts faceWindows), and
 * wherever the output is made in memory; `fast`, libvips' 8-bit fixed point, for the streamed
 * background away from the faces, where a level's rounding shows nowhere and the exact levels
 * cost half of the photo stage's budget.
 */
import { endianness } from 'node:os';
import sharp, { type Sharp } from 'sharp';
import type { RgbImage } from '../engine/core.js';
import { KeptScratch, RETAIN_MAX_BYTES, ZeroedScratch } from './scratch.js';

/** Input pixels of edge replication before enlarging: the cubic's taps reach 2 pixels out. */
const ENLARGE_PAD = 2;

/**
 * Input rows (columns) of the strips along the photo's edges that are enlarged apart (see
 * enlargeCentred): the output's first 3 x factor rows read input rows 0-4 at most.
 */
const EDGE_STRIP = 8;

/** Output rows (columns) along each edge taken from the strips: the taps of those below reach row 0 no more. */
const edgeBand = (factor: number): number => 3 * factor;

/**
 * How an enlargement's levels are computed:
 *
 * - `exact`: libvips' bicubic on 16-bit samples (preciseInput): the float cubic rounded to the
 *   nearest level on all but about 1 sample in 200,000, within one level there. A kept face
 *   is then bicubic's to the level, and the enlargement under a pasted face's feathered edge
 *   is bicubic's too.
 * - `fast`: libvips' bicubic on the 8-bit levels (fixed point): a level off the float cubic on
 *   about 1 sample in 5 to 10 of photos, either way (mean −0.01..+0.01 level, RMS 0.3-0.5), and
 *   much cheaper: a 12 MP photo enlarged x2 into a PNG takes about 0.5 s less on the 2-core
 *   machine (the 16-bit samples are twice the bytes through the affine, and the conversion
 *   back). The streamed output's background away from the faces (withEnlargedWindows).
 */
export type EnlargeLevels = 'exact' | 'fast';

/**
 * Enlarge raw pixels (1 or 3 channels) by an integer factor, centre-aligned (output pixel i
 * samples the input at (i + 0.5) / factor - 0.5, as MATLAB `imresize` and PIL do), with
 * libvips' bicubic interpolator, its levels `exact` (default: 16-bit samples, `preciseInput`;
 * at the factors the photo stage uses, 2 and 4, the float cubic rounded to the nearest level)
 * or `fast` (8-bit, see EnlargeLevels), and the border pixels replicated.
 *
 * sharp's `resize` is not used to enlarge: libvips maps pixel corners there, which moves the
 * whole picture by half an output pixel down and right (every face and edge of the photo,
 * against the input's geometry: at x4, PSNR falls by 0.5 dB on real content), and its
 * enlargement is the same bicubic whatever the kernel asked for (lanczos3 gives identical bytes).
 *
 * **One pass over the output.** libvips' `affine` fills what lies outside the input with black,
 * so the output's outer rows and columns (whose cubic taps reach past the edge) need the input
 * replicated at its border. Padding the whole photo and cutting the result back costs two more
 * full-size copies (a 48 MP output: 0.5 s of the photo stage's 1 s budget), so the photo is
 * enlarged as it is and only narrow strips along its four edges go through the padded path;
 * their outer bands replace the affine's. The interpolation is local and the factor an integer,
 * so a strip's pixels are the very bytes the whole padded photo would give (tested).
 */
export async function enlargeCentred(
  data: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
  factor: number,
  levels: EnlargeLevels = 'exact',
): Promise<Uint8Array> {
  if (width < 2 * EDGE_STRIP || height < 2 * EDGE_STRIP) {
    return enlargePadded(data, width, height, channels, factor, levels);
  }
  const outWidth = width * factor;
  const outHeight = height * factor;
  const main = withInput(data, width, height, channels, levels, (samples) =>
    enlargeAffine(samples, channels, factor).raw().toBuffer({ resolveWithObject: true }),
  );
  // Awaited after the strips: a failure meanwhile must not go unobserved (it is rethrown there).
  main.catch(() => undefined);
  // The edge strips of the input (rows or columns), enlarged with replication, run meanwhile.
  const band = edgeBand(factor);
  const strips = await Promise.all(
    (
      [
        [0, 0, width, EDGE_STRIP],
        [0, height - EDGE_STRIP, width, EDGE_STRIP],
        [0, 0, EDGE_STRIP, height],
        [width - EDGE_STRIP, 0, EDGE_STRIP, height],
      ] as const
    ).map(([left, top, w, h]) =>
      enlargePadded(cropRaw(data, width, channels, left, top, w, h), w, h, channels, factor, levels),
    ),
  );
  const { data: out, info } = await main;
  if (info.width !== outWidth || info.height !== outHeight || info.channels !== channels) {
    throw new Error(
      `internal: enlarged ${info.width}x${info.height}x${info.channels}, expected ${outWidth}x${outHeight}x${channels}`,
    );
  }
  const [top, bottom, left, right] = strips as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  const rowBytes = outWidth * channels;
  // Top and bottom bands: whole rows.
  out.set(top.subarray(0, band * rowBytes), 0);
  const bottomStart = (EDGE_STRIP * factor - band) * rowBytes;
  out.set(bottom.subarray(bottomStart), (outHeight - band) * rowBytes);
  // Left and right bands: `band` pixels of every row.
  const stripRow = EDGE_STRIP * factor * channels;
  const bandBytes = band * channels;
  for (let y = 0; y < outHeight; y++) {
    const o = y * rowBytes;
    out.set(left.subarray(y * stripRow, y * stripRow + bandBytes), o);
    out.set(right.subarray((y + 1) * stripRow - bandBytes, (y + 1) * stripRow), o + rowBytes - bandBytes);
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** A rectangle of a raw image, as its own raw image. */
export function cropRaw(
  data: Uint8Array,
  width: number,
  channels: number,
  left: number,
  top: number,
  w: number,
  h: number,
): Uint8Array {
  const out = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) {
    const from = ((top + y) * width + left) * channels;
    out.set(data.subarray(from, from + w * channels), y * w * channels);
  }
  return out;
}

/** sharp would turn one channel into sRGB's three on the way. */
function keepChannels(pipeline: Sharp, channels: 1 | 3): Sharp {
  return channels === 1 ? pipeline.toColourspace('b-w') : pipeline;
}

/**
 * Raw 8-bit pixels as a sharp pipeline of 16-bit samples, level v as v · 256 + 128, for
 * enlargeAffine.
 *
 * Why: libvips interpolates 8-bit pixels in fixed point, and its bicubic then lands a level
 * off the float result on about one sample in six (0.16 levels on average; a kept face came
 * out 1-3e-4 SSIM behind a float bicubic enlargement of the whole photo). On 16-bit samples
 * its result is the float cubic to a 256th of a level, and the conversion back to 8 bits at
 * the end of the pipeline (a shift by 8 bits, after the added half level) rounds it to the
 * nearest level: on photos, all but about 1 sample in 200,000 equal the float cubic's
 * (`resizeCubic`, MATLAB's bicubic), the rest within one level.
 */
function preciseInput(
  data: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
  out?: Uint16Array,
): Sharp {
  return sharp(toPreciseSamples(data, out), { raw: { width, height, channels }, limitInputPixels: false });
}

/**
 * 16-bit samples of whole photos enlarged at `exact` levels (finish.ts' in-memory path: photos
 * with alpha), kept between photos (scratch.ts: a 12 MP photo's fresh 72 MB cost 0.2 s of page
 * faults here): up to those of a photo enlarged x2 to a 64 MP output.
 */
const preciseScratch = new KeptScratch(RETAIN_MAX_BYTES / 2);

/** Below this many bytes of samples (a 1 MP photo) a fresh array costs little: not pooled. */
const PRECISE_SCRATCH_MIN_BYTES = 6_000_000;

/**
 * Run `use` on a pipeline of `data` for enlargeAffine: the 8-bit levels themselves (`fast`),
 * or preciseInput's samples (`exact`), in a kept buffer (large inputs) until `use` settles:
 * libvips reads them while the pipeline runs.
 */
async function withInput<T>(
  data: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
  levels: EnlargeLevels,
  use: (pipeline: Sharp) => Promise<T>,
): Promise<T> {
  if (levels === 'fast') return use(levelsInput(data, width, height, channels));
  const bytes = data.length * 2;
  if (bytes < PRECISE_SCRATCH_MIN_BYTES) return use(preciseInput(data, width, height, channels));
  return preciseScratch.use(bytes, (buffer) =>
    use(
      preciseInput(
        data,
        width,
        height,
        channels,
        new Uint16Array(buffer.buffer, buffer.byteOffset, data.length),
      ),
    ),
  );
}

/** Whether typed arrays store the low byte first (the four-at-a-time path of toPreciseSamples). */
const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * Level v -> v · 256 + 128, into `out` when given (else a fresh array), four levels per step
 * where both are 4-aligned and the machine little-endian (a 12 MP photo's 36 M samples: about
 * 25 ms here into a resident buffer, 130 one by one; a fresh array adds 0.2 s of page faults).
 */
export function toPreciseSamples(data: Uint8Array, out?: Uint16Array): Uint16Array {
  if (out && out.length !== data.length) {
    throw new Error(`internal: ${out.length} samples for ${data.length} levels`);
  }
  const samples = out ?? new Uint16Array(data.length);
  // Views of 32-bit words need 4-aligned starts: other inputs and outputs go one by one.
  const quads =
    LITTLE_ENDIAN && data.byteOffset % 4 === 0 && samples.byteOffset % 4 === 0 ? data.length >> 2 : 0;
  const levels = new Uint32Array(
    quads > 0 ? data.buffer : new ArrayBuffer(0),
    quads > 0 ? data.byteOffset : 0,
    quads,
  );
  const pairs = new Uint32Array(
    quads > 0 ? samples.buffer : new ArrayBuffer(0),
    quads > 0 ? samples.byteOffset : 0,
    quads * 2,
  );
  for (let j = 0; j < quads; j++) {
    const x = levels[j]!;
    pairs[2 * j] = (((x & 0xff) << 8) | ((x & 0xff00) << 16) | 0x00800080) >>> 0;
    pairs[2 * j + 1] = (((x >>> 8) & 0xff00) | ((x >>> 24) << 24) | 0x00800080) >>> 0;
  }
  for (let i = quads * 4; i < data.length; i++) samples[i] = (data[i]! << 8) | 128;
  return samples;
}

/** Raw 8-bit pixels as a sharp pipeline (enlargeAffine's `fast` levels). */
function levelsInput(data: Uint8Array, width: number, height: number, channels: 1 | 3): Sharp {
  return sharp(data, { raw: { width, height, channels }, limitInputPixels: false });
}

/**
 * The centre-aligned bicubic enlargement of a levelsInput or preciseInput pipeline (black
 * beyond its edges), at 8 bits at its output. One band leaves by extractChannel: libvips' conversion of
 * 16-bit grey to `b-w` does not shift (it rounds by its own steps, which the added half level
 * would bias), and without a conversion sharp writes three bands.
 */
function enlargeAffine(pipeline: Sharp, channels: 1 | 3, factor: number): Sharp {
  const enlarged = pipeline.affine([factor, 0, 0, factor], {
    interpolator: sharp.interpolators.bicubic,
    idx: 0.5,
    idy: 0.5,
    odx: -0.5,
    ody: -0.5,
  });
  return channels === 1 ? enlarged.extractChannel(0) : enlarged;
}

/** enlargeCentred the slow way: the whole input padded by replication, enlarged, cut back. */
async function enlargePadded(
  data: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
  factor: number,
  levels: EnlargeLevels,
): Promise<Uint8Array> {
  const pad = ENLARGE_PAD;
  // Three calls: within one pipeline sharp applies `extend` after `affine` and `extract` before it.
  const padded = await keepChannels(
    sharp(data, { raw: { width, height, channels }, limitInputPixels: false }).extend({
      top: pad,
      bottom: pad,
      left: pad,
      right: pad,
      extendWith: 'copy',
    }),
    channels,
  )
    .raw()
    .toBuffer();
  const input = levels === 'exact' ? preciseInput : levelsInput;
  const enlarged = await enlargeAffine(
    input(padded, width + 2 * pad, height + 2 * pad, channels),
    channels,
    factor,
  )
    .raw()
    .toBuffer({ resolveWithObject: true });
  const out = await keepChannels(
    sharp(enlarged.data, {
      raw: { width: enlarged.info.width, height: enlarged.info.height, channels },
      limitInputPixels: false,
    }).extract({ left: pad * factor, top: pad * factor, width: width * factor, height: height * factor }),
    channels,
  )
    .raw()
    .toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * A rectangle of an output photo whose pixels change: `image` replaces `enlarged`, the
 * streamed enlargement's own pixels there (enlargeWindow's at `fast` levels).
 */
export interface OutputWindow {
  left: number;
  top: number;
  enlarged: RgbImage;
  image: RgbImage;
}

/**
 * The rectangle (`left`, `top`, `width` x `height`, output pixels) of `image` enlarged by
 * `factor` with enlargeCentred at `levels`: the same bytes, from the input pixels under it and
 * a margin for the cubic's taps (replicated where the margin passes the photo's edge, as
 * enlargeCentred does).
 */
export async function enlargeWindow(
  image: RgbImage,
  factor: number,
  left: number,
  top: number,
  width: number,
  height: number,
  levels: EnlargeLevels = 'exact',
): Promise<RgbImage> {
  // Output pixel x reads input columns floor((x + 0.5) / factor - 0.5) - 1 to ... + 2; a margin
  // of 4 input pixels also keeps the crop's own replicated edge (edgeBand) away from the window.
  const margin = 4;
  const ix0 = Math.max(0, Math.floor(left / factor) - margin);
  const iy0 = Math.max(0, Math.floor(top / factor) - margin);
  const ix1 = Math.min(image.width, Math.ceil((left + width) / factor) + margin);
  const iy1 = Math.min(image.height, Math.ceil((top + height) / factor) + margin);
  const cw = ix1 - ix0;
  const ch = iy1 - iy0;
  const crop = cropRaw(image.data, image.width, 3, ix0, iy0, cw, ch);
  const enlarged = factor === 1 ? crop : await enlargeCentred(crop, cw, ch, 3, factor, levels);
  return {
    data: cropRaw(enlarged, cw * factor, 3, left - ix0 * factor, top - iy0 * factor, width, height),
    width,
    height,
  };
}

/** Difference images of the outputs being encoded (see withEnlargedWindows), kept between photos. */
const differenceScratch = new ZeroedScratch();

/**
 * Run `use` on a sharp pipeline of `image` enlarged by `factor` (enlargeCentred's pixels at
 * `fast` levels) with `windows` laid over it (they must not overlap), 3-band sRGB to encode:
 * the enlargement streams through libvips (on its threads, while the encoder compresses),
 * never held whole in memory. The pipeline is valid until `use` settles. `windows` may be a
 * promise: what does not need them starts at once. Each window's `enlarged` must be the
 * pipeline's own pixels there (enlargeWindow at `fast` levels); its `image` may hold anything,
 * the `exact` enlargement under the faces (paste.ts `faceWindows`) included.
 *
 * **How the windows get in.** sharp's only way to lay one image over another, `composite`,
 * adds an alpha band before the enlargement, and libvips' bicubic rounds 4-band pixels down
 * (half a level darker on average than the 3-band enlargement the rest of the stage uses). So
 * the windows, and the edge bands the plain affine darkens (see enlargeCentred), go in as a
 * bitwise exclusive-or with a full-size difference image, zero outside them: exact. The
 * difference image is a kept, resident buffer of zeros (scratch.ts: fresh pages cost a fault
 * each, about 0.3 s for a 48 MP output here); writing zeros back over the windows afterwards
 * leaves it zero for the next photo.
 *
 * @example
 * ```ts
 * const enlarged = await enlargeWindow(photo, 2, 400, 300, 200, 200, 'fast');
 * const image = blendFaceInto(await enlargeWindow(photo, 2, 400, 300, 200, 200)); // the face blended in
 * const windows = [{ left: 400, top: 300, enlarged, image }];
 * const png = await withEnlargedWindows(photo, 2, windows, (pipeline) => pipeline.png().toBuffer());
 * ```
 */
export async function withEnlargedWindows<T>(
  image: RgbImage,
  factor: number,
  windows: readonly OutputWindow[] | Promise<readonly OutputWindow[]>,
  use: (pipeline: Sharp) => Promise<T>,
): Promise<T> {
  const { width, height } = image;
  const outWidth = width * factor;
  const outHeight = height * factor;
  if (factor === 1) {
    const pipeline = sharp(image.data, { raw: { width, height, channels: 3 }, limitInputPixels: false });
    return withWindows(pipeline, outWidth, outHeight, await windows, use);
  }
  if (width < 2 * EDGE_STRIP || height < 2 * EDGE_STRIP) {
    // Small photos: enlarged whole the padded way (nothing to stream).
    const [data, faces] = await Promise.all([
      enlargePadded(image.data, width, height, 3, factor, 'fast'),
      windows,
    ]);
    const pipeline = sharp(data, {
      raw: { width: outWidth, height: outHeight, channels: 3 },
      limitInputPixels: false,
    });
    return withWindows(pipeline, outWidth, outHeight, faces, use);
  }
  // The edge strips (libvips, about 50 ms for a 12 MP photo) are enlarged while the caller's
  // windows are still being made (JavaScript).
  const [edges, faces] = await Promise.all([edgeWindows(image, factor), windows]);
  const enlarged = enlargeAffine(levelsInput(image.data, width, height, 3), 3, factor);
  return withWindows(enlarged, outWidth, outHeight, [...edges, ...faces], use);
}

/**
 * Run `use` on `pipeline` (`outWidth` x `outHeight`, 3 bands of 8 bits) with `windows` laid
 * over it by exclusive-or (see withEnlargedWindows).
 */
async function withWindows<T>(
  pipeline: Sharp,
  outWidth: number,
  outHeight: number,
  windows: readonly OutputWindow[],
  use: (pipeline: Sharp) => Promise<T>,
): Promise<T> {
  if (windows.length === 0) return use(pipeline);
  return differenceScratch.use(outWidth * outHeight * 3, async (difference) => {
    for (const window of windows) xorWindow(difference, outWidth, window);
    try {
      return await use(
        pipeline.boolean(difference, 'eor', {
          raw: { width: outWidth, height: outHeight, channels: 3 },
          // sharp reads an operand as any input (its declared type omits the option): without
          // it, outputs over sharp's default 268 MP fail although the configured limit allows them.
          ...{ limitInputPixels: false },
        }),
      );
    } finally {
      for (const window of windows) zeroWindow(difference, outWidth, window);
    }
  });
}

/**
 * Call `row` for each row of `window`: the row's first sample in the output (`at`), in the
 * window's images (`from`), and its length in samples.
 */
function forWindowRows(
  outWidth: number,
  window: OutputWindow,
  row: (at: number, from: number, length: number) => void,
): void {
  const length = window.image.width * 3;
  for (let y = 0; y < window.image.height; y++)
    row(((window.top + y) * outWidth + window.left) * 3, y * length, length);
}

/** difference ^= enlarged ^ image over a window (windows compose: see withEnlargedWindows). */
function xorWindow(difference: Uint8Array, outWidth: number, window: OutputWindow): void {
  const enlarged = window.enlarged.data;
  const image = window.image.data;
  forWindowRows(outWidth, window, (o, i, length) => {
    for (let x = 0; x < length; x++)
      difference[o + x] = difference[o + x]! ^ enlarged[i + x]! ^ image[i + x]!;
  });
}

/** difference = 0 over the window (restoring the kept buffer's zeros after use). */
function zeroWindow(difference: Uint8Array, outWidth: number, window: OutputWindow): void {
  forWindowRows(outWidth, window, (o, _, length) => difference.fill(0, o, o + length));
}

/**
 * The bands along the four edges of the output that the plain affine darkens (see
 * enlargeCentred): the affine's pixels there (`enlarged`, from the same affine of a strip of
 * the photo, which sees the same black beyond the edge) and the replicated enlargement's, both
 * at `fast` levels as the streamed pipeline.
 */
async function edgeWindows(image: RgbImage, factor: number): Promise<OutputWindow[]> {
  const { width, height } = image;
  const outWidth = width * factor;
  const outHeight = height * factor;
  const band = edgeBand(factor);
  // [output rectangle, input strip holding it] (the strip's inner side is past the band's taps).
  const rects: [[number, number, number, number], [number, number, number, number]][] = [
    [
      [0, 0, outWidth, band],
      [0, 0, width, EDGE_STRIP],
    ],
    [
      [0, outHeight - band, outWidth, band],
      [0, height - EDGE_STRIP, width, EDGE_STRIP],
    ],
    [
      [0, band, band, outHeight - 2 * band],
      [0, 0, EDGE_STRIP, height],
    ],
    [
      [outWidth - band, band, band, outHeight - 2 * band],
      [width - EDGE_STRIP, 0, EDGE_STRIP, height],
    ],
  ];
  return Promise.all(
    rects.map(async ([[left, top, w, h], [sx, sy, sw, sh]]) => {
      const strip = cropRaw(image.data, width, 3, sx, sy, sw, sh);
      const dark = await enlargeAffine(levelsInput(strip, sw, sh, 3), 3, factor)
        .raw()
        .toBuffer();
      return {
        left,
        top,
        enlarged: {
          data: cropRaw(dark, sw * factor, 3, left - sx * factor, top - sy * factor, w, h),
          width: w,
          height: h,
        },
        image: await enlargeWindow(image, factor, left, top, w, h, 'fast'),
      };
    }),
  );
}
