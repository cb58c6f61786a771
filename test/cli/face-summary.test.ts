import { describe, expect, it } from 'vitest';
import type { FaceReport } from '../../gpu-task/src/engine/index.js';
import {
  faceSummary,
  keptFacesHint,
  optionNotes,
  skippedFacesNote,
  warningsNote,
} from '../../gpu-task/src/cli/restore-command.js';

describe('faceSummary (the CLI line per restored face)', () => {
  it("names auto's setting, its fusion weights and the estimates it was chosen from", () => {
    const line = faceSummary({
      box: [0, 0, 64, 64],
      score: 1,
      landmarks: [],
      settings: { n: 2, tau: 15, omega: 25, fidelity: 0.5, inputWeight: 1, detailWeight: 0 },
      estimate: {
        noise: 0.74,
        blur: 0,
        jpeg: 0.562,
        coarseNoise: 7.76,
        acZeros: 0.812,
        colourNoise: 0.41,
        faceSize: 64,
      },
    });
    expect(line).toBe(
      'N=2 tau=15 omega=25, input weight 1, detail 0; noise 0.74 (coarse 7.76, colour 0.41), blur 0, jpeg 0.562 (DCT zeros 0.812), 64 px',
    );
  });

  it('names the share of the noise attenuation a face hedged toward a kept one took', () => {
    const line = faceSummary({
      box: [0, 0, 128, 128],
      score: 1,
      landmarks: [],
      settings: {
        n: 1,
        tau: 10,
        omega: 15,
        inputWeight: 0.981,
        detailWeight: 0.921,
        detailAttenuation: 0.079,
      },
    });
    expect(line).toBe('N=1 tau=10 omega=15, input weight 0.981, detail 0.921 (noise attenuation 0.079)');
  });

  it('says a face auto kept as it is was kept, not a DR2 setting it did not run', () => {
    const line = faceSummary({
      box: [0, 0, 40, 40],
      score: 1,
      landmarks: [],
      settings: { n: 1, tau: 0, omega: 1, fidelity: 1, inputWeight: 1, detailWeight: 1, kept: true },
      estimate: { noise: 0.5, blur: 0, jpeg: 0.1, faceSize: 40 },
    });
    expect(line).toBe(
      "kept as is (auto: input and detail weight 1: the output is the input enlarged, in photos by the model's face upsampler if it has one); noise 0.5, blur 0, jpeg 0.1, 40 px",
    );
  });

  it('says nothing for a face without quality fields', () => {
    expect(faceSummary({ box: [0, 0, 8, 8], score: 1, landmarks: [] })).toBeNull();
  });
});

describe('keptFacesHint (the closing line when auto kept faces)', () => {
  const face = (kept: boolean): FaceReport => ({
    box: [0, 0, 64, 64],
    score: 1,
    landmarks: [],
    settings: {
      n: 1,
      tau: 10,
      omega: 15,
      fidelity: 0.5,
      inputWeight: 1,
      detailWeight: kept ? 1 : 0,
      ...(kept ? { kept } : {}),
    },
  });

  it('counts the kept faces among all and names the knob that restores them anyway', () => {
    const hint = keptFacesHint([face(true), face(false), face(true)]);
    expect(hint).toMatch(/^2 of 3 faces were kept as they were: /);
    expect(hint).toContain('--fidelity (e.g. 0.2)');
    expect(hint).toContain('--preset medium');
  });

  it('says that a fidelity above the default cannot restore a face the default keeps', () => {
    // Prepare: a face kept at fidelity 0.8
    const high = face(true);
    const at08 = { ...high, settings: { ...high.settings!, fidelity: 0.8 } };
    // Act + Assess
    expect(keptFacesHint([at08])).toContain(
      '--fidelity 0.8 keeps even more of the input than the default 0.5',
    );
    expect(keptFacesHint([face(true)])).not.toContain('keeps even more');
  });

  it('speaks of one face in the singular', () => {
    expect(keptFacesHint([face(true), face(false)])).toMatch(/^1 of 2 faces was kept as it was: /);
    expect(keptFacesHint([face(true)])).toMatch(/^1 of 1 face was kept as it was: /);
  });

  it('says nothing when every face went through the model, or there was none', () => {
    expect(keptFacesHint([face(false)])).toBeNull();
    expect(keptFacesHint([])).toBeNull();
  });
});

describe('skippedFacesNote (why faces of a photo were left untouched)', () => {
  const face = (reason: 'max_faces' | 'min_face'): FaceReport => ({
    box: [0, 0, 20, 20],
    score: 0.9,
    landmarks: [],
    reason,
  });

  it('counts the faces beyond --max-faces and those under --min-face apart', () => {
    expect(skippedFacesNote([face('max_faces'), face('max_faces'), face('min_face')])).toBe(
      '2 beyond --max-faces, 1 smaller than --min-face',
    );
    expect(skippedFacesNote([face('min_face')])).toBe('1 smaller than --min-face');
  });
});

describe('warningsNote (the CLI text of the warnings of a file)', () => {
  it('says from which upscale to which a capped one went, and leaves other warnings as their codes', () => {
    expect(warningsNote(['upscale_capped', 'first_frame_only'], 4, 2)).toBe(
      "upscale_capped (x4 -> x2: the output would have passed the megapixel limit, --max-megapixels, or the format's largest side), first_frame_only",
    );
    expect(warningsNote(['no_face_detected'], 2, 2)).toBe('no_face_detected');
  });
});

describe('optionNotes (options that would otherwise pass without a word)', () => {
  it('says --quality does nothing for PNG and that -o names a folder even when it reads like a file', () => {
    expect(optionNotes({ format: 'png', quality: 50, output: 'out' }, true)).toEqual([
      '--quality 50 changes nothing: PNG is lossless (it applies to --format jpeg and webp)',
    ]);
    expect(optionNotes({ format: 'jpeg', quality: 50, output: 'out' }, false)).toEqual([]);
    const [folder] = optionNotes({ format: 'png', output: 'result.png' }, false);
    expect(folder).toMatch(/^-o names a folder: the outputs go into a new folder result\.png/);
    expect(optionNotes({ format: 'png', output: 'result.png' }, true)).toEqual([]);
  });
});
