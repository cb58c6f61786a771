/**
 * The playground's result figures: faces found, restored by the model, and kept as they were
 * (`auto` leaves a face the model would not improve) are told apart.
 */
import { describe, expect, it } from 'vitest';
import type { PlaygroundJob } from '../../../../functions/src/playground/client/api.js';
import {
  jobFigures,
  resultSentences,
  WARNING_TEXT,
} from '../../../../functions/src/playground/client/result.js';
import { KNOWN_WARNINGS } from '../../../../shared/src/index.js';

function jobWithFaces(kept: boolean[]): PlaygroundJob {
  return {
    id: 'job_1',
    status: 'succeeded',
    attempts: 1,
    model: 'default',
    params: { steps: 100 },
    timestamps: { created: '2026-12-01T00:00:00.000Z', succeeded: '2026-12-01T00:00:05.000Z' },
    output: {
      format: 'png',
      faces: kept.map((isKept, i) => ({
        box: [10 * i, 0, 10, 10],
        score: 0.9,
        landmarks: [],
        settings: { n: 4, tau: 20, omega: 40, ...(isKept ? { kept: true as const } : {}) },
      })),
    },
  } as unknown as PlaygroundJob;
}

const figure = (rows: [string, string][], label: string): string | undefined =>
  rows.find(([name]) => name === label)?.[1];

describe('jobFigures', () => {
  it('counts faces found, restored by the model and kept as they were separately', () => {
    // Act
    const rows = jobFigures(jobWithFaces([true, false, true]));
    // Assess
    expect([
      figure(rows, 'Faces found'),
      figure(rows, 'Faces restored'),
      figure(rows, 'Faces kept as they were'),
    ]).toEqual(['3', '1', '2']);
  });

  it('leaves out the kept row when every face was restored, and reports 0 restored for a photo without faces', () => {
    // Act
    const restoredAll = jobFigures(jobWithFaces([false, false]));
    const noFace = jobFigures(jobWithFaces([]));
    // Assess
    expect(figure(restoredAll, 'Faces restored')).toBe('2');
    expect(figure(restoredAll, 'Faces kept as they were')).toBeUndefined();
    expect([figure(noFace, 'Faces found'), figure(noFace, 'Faces restored')]).toEqual(['0', '0']);
  });

  it('counts the faces left untouched (maxFaces, minFace) among those found', () => {
    // Prepare: one face restored, two found beyond maxFaces
    const job = jobWithFaces([false]);
    const skipped = [0, 1].map((i) => ({
      box: [100 + 10 * i, 0, 10, 10] as [number, number, number, number],
      score: 0.9,
      landmarks: [],
      reason: 'max_faces' as const,
    }));
    const withSkipped = { ...job, output: { ...job.output!, skippedFaces: skipped } };
    // Act
    const rows = jobFigures(withSkipped);
    // Assess
    expect([
      figure(rows, 'Faces found'),
      figure(rows, 'Faces restored'),
      figure(rows, 'Faces skipped'),
    ]).toEqual(['3', '1', '2']);
  });
});

describe('jobFigures: schedule and sampler steps', () => {
  it('calls `steps` the schedule length and says the steps the sampler ran, as its progress counts them', () => {
    // Prepare: faces run from ω 40 down to τ 20 of the 100-step schedule; one face at ω 25
    const one = jobWithFaces([false, true]);
    const faces = one.output!.faces!;
    const shorter = { ...faces[0]!, settings: { n: 4, tau: 20, omega: 25 } };
    const two = { ...one, output: { ...one.output!, faces: [...faces, shorter] } };
    const noSettings = {
      ...one,
      output: {
        ...one.output!,
        faces: faces.map(({ box, score, landmarks }) => ({ box, score, landmarks })),
      },
      progress: { step: 6, total: 6 },
    } as PlaygroundJob;
    const canceled = { ...noSettings, status: 'canceled', progress: { step: 3, total: 6 } } as PlaygroundJob;
    // Act / Assess
    expect(figure(jobFigures(one), 'Schedule')).toBe('model default, 100-step schedule');
    expect(figure(jobFigures(one), 'Sampler steps run')).toBe('21 (ω 40 down to τ 20)');
    expect(figure(jobFigures(two), 'Sampler steps run')).toBe(
      '6 to 21 per face (each from its ω down to its τ)',
    );
    expect(figure(jobFigures(jobWithFaces([true])), 'Sampler steps run')).toBe(
      'none (every face kept as it was)',
    );
    expect(figure(jobFigures(noSettings), 'Sampler steps run')).toBe('6');
    expect(figure(jobFigures(canceled), 'Sampler steps run')).toBe('3 of 6');
    expect(figure(jobFigures(jobWithFaces([])), 'Sampler steps run')).toBeUndefined();
  });
});

