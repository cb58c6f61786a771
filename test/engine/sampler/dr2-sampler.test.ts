import { describe, expect, it } from 'vitest';
import {
  CanceledError,
  FixtureError,
  InferenceError,
  InvalidParametersError,
  ModelContractError,
} from '../../../gpu-task/src/engine/errors.js';
import {
  RecordedNoiseSource,
  SeededNormalSource,
  type NoiseSource,
} from '../../../gpu-task/src/engine/random/noise-source.js';
import type { Denoiser } from '../../../gpu-task/src/engine/sampler/denoiser.js';
import { Dr2Sampler, type Dr2StepProgress } from '../../../gpu-task/src/engine/sampler/dr2-sampler.js';
import {
  RespacedSchedule,
  type VarianceType,
} from '../../../gpu-task/src/engine/schedule/respaced-schedule.js';

const SIZE = 16;
const IMAGE = 3 * SIZE * SIZE;
const schedule = RespacedSchedule.get({ betaSchedule: 'linear', numTimesteps: 1000, steps: 20 });

interface RecordedCall {
  x: Float32Array;
  timesteps: number[];
  batch: number;
}

/**
 * A deterministic pure-JS denoiser: each image's output depends only on that image and its
 * timestep, like a real network evaluated per sample.
 */
function jsDenoiser(outputChannels: 3 | 6, calls: RecordedCall[] = []): Denoiser {
  return {
    resolution: SIZE,
    outputChannels,
    predict(x, timesteps, batch) {
      calls.push({ x: x.slice(), timesteps: [...timesteps], batch });
      const out = new Float32Array(batch * outputChannels * SIZE * SIZE);
      const pixels = SIZE * SIZE;
      for (let b = 0; b < batch; b++) {
        const t = timesteps[b] as number;
        for (let c = 0; c < 3; c++) {
          for (let p = 0; p < pixels; p++) {
            const value = x[(b * 3 + c) * pixels + p] as number;
            const neighbour = x[(b * 3 + c) * pixels + ((p + 1) % pixels)] as number;
            out[(b * outputChannels + c) * pixels + p] = Math.tanh(0.6 * value + 0.2 * neighbour + t / 2000);
            if (outputChannels === 6) out[(b * outputChannels + 3 + c) * pixels + p] = Math.tanh(0.5 * value);
          }
        }
      }
      return Promise.resolve(out);
    },
  };
}

function degradedInput(batch: number, seed = 3): Float32Array {
  const y = new Float32Array(batch * IMAGE);
  new SeededNormalSource(seed).fill(y);
  return y.map((v) => Math.max(-1, Math.min(1, 0.4 * v)));
}

function sampler(denoiser: Denoiser, variance: VarianceType = 'learned_range'): Dr2Sampler {
  return new Dr2Sampler({ denoiser, schedule, variance });
}

const params = { n: 4, tau: 3, omega: 12 };

