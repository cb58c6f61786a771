/**
 * Reading records that a newer version of the service may have written.
 *
 * **Why.** Job records are validated by strict schemas (an unknown field is refused: a typo in
 * code that writes a record fails at once instead of storing garbage). During a rolling deploy,
 * or after a rollback, the GPU task and the functions run different versions: a newer GPU task
 * that adds an output field (as `output.background.enlargement` once was) wrote records that the
 * older functions then refused, so `GET /v1/jobs/{id}`, listings and webhook deliveries failed for
 * those jobs until the functions caught up. Stores therefore read a record with
 * {@link readStoredRecord}, which sets fields the schema does not know aside instead of refusing
 * them, and write an update with {@link withUnknownFields}, which puts them back (the record's
 * own always, a nested object's while the update leaves that object as it was, none when it
 * deletes the record's data): an older writer neither breaks on a newer record nor erases what
 * it cannot see. Known fields are checked as strictly as before.
 */
import type { z } from 'zod';
import { parseWith } from './schemas.js';

/** A field a record holds that the reading schema does not know, where it was found. */
export interface UnknownField {
  /** Path of the object holding it (property names and array indices from the record's root). */
  path: readonly PropertyKey[];
  key: string;
  value: unknown;
}

/** A record as read by {@link readStoredRecord}. */
export interface StoredRecord<T> {
  /** The record's known fields, validated by the schema. */
  value: T;
  /** What the schema did not know, set aside (empty for a record of this version). */
  unknown: readonly UnknownField[];
}

/** Rounds of setting fields aside: each round finds every unknown field the schema reached. */
const MAX_ROUNDS = 8;

/**
 * Validate a stored record, setting aside the fields the schema does not know (see the module
 * comment). Anything else wrong with the record (a known field missing or of the wrong type, a
 * refinement that fails) throws ValidationError as `parseWith` does.
 *
 * @example
 * ```ts
 * const { value: job, unknown } = readStoredRecord(JobSchema, JSON.parse(text), `stored job ${id}`);
 * ```
 */
export function readStoredRecord<Schema extends z.ZodType>(
  schema: Schema,
  raw: unknown,
  what: string,
): StoredRecord<z.output<Schema>> {
  let current = raw;
  const unknown: UnknownField[] = [];
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const result = schema.safeParse(current);
    if (result.success) return { value: result.data, unknown };
    const { issues } = result.error;
    // Only a record whose sole problem is fields the schema does not know is read leniently.
    if (!issues.every((issue) => issue.code === 'unrecognized_keys')) break;
    const copy = structuredClone(current);
    for (const issue of issues) {
      const holder = objectAt(copy, issue.path);
      if (!holder) continue;
      for (const key of issue.keys) {
        // The own property (for a key such as "__proto__", `holder[key]` is the prototype).
        unknown.push({ path: issue.path, key, value: Object.getOwnPropertyDescriptor(holder, key)?.value });
        delete holder[key];
      }
    }
    current = copy;
  }
  // The schema's own report of what is wrong (for a record of unknown fields only, after
  // MAX_ROUNDS: the first of them).
  return { value: parseWith(schema, current, what), unknown };
}

/** How withUnknownFields puts fields back. */
export interface KeepUnknownOptions {
  /**
   * Put none back: the update deletes the record's data (a job's tombstone), and what a newer
   * version stored beside it (a preview's key, a label) goes with it. Default false.
   */
  none?: boolean;
}

/**
 * The record `next` (an update of `read.value`, by code of this version) with the fields `read`
 * set aside put back, as protocol buffers keep the unknown fields of a message they pass on:
 *
 * - the record's own, always;
 * - a nested object's where `next` holds that object with the same known fields (nested ones
 *   included) as `read.value` did. An object the update changed (an output rewritten by a
 *   retry, timestamps on a transition, a delivery status after an attempt) was rebuilt by code
 *   that did not know them: they described the old one and are dropped;
 * - none with `options.none` (a deletion).
 *
 * So a newer version must accept its own fields beside a state an older one set (a field it
 * wrote while a job ran, on a job an older version then canceled). Returns `next` itself when
 * there is nothing to put back.
 *
 * @example
 * ```ts
 * const read = readStoredRecord(JobSchema, raw, 'stored job');
 * const next = { ...read.value, webhookStatus: delivered };
 * await write(JSON.stringify(withUnknownFields(next, read, { none: isDeletedJob(next) })));
 * ```
 */
export function withUnknownFields<T>(next: T, read: StoredRecord<T>, options: KeepUnknownOptions = {}): T {
  if (read.unknown.length === 0 || options.none === true) return next;
  // Decided on `next` as it is, then written into a copy (a field put back must not make its
  // object differ for the next field of the same object).
  const kept = read.unknown.filter((field) => {
    const holder = objectAt(next, field.path);
    if (!holder || Object.hasOwn(holder, field.key)) return false;
    return field.path.length === 0 || sameJson(objectAt(read.value, field.path), holder);
  });
  if (kept.length === 0) return next;
  const out = structuredClone(next);
  for (const field of kept) {
    // defineProperty: a key such as "__proto__" becomes a field, as JSON.parse made it.
    Object.defineProperty(objectAt(out, field.path)!, field.key, {
      value: structuredClone(field.value),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** The plain object (or array) at `path` under `root`, if there is one. */
function objectAt(root: unknown, path: readonly PropertyKey[]): Record<PropertyKey, unknown> | undefined {
  let at: unknown = root;
  for (const step of path) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Record<PropertyKey, unknown>)[step];
  }
  return typeof at === 'object' && at !== null ? (at as Record<PropertyKey, unknown>) : undefined;
}

/** Whether two JSON values are equal (objects compared key by key, whatever their order). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const aKeys = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const bKeys = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (aKeys.length !== bKeys.length) return false;
  return aKeys.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
