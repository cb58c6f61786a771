/**
 * Small object helpers used by the domain, its adapters, the engine and the worker.
 */

/** The keys of `T` whose value may be `undefined`. */
type MaybeUndefinedKeys<T> = { [K in keyof T]-?: undefined extends T[K] ? K : never }[keyof T];

/**
 * `T` after {@link dropUndefined}: a key whose value may be `undefined` becomes optional (it may
 * be gone) without `undefined` in its type; every other key stays as it is.
 */
export type WithoutUndefined<T> = { [K in Exclude<keyof T, MaybeUndefinedKeys<T>>]: T[K] } & {
  [K in MaybeUndefinedKeys<T>]?: Exclude<T[K], undefined>;
};

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
