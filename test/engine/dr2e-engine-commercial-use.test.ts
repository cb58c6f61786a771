/**
 * A deployment that declares commercial use (Dr2eEngineOptions.commercialUse) is held to it by
 * the engine: weights whose manifest says `commercialUse: false` are refused at load, and the face
 * detector whole photos run through is loaded without RetinaFace, whose weights are
 * non-commercial. The tiny random-weight pair is MIT; the embedded default is UTKFace's.
 */
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  Dr2eEngine,
  NonCommercialWeightsError,
  OnnxDenoiser,
  OnnxEnhancer,
} from '../../gpu-task/src/engine/index.js';
import { RetinaFaceModel } from '../../gpu-task/src/photo/index.js';
import { tinyModelDir } from './helpers/fixture-paths.js';

const TINY_MODEL = path.join(tinyModelDir, 'pipeline.json');

afterEach(() => {
  vi.restoreAllMocks();
});

describe('Dr2eEngine with commercialUse', () => {
  it('refuses non-commercial weights at load, naming their licence', async () => {
    // Act
    const refused = await Dr2eEngine.load({ device: 'cpu', commercialUse: true }).then(
      async (engine) => {
        await engine.dispose();
        return null;
      },
      (error: unknown) => error,
    );
    // Assess
    expect(refused).toBeInstanceOf(NonCommercialWeightsError);
    expect(refused).toMatchObject({ code: 'non_commercial_weights', retryable: false });
    expect((refused as Error).message).toMatch(/UTKFace: non-commercial research use only/);
  });

  it('refuses them from their manifests, before loading a network', async () => {
    // Prepare
    const denoiserLoads = vi.spyOn(OnnxDenoiser, 'load');
    const enhancerLoads = vi.spyOn(OnnxEnhancer, 'load');
    // Act
    const refused = Dr2eEngine.load({ device: 'cpu', commercialUse: true });
    // Assess
    await expect(refused).rejects.toThrow(NonCommercialWeightsError);
    expect(denoiserLoads).not.toHaveBeenCalled();
    expect(enhancerLoads).not.toHaveBeenCalled();
  });

  it.each([
    { commercialUse: true, retinaFace: 'without', retinaFaceLoads: 0 },
    { commercialUse: false, retinaFace: 'with', retinaFaceLoads: 1 },
  ])(
    'loads the face detector $retinaFace RetinaFace when commercialUse is $commercialUse, and reports the licences of what it loads',
    async ({ commercialUse, retinaFaceLoads }) => {
      // Prepare
      const load = vi.spyOn(RetinaFaceModel, 'load');
      const engine = await Dr2eEngine.load({ model: TINY_MODEL, device: 'cpu', commercialUse });
      try {
        // Act
        await engine.loadFaceDetector();
        // Assess
        expect(load).toHaveBeenCalledTimes(retinaFaceLoads);
        expect(engine.licenses.every((l) => l.commercialUse)).toBe(true);
        const nonCommercial = engine.detectorLicenses.filter((l) => !l.commercialUse).map((l) => l.name);
        expect(nonCommercial).toEqual(
          commercialUse
            ? []
            : ["RetinaFace (insightface's retinaface_mnet025_v2): non-commercial research use only"],
        );
      } finally {
        await engine.dispose();
      }
    },
  );
});
