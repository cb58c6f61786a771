/**
 * What a restoration accepts and what it runs with when nobody chooses: the preset names, the
 * devices, the output formats and upscale factors, the input limits and the defaults, each
 * defined once.
 *
 * Every user derives from here: the API's zod schemas (schemas.ts, face-schemas.ts), and through
 * them the OpenAPI document and the playground's form; the engine and the photo stage; the
 * CLI's choices, defaults and help; the worker; the runtime configuration (`DR2E_DEVICE`,
 * `DR2E_UPLOAD_MAX_BYTES`). They live in shared/ because every one of those may import shared
 * and shared imports none of them.
 *
 * @example
 * ```ts
 * z.enum(PRESETS).default(RESTORE_DEFAULTS.preset); // the API's `preset`
 * new Option('--provider <device>').choices([...DEVICES]).default(RESTORE_DEFAULTS.device); // the CLI's
 * ```
 */

/**
 * The fixed DR2 presets, from the least to the most degradation removed; the engine maps each to
 * (N, tau, omega) at the model's resolution (engine sampler/dr2-params).
 */
export const FIXED_PRESETS = ['mild', 'medium', 'severe'] as const;
export type FixedPreset = (typeof FIXED_PRESETS)[number];

/** The preset that chooses per face from its estimated degradation (engine/quality). */
export const AUTO_PRESET = 'auto';

/** Every preset name a request may give. */
export const PRESETS = [AUTO_PRESET, ...FIXED_PRESETS] as const;
export type Preset = (typeof PRESETS)[number];

/** Where the models run (onnxruntime execution providers; engine model/providers maps them). */
export const DEVICES = ['cpu', 'cuda', 'webgpu'] as const;
export type Device = (typeof DEVICES)[number];

/** Encodings of the restored image. */
export const OUTPUT_FORMATS = ['png', 'jpeg', 'webp'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** MIME type of each output format. */
export const OUTPUT_CONTENT_TYPES: Readonly<Record<OutputFormat, string>> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
};

/**
 * The longest side each output format can hold, px: WebP's bitstream stores 14-bit sides, JPEG's
 * 16-bit ones; PNG is bounded by libvips' largest coordinate (10 million), far beyond the pixel
 * limit. A whole photo's upscale is lowered until its output fits (warning `upscale_capped`).
 */
export const MAX_OUTPUT_SIDE: Readonly<Record<OutputFormat, number>> = {
  png: 10_000_000,
  jpeg: 65_535,
  webp: 16_383,
};

/**
 * The output formats that hold a picture `side` px long, as a refusal names them.
 *
 * @example outputFormatsFitting(17_000) // 'png or jpeg'
 */
export function outputFormatsFitting(side: number): string {
  return OUTPUT_FORMATS.filter((format) => MAX_OUTPUT_SIDE[format] >= side).join(' or ');
}

/** Output scale factors: the restored photo is the input's size times this. */
export const UPSCALE_FACTORS = [1, 2, 4] as const;
export type UpscaleFactor = (typeof UPSCALE_FACTORS)[number];

/**
 * What a whole photo's background (everything but its restored faces) gets: `denoise` takes a
 * noisy photo's noise and compression speckle out around the faces (a photo that reads clean
 * is only enlarged; faces left as they were keep their own pixels), `keep` only enlarges it.
 */
export const BACKGROUND_MODES = ['denoise', 'keep'] as const;
export type BackgroundMode = (typeof BACKGROUND_MODES)[number];

/**
 * What a restoration runs with when the request (or the command line) does not say.
 *
 * - `preset`: `auto` chooses per face; `steps`: the paper's "every 10 of 1000" respacing.
 * - `fidelity`: with `auto`, 0.5 is the automatic choice (higher keeps more of the input).
 * - `upscale`, `aligned`, `maxFaces`: a whole photo, doubled, its 20 largest faces restored.
 * - `background`: a noisy photo's background is denoised (BACKGROUND_MODES).
 * - `format`: PNG, lossless; `device`: the CPU, present everywhere.
 */
export const RESTORE_DEFAULTS = Object.freeze({
  preset: AUTO_PRESET as Preset,
  steps: 100,
  fidelity: 0.5,
  upscale: 2 as UpscaleFactor,
  aligned: false,
  maxFaces: 20,
  background: 'denoise' as BackgroundMode,
  format: 'png' as OutputFormat,
  device: 'cpu' as Device,
});

/** Photo-mode defaults: what a job without these parameters (or stored before them) runs with. */
export const PHOTO_DEFAULTS = Object.freeze({
  upscale: RESTORE_DEFAULTS.upscale,
  aligned: RESTORE_DEFAULTS.aligned,
  maxFaces: RESTORE_DEFAULTS.maxFaces,
  background: RESTORE_DEFAULTS.background,
});

/** Default number of respaced diffusion steps (the paper's "every 10 of 1000"). */
export const DEFAULT_STEPS = RESTORE_DEFAULTS.steps;
/** Full diffusion length T; a respaced schedule cannot have more steps. */
export const MAX_STEPS = 1000;
/** Seeds are unsigned 32-bit integers. */
export const MAX_SEED = 0xffff_ffff;
/** Most faces one photo may ask to restore (each face is one image in the sampler batch). */
export const MAX_FACES_LIMIT = 100;
/** Largest `minFace` accepted, in input pixels. */
export const MAX_MIN_FACE = 4096;

/** 1 MiB in bytes. */
const MIB = 1024 * 1024;

/**
 * What an input image may be, checked before any pixel is decoded (the engine), and before a GPU
 * sees the job (the dispatcher reads the header; the signed upload form caps the bytes).
 *
 * - `maxFileBytes` = 25 MiB: a 48-megapixel phone photo is 10-20 MB as high-quality JPEG and
 *   3-8 MB as HEIC, so 25 MiB accepts every camera original while keeping one upload's buffer small.
 * - `maxInputPixels` = 50 megapixels: covers 48 MP phone sensors (8064 x 6048 = 48.8 MP) and
 *   bounds a decode to about 150 MB of 8-bit RGB (200 MB RGBA plus a ~400 MB WebAssembly heap
 *   for HEIC). It also defeats decompression bombs: a 20000 x 20000 PNG compresses to ~50 KB.
 * - `minSide` = 32 px: DR2 is evaluated on faces down-sampled up to 16x from 512 px, i.e. 32 px;
 *   below that there is too little signal to restore and the input is more likely a mistake.
 */
export const INPUT_LIMITS = Object.freeze({
  maxFileBytes: 25 * MIB,
  maxInputPixels: 50_000_000,
  minSide: 32,
});

/**
 * Longest side / shorter side of an `aligned` face crop accepted by default (the dispatcher
 * refuses longer strips; the deployment may change it, `DR2E_MAX_ASPECT_RATIO`). An aligned crop
 * is restored as a square: a 16:1 strip padded to a square holds its face in a sixteenth of the
 * model's input, which no client wants and would still be billed. 4:1 passes every photo format
 * (3:2, 4:3, 16:9, 21:9). A whole photo has no such limit: its faces are found wherever they are
 * and the photo comes back at its own shape.
 */
export const DEFAULT_MAX_ASPECT_RATIO = 4;
