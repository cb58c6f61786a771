/**
 * Named errors of the service domain. Each carries a stable `code` (what API clients and logs
 * branch on; never change one) and an `httpStatus` hint the API maps to a response, so
 * adapters and the worker can throw meaningful errors without knowing about HTTP.
 *
 * @example Mapping any error to a response body in the API
 * ```ts
 * const { status, body } = toErrorResponse(error); // 404, { error: { code: 'not_found', ... } }
 * ```
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;
  abstract readonly httpStatus: number;
  /** Machine-readable extra facts (field issues, states), safe to return to the client. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(message: string, options?: ErrorOptions & { details?: Record<string, unknown> }) {
    super(message, options);
    this.name = new.target.name;
    this.details = options?.details;
  }
}

/** Something that does not exist, or that the caller may not see (a job of another tenant). */
export class NotFoundError extends DomainError {
  readonly code = 'not_found';
  readonly httpStatus = 404;
}

/** A create that found the record already there (same job id, same idempotency key). */
export class ConflictError extends DomainError {
  readonly code: string = 'conflict';
  readonly httpStatus = 409;
}

/**
 * A conditional write whose precondition failed: the record changed since it was read (the
 * stored `version` or ETag differs). Read again, reapply the change, write again.
 */
export class PreconditionFailedError extends DomainError {
  readonly code = 'precondition_failed';
  readonly httpStatus = 412;
}

/** A job status change the lifecycle does not allow (e.g. `succeeded -> running`). */
export class InvalidTransitionError extends ConflictError {
  override readonly code = 'invalid_transition';

  constructor(
    readonly from: string,
    readonly to: string,
    message = `job cannot move from "${from}" to "${to}"`,
  ) {
    super(message, { details: { from, to } });
  }
}

/** One problem with a request field; `path` locates it, e.g. `['webhook', 'url']`. */
export interface ValidationIssue {
  path: (string | number)[];
  message: string;
}

/** A request or stored record that fails its schema. */
export class ValidationError extends DomainError {
  readonly code = 'validation_failed';
  readonly httpStatus = 400;

  constructor(
    message: string,
    readonly issues: ValidationIssue[] = [],
  ) {
    super(message, { details: { issues } });
  }
}

/** Missing or unknown credentials (API key). */
export class UnauthorizedError extends DomainError {
  readonly code = 'unauthorized';
  readonly httpStatus = 401;
}

/** Known caller, forbidden action. */
export class ForbiddenError extends DomainError {
  readonly code = 'forbidden';
  readonly httpStatus = 403;
}

/** A signature (upload form, download URL, webhook) that does not verify. */
export class InvalidSignatureError extends DomainError {
  readonly code = 'invalid_signature';
  readonly httpStatus = 403;
}

/** A signed form, URL or webhook whose validity window has passed (or not yet begun). */
export class ExpiredError extends DomainError {
  readonly code = 'expired';
  readonly httpStatus = 403;
}

/** An upload or body over the allowed size. */
export class PayloadTooLargeError extends DomainError {
  readonly code = 'payload_too_large';
  readonly httpStatus = 413;
}

/** An upload whose content type is not among the allowed ones. */
export class UnsupportedMediaTypeError extends DomainError {
  readonly code = 'unsupported_media_type';
  readonly httpStatus = 415;
}

/** A queue receipt handle for a message that is no longer in flight (deleted, or redelivered). */
export class MessageNotInFlightError extends DomainError {
  readonly code = 'message_not_in_flight';
  readonly httpStatus = 409;
}

/** True for errors of this module (they carry `code` and `httpStatus`). */
export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}

/** JSON error body the API returns: `{ error: { code, message, details? } }`. */
export interface ErrorResponseBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/**
 * HTTP status and body for any thrown value. Domain errors keep their code and message;
 * anything else becomes a 500 `internal_error` whose message hides internals.
 *
 * @example
 * ```ts
 * toErrorResponse(new NotFoundError('job not found'))
 * // { status: 404, body: { error: { code: 'not_found', message: 'job not found' } } }
 * ```
 */
export function toErrorResponse(error: unknown): { status: number; body: ErrorResponseBody } {
  if (isDomainError(error)) {
    const body: ErrorResponseBody = { error: { code: error.code, message: error.message } };
    if (error.details) body.error.details = { ...error.details };
    return { status: error.httpStatus, body };
  }
  return { status: 500, body: { error: { code: 'internal_error', message: 'internal error' } } };
}
