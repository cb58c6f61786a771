/**
 * The engine's building blocks without the `Dr2eEngine` orchestrator: errors, image I/O, face
 * framing and where the model files live. The photo stage imports this module (and only this
 * one) from the engine, because `Dr2eEngine.restoreImages` drives the photo stage: importing
 * `index.ts` from there would close a cycle engine -> photo -> engine. Everyone else imports
 * `index.ts`, which re-exports all of this.
 */
export * from './errors.js';
export * from './framing/index.js';
export * from './image/index.js';
export { defaultModelManifest, modelsDir, packageRoot } from './model/default-model.js';
// The photo detector's noise gate (photo/denoised-pass.ts) reads a photo's noise as `auto` reads a face's.
export { estimateCoarseNoise } from './quality/estimate.js';
export { LUMA_WEIGHTS, chroma, luma } from './quality/planes.js';
// The background denoiser reads whether a photo is itself an enlargement as `auto` reads a face.
export { effectiveScale } from './quality/effective-scale.js';
// Worker threads on a module, compiled or run as TypeScript (the photo detector's and the worker's).
export { startModuleThread } from './threads.js';
