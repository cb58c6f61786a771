/**
 * 2-D similarity transforms (rotation, uniform scale, translation) and their least-squares
 * estimate from point correspondences (Umeyama 1991, without reflection).
 *
 * A transform maps (x, y) to (a·x - b·y + tx, b·x + a·y + ty): `a = s·cos θ`, `b = s·sin θ`.
 */
import { InvalidParametersError } from '../engine/core.js';

export type Point = readonly [x: number, y: number];

export interface Similarity {
  a: number;
  b: number;
  tx: number;
  ty: number;
}

/** Apply a similarity to a point. */
export function applySimilarity(t: Similarity, [x, y]: Point): [number, number] {
  return [t.a * x - t.b * y + t.tx, t.b * x + t.a * y + t.ty];
}

/** The inverse transform. */
export function invertSimilarity(t: Similarity): Similarity {
  const d = t.a * t.a + t.b * t.b;
  if (!(d > 0)) throw new InvalidParametersError('a similarity with zero scale has no inverse');
  const a = t.a / d;
  const b = -t.b / d;
  return { a, b, tx: -(a * t.tx - b * t.ty), ty: -(b * t.tx + a * t.ty) };
}

/** `outer ∘ inner`: first `inner`, then `outer`. */
export function composeSimilarity(outer: Similarity, inner: Similarity): Similarity {
  return {
    a: outer.a * inner.a - outer.b * inner.b,
    b: outer.b * inner.a + outer.a * inner.b,
    tx: outer.a * inner.tx - outer.b * inner.ty + outer.tx,
    ty: outer.b * inner.tx + outer.a * inner.ty + outer.ty,
  };
}

/** Scale factor of a similarity (output units per input unit). */
export function similarityScale(t: Similarity): number {
  return Math.hypot(t.a, t.b);
}

/** Rotation of a similarity in radians. */
export function similarityAngle(t: Similarity): number {
  return Math.atan2(t.b, t.a);
}

/**
 * The similarity that maps `from` onto `to` with the least sum of squared distances
 * (Umeyama's closed form restricted to 2-D, rotations only).
 *
 * @throws InvalidParametersError for fewer than two pairs, mismatched lengths or coincident points.
 *
 * @example
 * ```ts
 * const t = estimateSimilarity([[0, 0], [1, 0]], [[10, 10], [10, 12]]); // 90°, scale 2
 * applySimilarity(t, [1, 0]); // [10, 12]
 * ```
 */
export function estimateSimilarity(from: readonly Point[], to: readonly Point[]): Similarity {
  if (from.length !== to.length || from.length < 2) {
    throw new InvalidParametersError(
      `a similarity needs at least two point pairs, got ${from.length} and ${to.length}`,
    );
  }
  const n = from.length;
  let mfx = 0;
  let mfy = 0;
  let mtx = 0;
  let mty = 0;
  for (let i = 0; i < n; i++) {
    mfx += from[i]![0];
    mfy += from[i]![1];
    mtx += to[i]![0];
    mty += to[i]![1];
  }
  mfx /= n;
  mfy /= n;
  mtx /= n;
  mty /= n;
  // For 2-D similarities the Umeyama solution reduces to a = Σ(p·q)/Σ|p|², b = Σ(p×q)/Σ|p|²
  // on centred points: rotation and scale in one complex division.
  let dot = 0;
  let cross = 0;
  let norm = 0;
  for (let i = 0; i < n; i++) {
    const px = from[i]![0] - mfx;
    const py = from[i]![1] - mfy;
    const qx = to[i]![0] - mtx;
    const qy = to[i]![1] - mty;
    dot += px * qx + py * qy;
    cross += px * qy - py * qx;
    norm += px * px + py * py;
  }
  if (!(norm > 1e-12)) throw new InvalidParametersError('the source points coincide');
  const a = dot / norm;
  const b = cross / norm;
  return { a, b, tx: mtx - (a * mfx - b * mfy), ty: mty - (b * mfx + a * mfy) };
}
