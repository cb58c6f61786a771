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
