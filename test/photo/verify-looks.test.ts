/**
 * How a candidate's second looks are asked (photo/verify.ts): all at once where none of them can
 * settle the candidate early, so the detector's threads share them, and read in a fixed order,
 * so the answer does not depend on which look comes back first. The graphs are scripted stand-ins
 * (no ../shared, no model): each "sees" the white square of a synthetic photo as a face whose
 * score depends on how large the square is in its view.
 */
import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../../gpu-task/src/engine/index.js';
import { type RawDetection, type TileRunner, verifyCandidate } from '../../gpu-task/src/photo/index.js';

/** A black 400 x 300 photo with a white 60 px square at (170, 120), a grey mark in its left quarter. */
function squarePhoto(): RgbImage {
  const width = 400;
  const height = 300;
  const data = new Uint8Array(width * height * 3);
  for (let y = 120; y < 180; y++) {
    for (let x = 170; x < 230; x++)
      data.fill(x < 185 && y < 135 ? 160 : 255, (y * width + x) * 3, (y * width + x) * 3 + 3);
  }
  return { data, width, height };
}

/** A face of `side` px at (x, y), with eyes, nose and mouth where a face has them. */
function faceIn(x: number, y: number, side: number, score: number): RawDetection {
  const at = (u: number, v: number): [number, number] => [x + u * side, y + v * side];
  return {
    box: [x, y, side, side],
    score,
    keypoints: [at(0.3, 0.33), at(0.7, 0.33), at(0.5, 0.58), at(0.5, 0.83), at(0.07, 0.42), at(0.93, 0.42)],
  };
}

/**
 * A graph that sees the photo's square (its tile's pixels over mid-grey) as a face scoring
 * `scoreOf(side, mirrored)`, `side` being the square's side in its view. It answers nothing
 * until `expectedCalls` looks have been asked (or two seconds have passed, so that a caller asking
 * one at a time still gets its answers), then each after `delayOf(call)` ms: the looks can come
 * back in any order, however slowly the machine cuts their views.
 */
class ScriptedGraph implements TileRunner {
  readonly maxBatch = 1;
  inFlight = 0;
  mostInFlight = 0;
  calls = 0;

  constructor(
    readonly inputSize: number,
    private readonly scoreOf: (side: number, mirrored: boolean) => number,
    private readonly delayOf: (call: number) => number,
    private readonly expectedCalls = 1,
  ) {
    const timer = setTimeout(() => this.openGate(), 2000);
    this.gate = new Promise<void>((resolve) => {
      this.openGate = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private readonly gate: Promise<void>;
  private openGate: () => void = () => undefined;

  get tileLength(): number {
    return this.inputSize * this.inputSize * 3;
  }

  async run(tile: Float32Array, threshold: number): Promise<RawDetection[]> {
    const call = this.calls++;
    this.inFlight++;
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
    if (this.calls >= this.expectedCalls) this.openGate();
    await this.gate;
    await new Promise((resolve) => setTimeout(resolve, this.delayOf(call)));
    this.inFlight--;
    const size = this.inputSize;
    let [x0, y0, x1, y1] = [size, size, -1, -1];
    let markLeft = 0;
    let markRight = 0;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const v = tile[(y * size + x) * 3]!;
        if (v <= 0) continue;
        [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
        if (v < 0.6) {
          if (x < size / 2) markLeft++;
          else markRight++;
        }
      }
    }
    if (x1 < 0) return [];
    const side = Math.max(x1 - x0 + 1, y1 - y0 + 1);
    const score = this.scoreOf(side, markRight > markLeft);
    return score >= threshold ? [faceIn(x0, y0, side, score)] : [];
  }

  runBatch(): Promise<RawDetection[][]> {
    throw new Error('second looks run one tile at a time');
  }
}

/** Back-camera scores: agreeing looks at 16 and 24 px, the mirrored 24 px look the best. */
const backScore = (side: number, mirrored: boolean): number =>
  Math.abs(side - 16) <= 1 ? 0.65 : Math.abs(side - 24) <= 1 ? (mirrored ? 0.85 : 0.8) : 0.3;
const frontScore = (): number => 0.3;

describe('second looks of a candidate', () => {
  const photo = squarePhoto();
  // The first look's box and landmarks, a face's: a tiled candidate (strict) still needs a consensus.
  const candidate = faceIn(170, 120, 60, 0.5);

  it('are asked at once, and the answer does not depend on which comes back first', async () => {
    // Prepare: graphs answering in the order asked, and graphs answering in a scrambled order.
    const inOrder = {
      back: new ScriptedGraph(256, backScore, () => 0),
      front: new ScriptedGraph(128, frontScore, () => 0),
    };
    const scrambled = {
      back: new ScriptedGraph(256, backScore, (call) => [9, 1, 6, 3, 12, 0, 7, 4, 10, 2][call % 10]!, 10),
      front: new ScriptedGraph(128, frontScore, (call) => [5, 0, 8, 2, 4][call % 5]!, 5),
    };
    // Act
    const [first, second] = await Promise.all(
      [inOrder, scrambled].map(({ back, front }) =>
        verifyCandidate(back, photo, candidate, 0.7, { front, strict: true }),
      ),
    );
    // Assess: confirmed by the 16 and 24 px looks, with the best of them (the mirrored 24 px one).
    expect(first).not.toBeNull();
    expect(first!.score).toBe(0.85);
    expect(second).toEqual(first);
    // Five sizes, each plain and mirrored, and the front graph's five: asked together.
    expect(scrambled.back.calls).toBe(10);
    expect(scrambled.front.calls).toBe(5);
    expect(scrambled.back.mostInFlight).toBe(10);
    expect(scrambled.front.mostInFlight).toBe(5);
  });

  it('stop at the first look that settles a trusted candidate, asking the sizes one after the other', async () => {
    // Prepare: a non-strict candidate whose landmarks are a face's; the 16 px look agrees at 0.8.
    const back = new ScriptedGraph(
      256,
      (side) => (Math.abs(side - 16) <= 1 ? 0.8 : 0.3),
      () => 1,
    );
    const front = new ScriptedGraph(128, frontScore, () => 1);
    // Act
    const face = await verifyCandidate(back, photo, candidate, 0.7, { front });
    // Assess: confirmed by the first size; no other size was asked (its mirror may have been).
    expect(face?.score).toBe(0.8);
    expect(back.calls).toBeLessThanOrEqual(2);
    expect(front.calls).toBe(0);
  });
});
