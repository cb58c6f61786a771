/** Recognising AWS SDK v3 service errors by name or HTTP status (stand-ins differ in names). */

interface ServiceErrorShape {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

function shape(error: unknown): ServiceErrorShape {
  return error !== null && typeof error === 'object' ? (error as ServiceErrorShape) : {};
}

/** HTTP status of an SDK error, if it has one. */
export function httpStatusOf(error: unknown): number | undefined {
  return shape(error).$metadata?.httpStatusCode;
}

/** True when the error has one of these names (or codes). */
export function hasErrorName(error: unknown, ...names: string[]): boolean {
  const { name, Code } = shape(error);
  return (name !== undefined && names.includes(name)) || (Code !== undefined && names.includes(Code));
}

/** A missing object or key (GetObject's NoSuchKey, HeadObject's bare 404). */
export function isNotFound(error: unknown): boolean {
  return hasErrorName(error, 'NoSuchKey', 'NotFound') || httpStatusOf(error) === 404;
}

/**
 * A conditional write that lost: 412 Precondition Failed (`If-None-Match`/`If-Match` did not
 * hold) or 409 ConditionalRequestConflict (a concurrent conditional write won the race).
 */
export function isConditionalWriteConflict(error: unknown): boolean {
  return (
    hasErrorName(error, 'PreconditionFailed', 'ConditionalRequestConflict') ||
    httpStatusOf(error) === 412 ||
    httpStatusOf(error) === 409
  );
}

/**
 * A read (GetObject, HeadObject) that S3 refused with 403. Without `s3:ListBucket` on the
 * bucket, S3 answers 403 AccessDenied for a key that does not exist (it will not say whether it
 * exists), so a missing job or upload would look like a permission failure. The adapters cannot
 * tell the two apart, so they say so instead of guessing; the stack grants ListBucket
 * (infra/lib/api.ts `listBucket`) so missing keys are 404 there.
 */
export class S3ReadDeniedError extends Error {
  override readonly name = 'S3ReadDeniedError';
  readonly code = 's3_read_denied';
}

/** The error to throw for a failed read of `key`: {@link S3ReadDeniedError} for a 403, else as is. */
export function readError(error: unknown, key: string): unknown {
  if (httpStatusOf(error) !== 403 && !hasErrorName(error, 'AccessDenied', 'Forbidden')) return error;
  return new S3ReadDeniedError(
    `S3 refused to read ${key} (403): either the role may not read it, or the key does not exist and the role lacks s3:ListBucket on the bucket (then S3 answers 403 instead of 404); grant s3:ListBucket`,
    { cause: error },
  );
}