describe('Dr2Sampler', () => {
  it('restores a batch with one model call per step at the mapped timesteps', async () => {
    // Prepare
    const calls: RecordedCall[] = [];
    const y = degradedInput(2);

    // Act
    const result = await sampler(jsDenoiser(6, calls)).sample({
      y,
      batch: 2,
      params,
      noise: [new SeededNormalSource(1), new SeededNormalSource(2)],
    });

    // Assess
    expect(calls).toHaveLength(params.omega - params.tau + 1);
    expect(calls.map((call) => call.batch)).toEqual(calls.map(() => 2));
    expect(calls.map((call) => call.timesteps)).toEqual(
      Array.from({ length: calls.length }, (_, j) => {
        const t = schedule.timestepMap[params.omega - j] as number;
        return [t, t];
      }),
    );
    expect(result.x0).toHaveLength(2 * IMAGE);
    expect(result.x0.every((v) => v >= -1 && v <= 1)).toBe(true);
    expect(result.timings.steps).toBe(calls.length);
  });

  it('gives each image the same result whatever it is batched with', async () => {
    // Prepare
    const y = degradedInput(2);
    const engine = sampler(jsDenoiser(6));

    // Act
    const batched = await engine.sample({
      y,
      batch: 2,
      params,
      noise: [new SeededNormalSource(11), new SeededNormalSource(22)],
    });
    const first = await engine.sample({
      y: y.slice(0, IMAGE),
      batch: 1,
      params,
      noise: [new SeededNormalSource(11)],
    });
    const second = await engine.sample({
      y: y.slice(IMAGE),
      batch: 1,
      params,
      noise: [new SeededNormalSource(22)],
    });

    // Assess
    expect(batched.x0.slice(0, IMAGE)).toEqual(first.x0);
    expect(batched.x0.slice(IMAGE)).toEqual(second.x0);
  });

  it('is deterministic per seed and differs between seeds', async () => {
    const y = degradedInput(1);
    const engine = sampler(jsDenoiser(6));
    const run = (seed: number) =>
      engine.sample({ y, batch: 1, params, noise: [new SeededNormalSource(seed)] });

    const [a, again, other] = [await run(5), await run(5), await run(6)];

    expect(Buffer.from(again.x0.buffer)).toEqual(Buffer.from(a.x0.buffer));
    expect(other.x0).not.toEqual(a.x0);
  });

  it('consumes noise in the reference order (initial eps; then posterior draw, then y draw per step)', async () => {
    // Prepare: with N = 1 every model input after the first is y_{i-1} itself, made from the
    // y draw of the step, i.e. draws 0, 2, 4, ... of the stream.
    const calls: RecordedCall[] = [];
    const y = degradedInput(1);
    const draws = new Float32Array(IMAGE * 7);
    new SeededNormalSource(8).fill(draws);

    // Act
    await sampler(jsDenoiser(6, calls)).sample({
      y,
      batch: 1,
      params: { n: 1, tau: 7, omega: 10 },
      noise: [new SeededNormalSource(8)],
    });

    // Assess
    calls.forEach((call, j) => {
      const i = 10 - j;
      const eps = draws.subarray(2 * j * IMAGE, (2 * j + 1) * IMAGE);
      const a = schedule.sqrtAlphasCumprod[i] as number;
      const s = schedule.sqrtOneMinusAlphasCumprod[i] as number;
      for (const p of [0, 100, IMAGE - 1]) {
        expect(call.x[p]).toBeCloseTo(a * (y[p] as number) + s * (eps[p] as number), 6);
      }
    });
  });

  it('reports progress after every step and awaits async callbacks', async () => {
    // Prepare
    const events: string[] = [];
    const progress: Dr2StepProgress[] = [];
    const calls: RecordedCall[] = [];
    const denoiser = jsDenoiser(6, calls);
    const counting: Denoiser = {
      ...denoiser,
      predict: (x, t, b) => {
        events.push('predict');
        return denoiser.predict(x, t, b);
      },
    };

    // Act
    await sampler(counting).sample({
      y: degradedInput(1),
      batch: 1,
      params,
      noise: [new SeededNormalSource(1)],
      onStep: async (step) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        progress.push(step);
        events.push('step');
      },
    });

    // Assess
    const total = params.omega - params.tau + 1;
    expect(progress.map((p) => p.step)).toEqual(Array.from({ length: total }, (_, j) => j + 1));
    expect(progress.map((p) => p.index)).toEqual(Array.from({ length: total }, (_, j) => params.omega - j));
    expect(progress.every((p) => p.total === total)).toBe(true);
    expect(events).toEqual(Array.from({ length: total }, () => ['predict', 'step']).flat());
  });

  it('stops between steps when the signal is aborted', async () => {
    // Prepare
    const calls: RecordedCall[] = [];
    const controller = new AbortController();

    // Act
    const run = sampler(jsDenoiser(6, calls)).sample({
      y: degradedInput(1),
      batch: 1,
      params,
      noise: [new SeededNormalSource(1)],
      signal: controller.signal,
      onStep: ({ step }) => {
        if (step === 3) controller.abort(new Error('user canceled'));
      },
    });

    // Assess
    await expect(run).rejects.toBeInstanceOf(CanceledError);
    expect(calls).toHaveLength(3);
  });

  it('does not call the model when the signal is already aborted', async () => {
    const calls: RecordedCall[] = [];
    const run = sampler(jsDenoiser(6, calls)).sample({
      y: degradedInput(1),
      batch: 1,
      params,
      noise: [new SeededNormalSource(1)],
      signal: AbortSignal.abort(),
    });
    await expect(run).rejects.toMatchObject({ code: 'canceled' });
    expect(calls).toHaveLength(0);
  });

  it.each(['fixed_small', 'fixed_large'] as const)(
    'runs a 3-channel model with %s variance',
    async (variance) => {
      // Act
      const result = await sampler(jsDenoiser(3), variance).sample({
        y: degradedInput(1),
        batch: 1,
        params,
        noise: [new SeededNormalSource(4)],
      });

      // Assess
      expect(result.x0).toHaveLength(IMAGE);
      expect(result.x0.every((v) => Number.isFinite(v) && v >= -1 && v <= 1)).toBe(true);
    },
  );

  it('samples differently with fixed_small and fixed_large variance', async () => {
    const run = (variance: VarianceType) =>
      sampler(jsDenoiser(3), variance).sample({
        y: degradedInput(1),
        batch: 1,
        params,
        noise: [new SeededNormalSource(4)],
      });
    expect((await run('fixed_small')).x0).not.toEqual((await run('fixed_large')).x0);
  });

  it('refuses a variance type that does not fit the output channels', () => {
    expect(() => sampler(jsDenoiser(3), 'learned_range')).toThrow(ModelContractError);
    expect(() => sampler(jsDenoiser(6), 'fixed_small')).toThrow(/needs a model with 3 output channels/);
  });

  it.each([
    ['y of the wrong length', { y: new Float32Array(IMAGE - 1) }, /y has 767 values/],
    [
      'one noise source for two images',
      { batch: 2, y: new Float32Array(2 * IMAGE) },
      /one noise source per image/,
    ],
    [
      'N that does not divide the resolution',
      { params: { n: 32, tau: 3, omega: 12 } },
      /must divide the image size/,
    ],
    ['tau >= omega', { params: { n: 4, tau: 12, omega: 12 } }, /tau \(12\) must be less than omega/],
    ['omega beyond the schedule', { params: { n: 4, tau: 3, omega: 20 } }, /at most steps - 1 \(19\)/],
    [
      'K other than the schedule',
      { params: { ...params, steps: 100 } },
      /does not match the schedule's 20 steps/,
    ],
    ['batch 0', { batch: 0, y: new Float32Array(0) }, /batch must be a positive integer/],
  ])('rejects %s', async (_label, override, message) => {
    const request = {
      y: degradedInput(1),
      batch: 1,
      params,
      noise: [new SeededNormalSource(1)] as NoiseSource[],
      ...override,
    };
    await expect(sampler(jsDenoiser(6)).sample(request)).rejects.toThrow(InvalidParametersError);
    await expect(sampler(jsDenoiser(6)).sample(request)).rejects.toThrow(message);
  });

  it('fails with ModelContractError when the model returns the wrong size', async () => {
    const broken: Denoiser = {
      resolution: SIZE,
      outputChannels: 6,
      predict: () => Promise.resolve(new Float32Array(5)),
    };
    await expect(
      sampler(broken).sample({ y: degradedInput(1), batch: 1, params, noise: [new SeededNormalSource(1)] }),
    ).rejects.toThrow(ModelContractError);
  });

  it('runs the whole schedule (tau = 0, omega = K - 1)', async () => {
    const calls: RecordedCall[] = [];
    const result = await sampler(jsDenoiser(6, calls)).sample({
      y: degradedInput(1),
      batch: 1,
      params: { n: 2, tau: 0, omega: 19 },
      noise: [new SeededNormalSource(1)],
    });
    expect(calls).toHaveLength(20);
    expect(calls.at(-1)?.timesteps).toEqual([0]);
    expect(calls[0]?.timesteps).toEqual([999]);
    expect(result.x0.every(Number.isFinite)).toBe(true);
  });

  it('reports running out of recorded noise without leaving the model call unobserved', async () => {
    // Prepare: enough noise for the initial condition only; the model call fails later.
    const failing: Denoiser = {
      resolution: SIZE,
      outputChannels: 6,
      predict: () =>
        new Promise((_, reject) => setTimeout(() => reject(new InferenceError('device lost')), 5)),
    };

    // Act
    const run = sampler(failing).sample({
      y: degradedInput(1),
      batch: 1,
      params,
      noise: [new RecordedNoiseSource(new Float32Array(IMAGE))],
    });

    // Assess: the noise error wins, and the model's later rejection is observed (vitest fails
    // the run on an unhandled rejection, so give it time to surface).
    await expect(run).rejects.toThrow(FixtureError);
    await new Promise((resolve) => setTimeout(resolve, 30));
  });

  it('passes a failing model call through', async () => {
    const failing: Denoiser = {
      resolution: SIZE,
      outputChannels: 6,
      predict: () => Promise.reject(new InferenceError('device lost')),
    };
    await expect(
      sampler(failing).sample({ y: degradedInput(1), batch: 1, params, noise: [new SeededNormalSource(1)] }),
    ).rejects.toMatchObject({ code: 'inference_failed', retryable: true });
  });
});

