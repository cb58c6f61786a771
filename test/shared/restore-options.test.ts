import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  DEFAULT_UPLOAD_MAX_BYTES,
  loadRuntimeConfig,
  RuntimeConfigSchema,
} from '../../shared/runtime/index.js';
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
}

describe('restore options: one source for presets, devices and defaults', () => {
  it('are what a create request defaults to', () => {
    const request = CreateJobRequestSchema.parse({});
    expect(request).toMatchObject({
      steps: RESTORE_DEFAULTS.steps,
      upscale: RESTORE_DEFAULTS.upscale,
      aligned: RESTORE_DEFAULTS.aligned,
      maxFaces: RESTORE_DEFAULTS.maxFaces,
      output: { format: RESTORE_DEFAULTS.format },
    });
    // No preset stored: the engine applies the model's default, else RESTORE_DEFAULTS.preset.
    expect(request.preset).toBeUndefined();
  });

  it('are what the JSON Schema of a create request (and so the OpenAPI document) offers', () => {
    // Act: the OpenAPI document is built from the same conversion (functions/src/openapi.ts).
    const schema = z.toJSONSchema(CreateJobRequestSchema, {
      io: 'input',
      unrepresentable: 'any',
    }) as JsonSchema;
    const fields = schema.properties!;
    // Assess
    expect(fields.preset!.enum).toEqual([...PRESETS]);
    expect(fields.preset!.description).toContain(FIXED_PRESETS.join('`, `'));
    expect(fields.fidelity!.description).toContain(`${RESTORE_DEFAULTS.fidelity} (the default)`);
    expect(fields.steps!.default).toBe(RESTORE_DEFAULTS.steps);
    expect(fields.maxFaces!.default).toBe(RESTORE_DEFAULTS.maxFaces);
    expect(fields.upscale!.default).toBe(RESTORE_DEFAULTS.upscale);
    expect(fields.upscale!.enum).toEqual([...UPSCALE_FACTORS]);
    expect(fields.output!.properties!.format!.enum).toEqual([...OUTPUT_FORMATS]);
    expect(fields.output!.properties!.format!.default).toBe(RESTORE_DEFAULTS.format);
  });

  it('are what the runtime configuration accepts and defaults to', () => {
    const config = loadRuntimeConfig({});
    expect(config.DR2E_DEVICE).toBe(RESTORE_DEFAULTS.device);
    expect(config.DR2E_UPLOAD_MAX_BYTES).toBe(INPUT_LIMITS.maxFileBytes);
    expect(DEFAULT_UPLOAD_MAX_BYTES).toBe(INPUT_LIMITS.maxFileBytes);
    expect(RuntimeConfigSchema.shape.DR2E_DEVICE.unwrap().options).toEqual([...DEVICES]);
    expect(() => loadRuntimeConfig({ DR2E_DEVICE: 'tpu' })).toThrow(/DR2E_DEVICE/);
  });
});