describe('jobFigures: background', () => {
  it('says whether the background was denoised, the noise read and at what scale, and nothing when not reported', () => {
    // Prepare
    const job = jobWithFaces([]);
    const denoised = { ...job, output: { ...job.output!, background: { noise: 12.34, denoised: true } } };
    const clean = { ...job, output: { ...job.output!, background: { noise: 1.2, denoised: false } } };
    const enlarged = {
      ...job,
      output: { ...job.output!, background: { noise: 25.6, denoised: true, enlargement: 4 } },
    };
    // Act / Assess
    expect(figure(jobFigures(denoised), 'Background')).toBe('denoised (noise 12.3)');
    expect(figure(jobFigures(enlarged), 'Background')).toBe(
      'denoised (noise 25.6 at 1/4 size, the photo being itself enlarged)',
    );
    // `denoise` was asked: the figure says why nothing was denoised.
    expect(figure(jobFigures(clean), 'Background')).toBe('only enlarged (noise 1.2: it read clean)');
    expect(figure(jobFigures(job), 'Background')).toBeUndefined();
  });
});

describe('resultSentences', () => {
  it('says every warning the API knows in words, and tells skipped and kept faces apart', () => {
    // Prepare
    const job = jobWithFaces([true, false]);
    const skipped = [
      { box: [0, 0, 5, 5], score: 0.8, landmarks: [], reason: 'max_faces' },
      { box: [9, 9, 4, 4], score: 0.7, landmarks: [], reason: 'min_face' },
    ];
    const withNotes = {
      ...job,
      output: { ...job.output, warnings: Object.keys(KNOWN_WARNINGS), skippedFaces: skipped },
    } as unknown as PlaygroundJob;
    // Act
    const sentences = resultSentences(withNotes);
    // Assess: no bare code for a known warning; one line each for skipped and kept faces
    for (const code of Object.keys(KNOWN_WARNINGS)) expect(WARNING_TEXT[code]).toBeDefined();
    expect(sentences.some((text) => /_/.test(text))).toBe(false);
    expect(sentences).toHaveLength(Object.keys(KNOWN_WARNINGS).length + 2);
    expect(sentences.join(' ')).toMatch(/2 faces were found and left untouched \(1 beyond .*, 1 smaller/);
    expect(sentences.join(' ')).toMatch(/kept as they were: 1/);
    expect(resultSentences(jobWithFaces([false]))).toEqual([]);
  });

  it('says from which enlargement to which a capped job went, where the job tells', () => {
    // Prepare
    const job = jobWithFaces([false]);
    const capped = {
      ...job,
      params: { ...job.params, upscale: 4 },
      output: { ...job.output, warnings: ['upscale_capped'], upscale: 2 },
    } as unknown as PlaygroundJob;
    const older = { ...capped, output: { ...capped.output, upscale: undefined } } as unknown as PlaygroundJob;
    // Act / Assess
    expect(resultSentences(capped)).toEqual([
      'The enlargement was reduced from 4x to 2x: 4x would have exceeded the output size limit or the longest side of the output format.',
    ]);
    expect(resultSentences(older)).toEqual([WARNING_TEXT.upscale_capped]);
  });
});
