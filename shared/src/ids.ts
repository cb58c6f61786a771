/**
 * Identifiers that sort by creation time: a prefix plus a ULID-style body, 10 Crockford
 * base32 characters of the millisecond timestamp followed by 16 characters (80 bits) of
 * randomness from `crypto.getRandomValues`. Listing ids in lexical order lists them in
 * creation order (to the millisecond), which the job stores use for pagination.
 */
import { randomBytes } from './encoding.js';

/** Crockford base32 alphabet (no I, L, O, U); ascending in ASCII, so text order = numeric order. */
export const CROCKFORD_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

const TIME_LENGTH = 10;
const RANDOM_LENGTH = 16;
/** Largest timestamp 10 base32 characters hold (2^48 - 1 ms, year 10889). */
const MAX_TIME = 2 ** 48 - 1;

/** Prefix of job ids. */
export const JOB_ID_PREFIX = 'job_';

/** Pattern of a job id: `job_` + 26 Crockford base32 characters. */
export const JOB_ID_PATTERN = /^job_[0-9A-HJKMNP-TV-Z]{26}$/;

function encodeTime(milliseconds: number): string {
  if (!Number.isInteger(milliseconds) || milliseconds < 0 || milliseconds > MAX_TIME) {
    throw new RangeError(`timestamp out of range: ${milliseconds}`);
  }
  let remaining = milliseconds;
  let text = '';
  for (let i = 0; i < TIME_LENGTH; i++) {
    text = CROCKFORD_ALPHABET[remaining % 32] + text;
    remaining = Math.floor(remaining / 32);
  }
  return text;
}

function encodeRandom(): string {
  // 16 characters x 5 bits = 80 bits; one random byte per character, masked to 5 bits.
  let text = '';
  for (const byte of randomBytes(RANDOM_LENGTH)) text += CROCKFORD_ALPHABET[byte & 31];
  return text;
}

/**
 * A 26-character ULID-style string for the given time.
 *
 * @example ulid(new Date('2025-01-01T00:00:00Z')) // '01JGFJJZ00' + 16 random characters
 */
export function ulid(at: Date = new Date()): string {
  return encodeTime(at.getTime()) + encodeRandom();
}

/** Creation time encoded in a ULID-style string (or an id with a prefix before `_`). */
export function timeOfId(id: string): Date {
  const body = id.includes('_') ? id.slice(id.lastIndexOf('_') + 1) : id;
  let milliseconds = 0;
  for (const char of body.slice(0, TIME_LENGTH)) {
    const digit = CROCKFORD_ALPHABET.indexOf(char);
    if (digit < 0) throw new RangeError(`not a ULID-style id: ${id}`);
    milliseconds = milliseconds * 32 + digit;
  }
  return new Date(milliseconds);
}

/**
 * A new job id, sortable by creation time.
 *
 * @example newJobId() // 'job_01JGFJJZ00X5Q4N8V2K7T9R3MB'
 */
export function newJobId(at: Date = new Date()): string {
  return JOB_ID_PREFIX + ulid(at);
}

/**
 * The lowest job id of `at`'s millisecond, as text: every id created at or after `at` sorts
 * after it and every earlier one before it, so stores list a time range by key order.
 *
 * @example jobIdFloor(new Date('2025-01-01T00:00:00Z')) // 'job_01JGFJJZ00'
 */
export function jobIdFloor(at: Date): string {
  return JOB_ID_PREFIX + encodeTime(Math.max(0, Math.min(MAX_TIME, at.getTime())));
}

/** True when the text has the shape of a job id (cheap check before touching a store). */
export function isJobId(text: string): boolean {
  return JOB_ID_PATTERN.test(text);
}

/** A sortable id with any prefix, e.g. `newPrefixedId('msg')` -> `msg_01J...`. */
export function newPrefixedId(prefix: string, at: Date = new Date()): string {
  return `${prefix}_${ulid(at)}`;
}

/**
 * Maps each Crockford character c to its mirror (31 - value), so ascending lexical order of
 * inverted ids is newest-first order of the ids. Stores whose listings only go ascending
 * (S3, directory listings) index jobs under inverted ids to page newest first.
 *
 * @example invertSortableId(newerId) < invertSortableId(olderId) // true
 */
export function invertSortableId(id: string): string {
  let inverted = '';
  for (const char of id) {
    const value = CROCKFORD_ALPHABET.indexOf(char);
    inverted += value < 0 ? char : CROCKFORD_ALPHABET[31 - value];
  }
  return inverted;
}
