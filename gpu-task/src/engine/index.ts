/**
 * The DR2E engine, a library free of HTTP and AWS: `Dr2eEngine` (load a model pipeline, restore
 * aligned faces or whole photos), the DR2 parameters and presets, automatic quality settings,
 * seeded randomness, image I/O, face framing, execution providers and the reference-fixture check.
 * Code outside `gpu-task/src/engine/` imports this module, never the files beside it (the photo
 * stage imports `core.ts`, see there).
 *
 * @example
 * ```ts
 * import { Dr2eEngine } from '../engine/index.js';
 *
 * const engine = await Dr2eEngine.load(); // the embedded default model
 * const [result] = await engine.restoreImages([{ id: 'group.jpg', bytes }], { upscale: 2 });
 * if (result?.ok) console.log(result.faces.length, result.warnings);
 * ```
 */
export * from './core.js';
export * from './dr2e-engine.js';
export type { RestoreProgress, RestoreProgressListener } from './call-progress.js';
export * from './quality/index.js';
export * from './random/index.js';
export {
  type DenoiserManifest,
  DenoiserManifestSchema,
  type EnhancerManifest,
  EnhancerManifestSchema,
  type License,
  type ModelManifest,
  type PipelineManifest,
  PipelineManifestSchema,
} from './model/manifest.js';
export { type LoadModelOptions, OnnxDenoiser } from './model/onnx-denoiser.js';
export { OnnxEnhancer } from './model/onnx-enhancer.js';
export { loadFixtureDenoiser } from './model/fixture-denoiser.js';
export { type Device, deviceHint, DEVICES, isDevice, resolveExecutionProviders } from './model/providers.js';
export {
  DEFAULT_DR2_PRESET,
  DEFAULT_DR2_STEPS,
  DR2_PRESET_NAMES,
  DR2_PRESETS,
  type Dr2Params,
  type Dr2ParamsRequest,
  type Dr2PresetName,
  type FixedPresetName,
  resolveDr2Params,
  validateDr2Params,
} from './sampler/dr2-params.js';
export { resizeBicubic } from './resize/bicubic.js';
export {
  type FixtureVerification,
  verifyFixture,
  type VerifyFixtureOptions,
} from './fixtures/verify-fixture.js';
