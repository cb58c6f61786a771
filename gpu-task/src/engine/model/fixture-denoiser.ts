/**
 * Loads the small ONNX denoiser recorded in a reference trace fixture through the same
 * session wrapper and contract checks as a production model, so `dr2e verify-trace` proves
 * the code path users run, not a test double.
 */
import type { FixtureDenoiserRequest } from '../fixtures/verify-fixture.js';
import type { DenoiserManifest } from './manifest.js';
import { OnnxDenoiser } from './onnx-denoiser.js';
import { createInferenceSession, type SessionConfig } from './onnx-session.js';

/** Build a {@link OnnxDenoiser} for a fixture's `denoiser.onnx` (inputs image then timestep). */
export async function loadFixtureDenoiser(
  onnxPath: string,
  request: FixtureDenoiserRequest,
  config: SessionConfig = {},
): Promise<OnnxDenoiser> {
  const [image, timestep] = request.inputNames;
  const manifest: DenoiserManifest = {
    schemaVersion: 1,
    role: 'denoiser',
    name: `fixture ${onnxPath}`,
    file: onnxPath,
    layout: 'NCHW',
    colorOrder: 'RGB',
    valueRange: [-1, 1],
    resolution: request.resolution,
    io: { image: image ?? 'x', timestep: timestep ?? 't', output: request.outputName },
    timestepType: 'int64',
    channels: { input: 3, output: request.outputChannels },
    variance: request.outputChannels === 6 ? 'learned_range' : 'fixed_small',
    schedule: { betaSchedule: 'linear', numTimesteps: 1000 },
    license: { name: 'test fixture', commercialUse: false },
    provenance: { source: 'reference trace fixture' },
  };
  const session = await createInferenceSession(onnxPath, config);
  return OnnxDenoiser.fromSession(manifest, session, false);
}
