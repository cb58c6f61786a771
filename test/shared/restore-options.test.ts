import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '../../functions/src/openapi.js';
import { DEFAULT_IMAGE_GEOMETRY_LIMITS } from '../../functions/src/services/uploads.js';
import { DEFAULT_IMAGE_LIMITS } from '../../gpu-task/src/engine/image/index.js';
import { DEVICES as ENGINE_DEVICES } from '../../gpu-task/src/engine/model/providers.js';
import {
  DEFAULT_DR2_PRESET,
  DEFAULT_DR2_STEPS,
  DR2_PRESETS,
  DR2_PRESET_NAMES,
} from '../../gpu-task/src/engine/sampler/dr2-params.js';
import {
  DEFAULT_MAX_FACES,
  DEFAULT_UPSCALE,
  UPSCALE_FACTORS as PHOTO_UPSCALE_FACTORS,
} from '../../gpu-task/src/photo/index.js';
import { loadRuntimeConfig, RuntimeConfigSchema } from '../../shared/runtime/config.js';
import {
  CreateJobRequestSchema,
  DEVICES,
  FIXED_PRESETS,
  INPUT_LIMITS,
  OUTPUT_FORMATS,
  PRESETS,
  RESTORE_DEFAULTS,
  UPSCALE_FACTORS,
} from '../../shared/src/index.js';

interface JsonSchema {
  enum?: unknown[];
  default?: unknown;
  description?: string;
  properties?: Record<string, JsonSchema>;
  anyOf?: JsonSchema[];
  $ref?: string;
}

describe('one source for presets, devices and defaults', () => {
  it('is what a create request defaults to', () => {
    const request = CreateJobRequestSchema.parse({});
    expect(request).toMatchObject({
      steps: RESTORE_DEFAULTS.steps,
      upscale: RESTORE_DEFAULTS.upscale,
      aligned: RESTORE_DEFAULTS.aligned,
      maxFaces: RESTORE_DEFAULTS.maxFaces,
      output: { format: RESTORE_DEFAULTS.format },
    });
    expect(request.preset).toBeUndefined(); // the engine applies the model's default, else RESTORE_DEFAULTS.preset
  });

  it('is what the OpenAPI document offers', () => {
    // Prepare
    const doc = buildOpenApiDocument({ version: 'test', serverUrl: 'http://localhost' }) as unknown as {
      components: { schemas: Record<string, JsonSchema> };
    };
    const schemas = doc.components.schemas;
    const request = schemas.CreateJobRequest!;
    const resolve = (schema: JsonSchema | undefined): JsonSchema | undefined =>
      schema?.$ref ? schemas[schema.$ref.replace('#/components/schemas/', '')] : schema;
    const output = resolve(request.properties!.output);
    // Assess
    expect(request.properties!.preset!.enum).toEqual([...PRESETS]);
    expect(request.properties!.preset!.description).toContain(FIXED_PRESETS.join('`, `'));
    expect(request.properties!.fidelity!.description).toContain(String(RESTORE_DEFAULTS.fidelity));
    expect(request.properties!.steps!.default).toBe(RESTORE_DEFAULTS.steps);
    expect(request.properties!.maxFaces!.default).toBe(RESTORE_DEFAULTS.maxFaces);
    expect(request.properties!.upscale!.default).toBe(RESTORE_DEFAULTS.upscale);
    expect(request.properties!.upscale!.enum).toEqual([...UPSCALE_FACTORS]);
    expect(output?.properties?.format?.enum).toEqual([...OUTPUT_FORMATS]);
    expect(output?.properties?.format?.default).toBe(RESTORE_DEFAULTS.format);
  });

  it('is what the engine, the photo stage and the runtime configuration use', () => {
    expect(DR2_PRESET_NAMES).toBe(PRESETS);
    expect(Object.keys(DR2_PRESETS)).toEqual([...FIXED_PRESETS]);
    expect(DEFAULT_DR2_PRESET).toBe(RESTORE_DEFAULTS.preset);
    expect(DEFAULT_DR2_STEPS).toBe(RESTORE_DEFAULTS.steps);
    expect(ENGINE_DEVICES).toBe(DEVICES);
    expect([DEFAULT_UPSCALE, DEFAULT_MAX_FACES, PHOTO_UPSCALE_FACTORS]).toEqual([
      RESTORE_DEFAULTS.upscale,
      RESTORE_DEFAULTS.maxFaces,
      UPSCALE_FACTORS,
    ]);
    expect(DEFAULT_IMAGE_LIMITS).toEqual(INPUT_LIMITS);
    expect(DEFAULT_IMAGE_GEOMETRY_LIMITS).toMatchObject({
      minSide: INPUT_LIMITS.minSide,
      maxPixels: INPUT_LIMITS.maxInputPixels,
    });
    const config = loadRuntimeConfig({});
    expect(config.DR2E_DEVICE).toBe(RESTORE_DEFAULTS.device);
    expect(config.DR2E_UPLOAD_MAX_BYTES).toBe(INPUT_LIMITS.maxFileBytes);
    expect(RuntimeConfigSchema.shape.DR2E_DEVICE.unwrap().options).toEqual([...DEVICES]);
  });
});