describe('Dr2Sampler with per-image settings', () => {
  const settings = [
    { n: 4, tau: 3, omega: 12 },
    { n: 1, tau: 0, omega: 5 },
    { n: 2, tau: 8, omega: 16 },
  ];

  it('gives each image of a mixed batch the result it gets alone (same seeds)', async () => {
    // Prepare
    const y = degradedInput(3);
    const engine = sampler(jsDenoiser(6));
    const seeds = [31, 32, 33];

    // Act
    const mixed = await engine.sample({
      y,
      batch: 3,
      params: settings,
      noise: seeds.map((seed) => new SeededNormalSource(seed)),
    });
    const alone = await Promise.all(
      settings.map((params, b) =>
        engine.sample({
          y: y.slice(b * IMAGE, (b + 1) * IMAGE),
          batch: 1,
          params,
          noise: [new SeededNormalSource(seeds[b] as number)],
        }),
      ),
    );

    // Assess: bit-identical, since the stand-in model evaluates each sample on its own
    alone.forEach((run, b) => expect(mixed.x0.slice(b * IMAGE, (b + 1) * IMAGE)).toEqual(run.x0));
  });

  it('calls the model once per step, on the active images only, from the largest omega to the smallest tau', async () => {
    // Prepare
    const calls: RecordedCall[] = [];
    const y = degradedInput(3);

    // Act
    const result = await sampler(jsDenoiser(6, calls)).sample({
      y,
      batch: 3,
      params: settings,
      noise: [1, 2, 3].map((seed) => new SeededNormalSource(seed)),
    });

    // Assess
    expect(calls).toHaveLength(16 - 0 + 1);
    const expectedBatches = Array.from({ length: 17 }, (_, j) => {
      const i = 16 - j;
      return settings.filter((s) => s.omega >= i && s.tau <= i).length;
    });
    expect(calls.map((call) => call.batch)).toEqual(expectedBatches);
    expect(calls[0]?.timesteps).toEqual([schedule.timestepMap[16]]);
    expect(result.timings.steps).toBe(17);
  });

  it('skips steps where no image is active and counts only model calls in progress', async () => {
    // Prepare: image 0 runs 15..12, image 1 runs 4..2: indices 11..5 have nobody
    const calls: RecordedCall[] = [];
    const progress: Dr2StepProgress[] = [];

    // Act
    await sampler(jsDenoiser(6, calls)).sample({
      y: degradedInput(2),
      batch: 2,
      params: [
        { n: 2, tau: 12, omega: 15 },
        { n: 2, tau: 2, omega: 4 },
      ],
      noise: [new SeededNormalSource(1), new SeededNormalSource(2)],
      onStep: (p) => {
        progress.push(p);
      },
    });

    // Assess
    expect(calls).toHaveLength(4 + 3);
    expect(progress.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(progress.every((p) => p.total === 7)).toBe(true);
    expect(progress.map((p) => p.index)).toEqual([15, 14, 13, 12, 4, 3, 2]);
  });

  it('refuses a settings array of the wrong length and names the image with a bad setting', async () => {
    const engine = sampler(jsDenoiser(6));
    const noise = [new SeededNormalSource(1), new SeededNormalSource(2)];

    await expect(engine.sample({ y: degradedInput(2), batch: 2, params: [params], noise })).rejects.toThrow(
      /one setting per image is needed: 1 for 2/,
    );
    await expect(
      engine.sample({ y: degradedInput(2), batch: 2, params: [params, { n: 3, tau: 1, omega: 4 }], noise }),
    ).rejects.toThrow(/\(image 1\)/);
  });
});
