/**
 * Small object helpers used by the domain, its adapters, the engine and the worker.
 */

/**
 * `T` after {@link dropUndefined}: `undefined` is gone from every value's type; optional keys stay
 * optional. A homomorphic mapped type, so literal types of the argument survive inference (a
 * required key holding `undefined` would be typed as present: pass such values as optional keys).
 */
export type WithoutUndefined<T> = { [K in keyof T]: Exclude<T[K], undefined> };

/**
 * A shallow copy of `value` without the keys whose value is `undefined`, so records serialise
 * and compare cleanly (`{ a: 1, b: undefined }` and `{ a: 1 }` become the same JSON and the same
 * `toEqual`), and spreading the result over defaults keeps a default where a caller passed
 * `undefined`.
 *
 * @example
 * ```ts
 * dropUndefined({ a: 1, b: undefined }); // { a: 1 }
 * const settings = { ...DEFAULTS, ...dropUndefined(options) }; // an undefined option keeps its default
 * ```
 */
export function dropUndefined<T extends object>(value: T): WithoutUndefined<T> {
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) if (item !== undefined) copy[key] = item;
  return copy as WithoutUndefined<T>;
}
