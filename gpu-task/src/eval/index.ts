/**
 * `dr2e eval`: measured quality of the engine on held-out faces (degradation splits, PSNR/SSIM,
 * identity by eigenfaces, reports and figures). Only entry points (the CLI, scripts) and tests
 * import this module; production code never does.
 */
export * from './auto.js';
export * from './clean-faces.js';
export * from './degrade.js';
export * from './detector-template.js';
export * from './eigenfaces.js';
export * from './evaluate.js';
export * from './metrics.js';
export * from './photo-scenes.js';
export * from './photos.js';
export * from './photos-report.js';
export * from './planes.js';
export * from './real-photo-scenes.js';
export * from './recognizer.js';
export * from './report.js';
export * from './visuals.js';
