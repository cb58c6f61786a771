/**
 * Named errors of the DR2E engine. Every error carries a stable `code` that the CLI prints and
 * the job pipeline stores on a failed job, so callers branch on codes, not on message text.
 *
 * `retryable` says whether running the same input again could succeed (a device hiccup) or not
 * (a bad image, bad parameters): the worker fails non-retryable jobs at once.
 */
export abstract class EngineError extends Error {
  abstract readonly code: string;
  readonly retryable: boolean = false;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** DR2 parameters out of range (tau, omega, N, steps) or an unknown preset. */
export class InvalidParametersError extends EngineError {
  readonly code = 'invalid_parameters';
}

/** A manifest or ONNX graph that does not meet the model contract. */
export class ModelContractError extends EngineError {
  readonly code = 'model_contract';
}

/**
 * Weights licensed for non-commercial use only, loaded by a deployment that declared commercial
 * use (Dr2eEngineOptions.commercialUse): refused at load, before any image is restored.
 */
export class NonCommercialWeightsError extends EngineError {
  readonly code = 'non_commercial_weights';
}

/**
 * A model returned NaN or an infinity (a broken network, or one that overflows its precision).
 * The engine runs the batch mates of such an output again one by one, so only the images whose
 * own output is broken fail.
 */
export class NonFiniteOutputError extends ModelContractError {}

/** A requested execution provider (cuda, webgpu) that this onnxruntime build or machine lacks. */
export class ProviderUnavailableError extends EngineError {
  readonly code = 'provider_unavailable';
}

/** A model call that failed at run time; may succeed on another attempt or machine. */
export class InferenceError extends EngineError {
  readonly code = 'inference_failed';
  override readonly retryable = true;
}

/** Bytes that are not a decodable image (empty, truncated, not an image at all). */
export class ImageDecodeError extends EngineError {
  readonly code = 'image_decode_failed';
}

/** An image format we do not accept (GIF animations, SVG, RAW...). */
export class UnsupportedImageFormatError extends EngineError {
  readonly code = 'unsupported_image_format';
}

/** A file or pixel count over the configured limits (decompression bombs included). */
export class ImageTooLargeError extends EngineError {
  readonly code = 'image_too_large';
}

/** An image below the documented minimum side. */
export class ImageTooSmallError extends EngineError {
  readonly code = 'image_too_small';
}

/** A reference fixture directory that is malformed or incomplete. */
export class FixtureError extends EngineError {
  readonly code = 'fixture_invalid';
}

/** A job that was canceled between sampler steps. */
export class CanceledError extends EngineError {
  readonly code = 'canceled';
}

/** Anything thrown while restoring one image becomes an EngineError with a code. */
export function asEngineError(error: unknown): EngineError {
  if (error instanceof EngineError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new UnexpectedEngineError(message, { cause: error });
}

/** A failure the engine did not anticipate (a bug or a system error); retryable. */
export class UnexpectedEngineError extends EngineError {
  readonly code = 'internal_error';
  override readonly retryable = true;
}
