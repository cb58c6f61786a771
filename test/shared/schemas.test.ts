import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/src/errors.js';
import {
  CreateJobRequestSchema,
  IdempotencyKeySchema,
  JobParamsSchema,
  JobQueueMessageSchema,
  parseWith,
} from '../../shared/src/schemas.js';
import { sampleJob } from './helpers/jobs.js';

function issuesOf(value: unknown): { path: (string | number)[]; message: string }[] {
  try {
    parseWith(CreateJobRequestSchema, value);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues;
  }
  throw new Error('expected the request to be refused');
}

describe('CreateJobRequestSchema', () => {
  it('fills defaults for an empty request (model default schedule)', () => {
    expect(parseWith(CreateJobRequestSchema, {})).toEqual({
      steps: 100,
      upscale: 2,
      aligned: false,
      maxFaces: 20,
      background: 'denoise',
      output: { format: 'png', keepDr2: false, faces: false },
    });
  });

  it.each([
    [{ preset: 'severe' }],
    [{ n: 1, tau: 0 }],
    [{ n: 64, tau: 35, omega: 99, steps: 100, seed: 0xffffffff }],
    [{ n: 8, tau: 35, output: { format: 'webp', keepDr2: true } }],
    [{ fidelity: 0.2 }],
    [{ preset: 'auto', fidelity: 1 }],
    [
      {
        preset: 'mild',
        webhook: { url: 'https://hooks.example/x', events: ['job.succeeded', 'job.failed'] },
      },
    ],
  ])('accepts %j', (request) => {
    expect(() => parseWith(CreateJobRequestSchema, request)).not.toThrow();
  });

  it('subscribes a webhook to every event by default', () => {
    const parsed = parseWith(CreateJobRequestSchema, { webhook: { url: 'https://hooks.example/x' } });
    expect(parsed.webhook?.events).toEqual(['job.succeeded', 'job.failed', 'job.canceled']);
  });

  it.each([
    [{ n: 3, tau: 10 }, ['n']],
    [{ n: 128, tau: 10 }, ['n']],
    [{ n: 8 }, ['tau']],
    [{ tau: 8 }, ['n']],
    [{ n: 8, tau: 40, omega: 40 }, ['omega']],
    [{ n: 8, tau: -1 }, ['tau']],
    [{ n: 8, tau: 100 }, ['tau']],
    [{ n: 8, tau: 10, omega: 50, steps: 50 }, ['omega']],
    [{ preset: 'medium', n: 8, tau: 35 }, ['preset']],
    [{ preset: 'extreme' }, ['preset']],
    // fidelity moves auto's choice: beside a fixed schedule it would do nothing
    [{ preset: 'medium', fidelity: 0.2 }, ['fidelity']],
    [{ n: 4, tau: 22, fidelity: 0.2 }, ['fidelity']],
    [{ fidelity: 1.5 }, ['fidelity']],
    [{ steps: 1 }, ['steps']],
    [{ steps: 1001 }, ['steps']],
    [{ seed: 1.5 }, ['seed']],
    [{ seed: -1 }, ['seed']],
    [{ output: { format: 'gif' } }, ['output', 'format']],
    [{ webhook: { url: 'ftp://x.example/' } }, ['webhook', 'url']],
    [{ webhook: { url: 'https://x.example/', events: [] } }, ['webhook', 'events']],
    [{ webhook: { url: 'https://x.example/', events: ['job.started'] } }, ['webhook', 'events', 0]],
    [{ webhook: { url: 'https://x.example/', events: ['job.failed', 'job.failed'] } }, ['webhook', 'events']],
    [{ Tau: 3 }, []],
  ])('refuses %j at path %j', (request, path) => {
    const issues = issuesOf(request);
    expect(issues.map((issue) => issue.path)).toContainEqual(path);
  });

  it('still reads a stored job that asked for fidelity beside a fixed preset (refused only at creation)', () => {
    const stored = { ...sampleJob().params, preset: 'medium', fidelity: 0.2 };
    expect(parseWith(JobParamsSchema, stored)).toMatchObject({ preset: 'medium', fidelity: 0.2 });
    expect(() => parseWith(CreateJobRequestSchema, { preset: 'medium', fidelity: 0.2 })).toThrow(/fidelity/);
  });

  it('names the first problem in the error message', () => {
    expect(() => parseWith(CreateJobRequestSchema, { n: 3, tau: 1 })).toThrow(
      /at n: n must be a power of two/,
    );
  });
});

describe('other schemas', () => {
  it('checks queue messages', () => {
    const job = sampleJob();
    const message = { jobId: job.id, tenantId: job.tenantId, batchKey: 'k' };
    expect(JobQueueMessageSchema.parse(message)).toEqual(message);
    expect(JobQueueMessageSchema.safeParse({ ...message, jobId: 'job_123' }).success).toBe(false);
  });

  it('accepts printable idempotency keys up to 255 characters', () => {
    expect(IdempotencyKeySchema.safeParse('order-42/retry_1').success).toBe(true);
    expect(IdempotencyKeySchema.safeParse('a'.repeat(256)).success).toBe(false);
    expect(IdempotencyKeySchema.safeParse('has space').success).toBe(false);
    expect(IdempotencyKeySchema.safeParse('').success).toBe(false);
  });
});
